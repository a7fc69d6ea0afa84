"""Solutions to chapter 00's exercises.

Each cell replaces the answer cell of the exercise it names; a ``wrong``
cell is a plausible mistake the check must catch.  Build the instructor
copy of the book with ``labse-lite course instructor instructor/``.
"""

# %% 0.1
def nearest(queries, candidates):
    """queries: (Q, D), candidates: (C, D); returns (Q,) indices."""
    q = F.normalize(queries, dim=1)         # unit rows: dot = cosine
    c = F.normalize(candidates, dim=1)
    return (q @ c.T).argmax(dim=1)          # (Q, C) -> (Q,)


# %% 0.1 wrong: the raw dot product, which favours long candidates
def nearest(queries, candidates):
    """queries: (Q, D), candidates: (C, D); returns (Q,) indices."""
    return (queries @ candidates.T).argmax(dim=1)


# %% 0.2
def precision_at_1(scores):
    """scores: (N, N), row i = query i, gold candidate on the diagonal."""
    best = scores.argmax(dim=1)                      # (N,)
    return (best == torch.arange(len(scores))).float().mean().item()


# %% 0.2 wrong: the argmax over the queries (dim 0), the y→x direction
def precision_at_1(scores):
    """scores: (N, N), row i = query i, gold candidate on the diagonal."""
    best = scores.argmax(dim=0)
    return (best == torch.arange(len(scores))).float().mean().item()
