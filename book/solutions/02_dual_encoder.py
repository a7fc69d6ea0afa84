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
