"""Solutions to chapter 07's exercises.

Each cell replaces the answer cell of the exercise it names; a ``wrong``
cell is a plausible mistake the check must catch.  Build the instructor
copy of the book with ``labse-lite course instructor instructor/``.
"""

# %% 7.1
def unk_rate_of(id_lists, unk_id):
    """id_lists: one list of word-piece ids per sentence."""
    total = sum(len(ids) for ids in id_lists)
    if total == 0:
        return 0.0
    unknown = sum(list(ids).count(unk_id) for ids in id_lists)
    return unknown / total


# %% 7.1 wrong: the mean of the per-sentence rates, not the pooled rate
def unk_rate_of(id_lists, unk_id):
    """id_lists: one list of word-piece ids per sentence."""
    rates = [list(ids).count(unk_id) / len(ids) for ids in id_lists]
    return float(np.mean(rates)) if rates else 0.0


# %% 7.2
def jaccard(tokens_a, tokens_b):
    """Jaccard index of the distinct tokens of two sequences."""
    a, b = set(tokens_a), set(tokens_b)
    return len(a & b) / len(a | b)


# %% 7.2 wrong: divides by the first set (containment), not the union
def jaccard(tokens_a, tokens_b):
    """Jaccard index of the distinct tokens of two sequences."""
    a, b = set(tokens_a), set(tokens_b)
    return len(a & b) / len(a)


# %% 7.3
def average_ranks(values):
    """Ranks 1..n, ties given the mean of the ranks they span."""
    values = np.asarray(values, dtype=float)
    ranks = np.empty(len(values))
    ranks[np.argsort(values, kind="stable")] = np.arange(1, len(values) + 1)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(x, y):
    """Spearman's rho: the Pearson correlation of the ranks."""
    rx, ry = average_ranks(x), average_ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx * ry).sum() / np.sqrt((rx ** 2).sum()
                                           * (ry ** 2).sum()))


# %% 7.3 wrong: ordinal ranks and the no-ties shortcut 1 - 6·Σd²/(n(n²-1))
def spearman(x, y):
    """Spearman's rho: the Pearson correlation of the ranks."""
    rx = np.argsort(np.argsort(x, kind="stable")) + 1
    ry = np.argsort(np.argsort(y, kind="stable")) + 1
    n = len(rx)
    return float(1 - 6 * ((rx - ry) ** 2).sum() / (n * (n ** 2 - 1)))
