"""Solutions to chapter 03's exercises.

Each cell replaces the answer cell of the exercise it names; a ``wrong``
cell is a plausible mistake the check must catch.  Build the instructor
copy of the book with ``labse-lite course instructor instructor/``.
"""

# %% 3.1
def positive_gradient(phi, margin, scale):
    """dℓ/dφ_0 for one query; phi: (n,) cosines, the translation first."""
    logits = scale * phi.clone()                     # (n,)
    logits[0] = scale * (phi[0] - margin)            # margin-lowered
    p_pos = torch.softmax(logits, dim=0)[0]
    return -scale * (1 - p_pos)


# %% 3.1 wrong: p_ii from the plain logit s·φ_ii, without the margin
def positive_gradient(phi, margin, scale):
    """dℓ/dφ_0 for one query; phi: (n,) cosines, the translation first."""
    p_pos = torch.softmax(scale * phi, dim=0)[0]
    return -scale * (1 - p_pos)


# %% 3.2
# loss = log(1 + (B − 1)·exp(−s(g − m))) ≤ ε
#   ⇔  g ≥ m + log((B − 1) / (e^ε − 1)) / s
gap_without_margin = math.log((batch - 1) / math.expm1(target)) / s
gap_with_margin = m + gap_without_margin


# %% 3.2 wrong: the 1 inside log(1 + u) dropped (log u = ε)
gap_without_margin = (math.log(batch - 1) - target) / s
gap_with_margin = m + gap_without_margin


# %% 3.3
roomy = "0.3"      # gaps up to 1.5 are possible: m = 0 goes quiet first
crowded = "same"   # the best gap, 1 − cos 45°, is below m: always hard


# %% 3.3 wrong: "the margin always helps"
roomy = "0.3"
crowded = "0.3"
