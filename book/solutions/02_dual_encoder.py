"""Solutions to chapter 02's exercises.

Each cell replaces the answer cell of the exercise it names; a ``wrong``
cell is a plausible mistake the check must catch.  Build the instructor
copy of the book with ``labse-lite course instructor instructor/``.
"""

# %% 2.1
def one_direction(x, y, margin, scale):
    """x, y: (B, D) unit rows; row i of y translates row i of x."""
    scores = x @ y.T                                   # (B, B)
    logits = scale * (scores - margin * torch.eye(len(x), dtype=x.dtype))
    return -torch.log_softmax(logits, dim=1).diag().mean()


# %% 2.1 wrong: the margin is subtracted from every score, so it cancels
def one_direction(x, y, margin, scale):
    """x, y: (B, D) unit rows; row i of y translates row i of x."""
    logits = scale * (x @ y.T - margin)
    return -torch.log_softmax(logits, dim=1).diag().mean()


# %% 2.2
def score_gradient(phi, margin, scale):
    """phi: (B, B) scores, positives on the diagonal; returns dL/dphi."""
    batch = phi.shape[0]
    eye = torch.eye(batch, dtype=phi.dtype)
    p = torch.softmax(scale * (phi - margin * eye), dim=1)   # (B, B)
    return scale / batch * (p - eye)


# %% 2.2 wrong: the gradient of the sum over queries, not of the mean
def score_gradient(phi, margin, scale):
    """phi: (B, B) scores, positives on the diagonal; returns dL/dphi."""
    eye = torch.eye(phi.shape[0], dtype=phi.dtype)
    p = torch.softmax(scale * (phi - margin * eye), dim=1)
    return scale * (p - eye)


# %% 2.3
def min_scale(batch, target, margin=0.0):
    """Smallest s with log(1 + (batch-1) e^{-s(2-margin)}) <= target."""
    # e^{-s(2-m)} = (e^target - 1) / (B - 1), solved for s
    return math.log((batch - 1) / math.expm1(target)) / (2.0 - margin)


# Doubling the batch (128 -> 256, margin 0, small target) makes the
# smallest scale: "a" double, "b" grow by about log(2)/2,
# "c" grow by about log(2), "d" stay the same.
doubling_effect = "b"


# %% 2.3 wrong: the gap between +1 and -1 taken as 1 instead of 2 - m
def min_scale(batch, target, margin=0.0):
    """Smallest s with log(1 + (batch-1) e^{-s(2-margin)}) <= target."""
    return math.log((batch - 1) / math.expm1(target))


# Doubling the batch (128 -> 256, margin 0, small target) makes the
# smallest scale: "a" double, "b" grow by about log(2)/2,
# "c" grow by about log(2), "d" stay the same.
doubling_effect = "b"
