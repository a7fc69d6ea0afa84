"""Solutions to chapter 05's exercises.

Each cell replaces the answer cell of the exercise it names; a ``wrong``
cell is a plausible mistake the check must catch.  Build the instructor
copy of the book with ``labse-lite course instructor instructor/``.
"""

# %% 5.1
def p_at_1(scores):
    """scores: (n_queries, n_candidates); the gold candidate of query i
    is column i.  Returns P@1 as a fraction in [0, 1]."""
    scores = np.asarray(scores)
    best = scores.argmax(axis=1)                    # (n_queries,)
    return float(np.mean(best == np.arange(len(scores))))


# %% 5.1 wrong: the argmax runs down the columns, the other direction
def p_at_1(scores):
    """scores: (n_queries, n_candidates); the gold candidate of query i
    is column i.  Returns P@1 as a fraction in [0, 1]."""
    scores = np.asarray(scores)
    best = scores.argmax(axis=0)
    return float(np.mean(best == np.arange(len(scores))))


# %% 5.2
def ratio_margin(cos, i, j, k):
    """cos: (n_src, n_tgt) cosines; the ratio margin of (x_i, y_j)."""
    mean_x = np.sort(cos[i])[-k:].mean()       # x_i's k nearest targets
    mean_y = np.sort(cos[:, j])[-k:].mean()    # y_j's k nearest sources
    return cos[i, j] / ((mean_x + mean_y) / 2)


# %% 5.2 wrong: the two neighbourhood means are summed, not averaged
def ratio_margin(cos, i, j, k):
    """cos: (n_src, n_tgt) cosines; the ratio margin of (x_i, y_j)."""
    mean_x = np.sort(cos[i])[-k:].mean()
    mean_y = np.sort(cos[:, j])[-k:].mean()
    return cos[i, j] / (mean_x + mean_y)


# %% 5.3
nearest = np.argsort(-cos, axis=1)[:, :toy_k]        # (4, k) per source
n_k = np.bincount(nearest.ravel(), minlength=cos.shape[1])
hub = int(n_k.argmax())
fixed_by = {"ratio", "distance"}


# %% 5.3 wrong: only the ratio margin is believed to discount the hub
nearest = np.argsort(-cos, axis=1)[:, :toy_k]
n_k = np.bincount(nearest.ravel(), minlength=cos.shape[1])
hub = int(n_k.argmax())
fixed_by = {"ratio"}
