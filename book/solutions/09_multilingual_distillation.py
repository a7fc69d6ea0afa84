"""Solutions to chapter 09's exercises.

Each cell replaces the answer cell of the exercise it names; a ``wrong``
cell is a plausible mistake the check must catch.  Build the instructor
copy of the book with ``labse-lite course instructor instructor/``.
"""

# %% 9.1
def similarity_error(sigma, dim):
    """RMS of S(x_i)ᵀS(e_j) - T(e_i)ᵀT(e_j) for unit teacher vectors and
    independent isotropic errors with E||ε||² = E||η||² = sigma²."""
    # εᵀT_j and T_iᵀη: variance sigma²/D each; εᵀη: D (sigma²/D)²;
    # the cross products of the three terms have mean zero.
    return ((2 * sigma ** 2 + sigma ** 4) / dim) ** 0.5


# %% 9.1 wrong: the product of the two errors is dropped
def similarity_error(sigma, dim):
    """RMS of S(x_i)ᵀS(e_j) - T(e_i)ᵀT(e_j) for unit teacher vectors and
    independent isotropic errors with E||ε||² = E||η||² = sigma²."""
    return (2 * sigma ** 2 / dim) ** 0.5


# %% 9.2
def inherited_similarity(student_sims, teacher_sims):
    """Spearman's rho between the off-diagonal entries of two (n, n)
    similarity matrices."""
    off = ~torch.eye(len(student_sims), dtype=torch.bool)    # (n, n)
    a = rankdata(student_sims[off].numpy())                  # (n(n-1),)
    b = rankdata(teacher_sims[off].numpy())  # ties: average ranks
    return float(np.corrcoef(a, b)[0, 1])


# %% 9.2 wrong: the diagonal (the translation pairs) is kept
def inherited_similarity(student_sims, teacher_sims):
    """Spearman's rho between the off-diagonal entries of two (n, n)
    similarity matrices."""
    a = rankdata(student_sims.flatten().numpy())
    b = rankdata(teacher_sims.flatten().numpy())
    return float(np.corrcoef(a, b)[0, 1])


# %% 9.3
def align(student, teacher):
    """The orthogonal (D, D) Q that minimises ||student @ Q - teacher||."""
    u, _, vt = torch.linalg.svd(student.T @ teacher)    # (D, D) each
    return u @ vt


# %% 9.3 wrong: the best linear map, which need not be a rotation
def align(student, teacher):
    """The orthogonal (D, D) Q that minimises ||student @ Q - teacher||."""
    return torch.linalg.lstsq(student, teacher).solution
