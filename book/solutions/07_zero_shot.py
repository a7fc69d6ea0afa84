"""Solutions to chapter 07's exercises.

Each cell replaces the answer cell of the exercise it names; a ``wrong``
cell is a plausible mistake the check must catch.  Build the instructor
copy of the book with ``labse-lite course instructor instructor/``.
"""

# %% 7.1
def wordpiece(word, vocab):
    """The word pieces of one pre-tokenized word: greedy longest match
    first, '##' before every piece but the first; the whole word is
    ['[UNK]'] as soon as one position cannot be matched."""
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:                      # longest candidate first
            piece = word[start:end] if start == 0 \
                else "##" + word[start:end]
            if piece in vocab:
                break
            end -= 1
        if end == start:                        # nothing matches here
            return ["[UNK]"]
        pieces.append(piece)
        start = end
    return pieces


# %% 7.1 wrong: an unmatched character becomes [UNK], the rest is kept
def wordpiece(word, vocab):
    """The word pieces of one pre-tokenized word: greedy longest match
    first, '##' before every piece but the first; the whole word is
    ['[UNK]'] as soon as one position cannot be matched."""
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 \
                else "##" + word[start:end]
            if piece in vocab:
                break
            end -= 1
        if end == start:
            pieces.append("[UNK]")
            start += 1
            continue
        pieces.append(piece)
        start = end
    return pieces


# %% 7.2
from scipy.stats import rankdata


def rho_p_value(x, y, n_perm=10_000, seed=0):
    """Two-sided permutation p-value of Spearman's rho of x and y."""
    rng = np.random.default_rng(seed)
    rx = rankdata(x)
    ry = rankdata(y)
    observed = abs(np.corrcoef(rx, ry)[0, 1])
    shuffled = np.array([rng.permutation(ry) for _ in range(n_perm)])
    rx, shuffled = rx - rx.mean(), shuffled - shuffled.mean(1, keepdims=True)
    rhos = shuffled @ rx / np.sqrt((rx ** 2).sum()
                                   * (shuffled ** 2).sum(1))   # (n_perm,)
    # at least as extreme, in either direction; ties count (>=)
    return float(np.mean(np.abs(rhos) >= observed - 1e-12))


# %% 7.2 wrong: one-sided, only shuffles with a larger rho count
from scipy.stats import spearmanr


def rho_p_value(x, y, n_perm=10_000, seed=0):
    """Two-sided permutation p-value of Spearman's rho of x and y."""
    rng = np.random.default_rng(seed)
    observed = spearmanr(x, y).statistic
    rhos = np.array([spearmanr(x, rng.permutation(y)).statistic
                     for _ in range(n_perm)])
    return float(np.mean(rhos >= observed))


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
