"""Solutions to chapter 01's exercises.

Each cell replaces the answer cell of the exercise it names; a ``wrong``
cell is a plausible mistake the check must catch.  Build the instructor
copy of the book with ``labse-lite course instructor instructor/``.
"""

# %% 1.1
def sampling_probs(counts, alpha):
    """counts: {language: sentences}; returns {language: probability}."""
    weights = {lang: n ** alpha for lang, n in counts.items()}
    total = sum(weights.values())
    return {lang: w / total for lang, w in weights.items()}


# %% 1.1 wrong: normalised first, then raised to alpha (no longer sums to 1)
def sampling_probs(counts, alpha):
    """counts: {language: sentences}; returns {language: probability}."""
    total = sum(counts.values())
    return {lang: (n / total) ** alpha for lang, n in counts.items()}


# %% 1.2
# n* = (N / sum_j n_j^alpha)^(1 / (1 - alpha)): N = 18110, the powered
# counts sum to about 45.2, so n* is about 5,200; C, D and E lie below it.
gainers = {"C", "D", "E"}


# %% 1.2 wrong: only the small languages gain
gainers = {"D", "E"}


# %% 1.3
def tokenization_stats(tokenized):
    """tokenized: [(sentence, pieces)]; returns (fertility, unk_rate)."""
    words = sum(len(sentence.split()) for sentence, _ in tokenized)
    pieces = sum(len(toks) for _, toks in tokenized)
    unknown = sum(toks.count("[UNK]") for _, toks in tokenized)
    return pieces / words, unknown / pieces


# %% 1.3 wrong: the mean of per-sentence fertilities
def tokenization_stats(tokenized):
    """tokenized: [(sentence, pieces)]; returns (fertility, unk_rate)."""
    ratios = [len(toks) / len(sentence.split())
              for sentence, toks in tokenized]
    pieces = sum(len(toks) for _, toks in tokenized)
    unknown = sum(toks.count("[UNK]") for _, toks in tokenized)
    return sum(ratios) / len(ratios), unknown / pieces
