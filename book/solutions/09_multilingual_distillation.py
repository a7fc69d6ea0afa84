"""Solutions to chapter 09's exercises.

Each cell replaces the answer cell of the exercise it names; a ``wrong``
cell is a plausible mistake the check must catch.  Build the instructor
copy of the book with ``labse-lite course instructor instructor/``.
"""

# %% 9.1
def kd_loss(s_en, s_xx, t_en):
    """s_en, s_xx: (B, D) student embeddings of the English sentences and
    of their translations; t_en: (B, D) the teacher's embeddings of the
    English sentences.  Returns the scalar L_KD."""
    target = t_en.detach()                   # the teacher is a constant
    return (((s_en - target) ** 2).mean()    # mean over B rows and D
            + ((s_xx - target) ** 2).mean())


# %% 9.1 wrong: the two squared errors are averaged instead of summed
def kd_loss(s_en, s_xx, t_en):
    """s_en, s_xx: (B, D) student embeddings of the English sentences and
    of their translations; t_en: (B, D) the teacher's embeddings of the
    English sentences.  Returns the scalar L_KD."""
    return 0.5 * (((s_en - t_en) ** 2).mean()
                  + ((s_xx - t_en) ** 2).mean())


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
D = teacher_en.shape[1]
kd_copy = 0.0           # nothing left to regress
kd_flipped = 8 / D      # each MSE is mean((2t)^2) = 4/D; two of them
ams_unchanged = True    # (-x)·(-y) = x·y: the score matrix is the same


# %% 9.3 wrong: only one of the two squared errors is counted
D = teacher_en.shape[1]
kd_copy = 0.0
kd_flipped = 4 / D
ams_unchanged = True
