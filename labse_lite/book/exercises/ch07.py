"""Checkers of chapter 07's exercises (greedy WordPiece and [UNK],
a permutation test for Spearman's rho, Spearman's rho by hand)."""

from __future__ import annotations

import numpy as np

from ..grading import (
    WrongAnswer,
    expect,
    expect_close,
    expect_number,
    register,
)


def _words(tokenizer, text: str) -> list[str]:
    """The words WordPiece sees: the text normalised and pre-tokenized
    (split at spaces and punctuation) as the tokenizer does."""
    backend = tokenizer.backend_tokenizer
    if backend.normalizer is not None:
        text = backend.normalizer.normalize_str(text)
    return [w for w, _ in backend.pre_tokenizer.pre_tokenize_str(text)]


def _reference_pieces(tokenizer, word: str) -> list[str]:
    return [t.value for t in tokenizer.backend_tokenizer.model.tokenize(word)]


_TOY_VOCAB = {
    "[UNK]",
    "la",
    "las",
    "casa",
    "cas",
    "##a",
    "##as",
    "##s",
    "u",
    "un",
    "##o",
    "##n",
    "##ña",
    "##ñ",
    "x",
    "##e",
    "##fe",
    "es",
    "##ta",
    "##ción",
}
_TOY_CASES = [  # (word, pieces) under _TOY_VOCAB
    ("casa", ["casa"]),
    ("casas", ["casa", "##s"]),
    ("las", ["las"]),
    ("uno", ["un", "##o"]),
    ("xefe", ["x", "##e", "##fe"]),
    ("estación", ["es", "##ta", "##ción"]),
    ("casx", ["[UNK]"]),
    ("unña", ["un", "##ña"]),
    ("q", ["[UNK]"]),
    ("unq", ["[UNK]"]),
    ("lasas", ["las", "##as"]),
]


def _as_pieces(got, what: str) -> list[str]:
    expect(
        got is not None,
        f"{what} returned None: did it forget to `return` the list of pieces?",
    )
    expect(
        isinstance(got, (list, tuple))
        and all(isinstance(t, str) for t in got),
        f"{what} should return a list of strings, got {got!r:.80}",
    )
    return list(got)


def _wordpiece_hint(word: str, got: list[str], want: list[str]) -> str:
    if want == ["[UNK]"] and "[UNK]" in got and len(got) > 1:
        return (
            "when some part of the word cannot be matched, WordPiece "
            "gives up on the whole word: it becomes one [UNK], and "
            "the pieces already found are dropped"
        )
    if [t.removeprefix("##") for t in got] == [
        t.removeprefix("##") for t in want
    ]:
        return (
            "every piece after the first is looked up with the "
            "continuation prefix '##' (and returned with it)"
        )
    if len(got) > len(want):
        return (
            "at each position take the longest piece in the "
            "vocabulary, not the shortest: shrink the candidate from "
            "the end until it is found"
        )
    return (
        "greedy longest match first: from the start, take the "
        "longest prefix in the vocabulary, then continue from where "
        "it ended with '##' + the rest; if no prefix matches, the "
        "whole word is [UNK]"
    )


@register("7.1")
def greedy_wordpiece(fn, tokenizer=None, texts=None) -> str:
    """``fn(word, vocab)`` splits one pre-tokenized word into word pieces
    by greedy longest match first, as BERT's WordPiece does."""
    expect(callable(fn), "the answer should be the function wordpiece")
    for word, want in _TOY_CASES:
        what = f"wordpiece({word!r}, vocab)"
        got = _as_pieces(fn(word, set(_TOY_VOCAB)), what)
        expect(
            got == want,
            f"{what} returned {got}, expected {want} "
            f"(vocabulary {sorted(_TOY_VOCAB)}). Hint: "
            f"{_wordpiece_hint(word, got, want)}.",
        )
    if tokenizer is None or texts is None:
        return "Your tokenizer splits eleven toy words as WordPiece does."
    vocab = set(tokenizer.get_vocab())
    unk = tokenizer.unk_token
    rates, lost = {}, {}
    for lang, lines in texts.items():
        pieces = unknown = 0
        for line in lines:
            for word in _words(tokenizer, line):
                if len(word) > 100:  # WordPiece's length limit
                    continue
                want = _reference_pieces(tokenizer, word)
                got = _as_pieces(fn(word, vocab), f"wordpiece({word!r})")
                expect(
                    got == want,
                    f"on the {lang} word {word!r} your pieces are "
                    f"{got}, the toy tokenizer's {want}. Hint: "
                    f"{_wordpiece_hint(word, got, want)}.",
                )
                pieces += len(got)
                unknown += got.count(unk)
                if got == [unk] and len(word) > 3 and lang not in lost:
                    lost[lang] = word
        rates[lang] = unknown / max(pieces, 1)
    shown = ", ".join(f"{lang} {100 * r:.1f}%" for lang, r in rates.items())
    examples = ", ".join(
        f"{lang} {w!r}" for lang, w in lost.items() if lang not in ("amh",)
    )
    return (
        f"Your pieces equal the toy tokenizer's on every word of the "
        f"six samples. [UNK] rates (share of pieces): {shown}. One "
        f"character the vocabulary lacks costs the whole word"
        + (f", e.g. {examples}" if examples else "")
        + "; in a script it never saw, every word goes."
    )


def _rank_rho(x: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Spearman's rho of x with each row of ys (ties: mean ranks)."""
    from scipy.stats import rankdata

    rx = rankdata(x)
    ry = rankdata(ys, axis=-1)
    rx, ry = rx - rx.mean(), ry - ry.mean(axis=-1, keepdims=True)
    return (ry @ rx) / np.sqrt((rx**2).sum() * (ry**2).sum(-1))


def _exact_p(x, y, one_sided: bool = False, strict: bool = False) -> float:
    """The permutation p-value over all n! orders of y."""
    from itertools import permutations

    x, y = np.asarray(x, float), np.asarray(y, float)
    observed = _rank_rho(x, y[None])[0]
    rhos = _rank_rho(x, np.array(list(permutations(y))))
    if one_sided:
        stat, obs = (rhos, observed) if observed >= 0 else (-rhos, -observed)
    else:
        stat, obs = np.abs(rhos), abs(observed)
    hits = stat > obs + 1e-12 if strict else stat >= obs - 1e-12
    return float(hits.mean())


_P_CASES = [  # (name, x, y): n = 7 or 8, so all n! orders can be listed
    ("a rising trend", [1, 2, 3, 4, 5, 6, 7], [2, 1, 5, 3, 7, 4, 6]),
    (
        "a weak falling trend",
        [3.1, 0.2, 5.5, 1.7, 4.4, 2.9, 6.0, 0.8],
        [2.0, 1.1, 1.2, 3.3, 4.0, 2.2, 0.1, 6.3],
    ),
    ("ties in y", [1, 2, 3, 4, 5, 6, 7, 8], [1, 3, 2, 2, 5, 1, 3, 4]),
]
_P_TOLERANCE = 0.012  # 20,000 shuffles: standard error <= 0.0035


@register("7.2")
def permutation_p_value(fn) -> str:
    """``fn(x, y, n_perm, seed)`` is the two-sided permutation p-value of
    Spearman's rho: the share of random orders of y whose |rho| is at
    least the observed |rho|."""
    expect(callable(fn), "the answer should be the function rho_p_value")
    n_perm = 20_000
    for seed, (name, x, y) in enumerate(_P_CASES):
        want = _exact_p(x, y)
        what = f"rho_p_value on {name} (n = {len(x)})"
        value = expect_number(fn(list(x), list(y), n_perm, seed), what)
        if abs(value - want) <= _P_TOLERANCE:
            continue
        hint = (
            "shuffle y n_perm times, compute Spearman's rho of x with "
            "each shuffle, and count the shuffles whose |rho| is at "
            "least the observed |rho|"
        )
        if abs(value - _exact_p(x, y, one_sided=True)) <= _P_TOLERANCE:
            hint = (
                "that is a one-sided p-value; the question is whether "
                "rho is this far from 0 in either direction, so "
                "compare absolute values"
            )
        elif abs(value - _exact_p(x, y, strict=True)) <= _P_TOLERANCE:
            hint = (
                "with n = 7 or 8 many orders give exactly the same "
                "|rho|: count those equal to the observed one too "
                "(>=, with a slack of 1e-12 for rounding)"
            )
        elif abs(value - (1 - want)) <= _P_TOLERANCE:
            hint = (
                "you counted the shuffles that are *less* extreme; "
                "the p-value is the share at least as extreme"
            )
        raise WrongAnswer(
            f"{what} is {value:.4f}; listing all "
            f"{len(x)}! orders of y gives {want:.4f}. "
            f"Hint: {hint}."
        )
    rng = np.random.default_rng(0)
    null = np.abs(
        _rank_rho(
            np.arange(12.0),
            np.array([rng.permutation(12) for _ in range(20_000)]),
        )
    )
    critical = float(np.quantile(null, 0.95))
    x = np.arange(12.0)
    y = np.array([2, 6, 0, 1, 9, 3, 11, 5, 4, 7, 10, 8], float)
    rho = float(_rank_rho(x, y[None])[0])
    p = expect_number(fn(list(x), list(y), 20_000, 0), "rho_p_value")
    return (
        f"Your p-values match the exact ones. With 12 pairs, |rho| "
        f"must exceed about {critical:.2f} for p < 0.05; a rho of "
        f"{rho:.2f} gets p = {p:.3f}.  The test assumes that any "
        f"order of y is as likely as any other under no association: "
        f"pairs that share a relative are not independent, so they "
        f"count as less evidence than 12 separate pairs."
    )


def _spearman(x, y) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


@register("7.3")
def spearman_rho(fn) -> str:
    """``fn(x, y)`` is Spearman's rank correlation, ties given mean
    ranks (scipy.stats.spearmanr)."""
    expect(callable(fn), "the answer should be the function spearman")
    rng = np.random.default_rng(3)
    x = rng.normal(size=12)
    cases = [
        ("no ties", list(x), list(x + rng.normal(size=12))),
        ("monotone, not linear", list(x), list(np.exp(3 * x))),
        ("reversed", list(x), list(-(x**3))),
        (
            "ties in both",
            [1, 2, 2, 3, 5, 5, 5, 8, 9, 9],
            [2, 1, 4, 4, 3, 6, 6, 9, 7, 7],
        ),
        (
            "many ties",
            list(rng.integers(0, 4, size=15)),
            list(rng.integers(0, 4, size=15)),
        ),
    ]
    for name, a, b in cases:
        want = _spearman(a, b)
        got = expect_number(fn(list(a), list(b)), f"spearman ({name})")
        if "ties" in name:
            hint = (
                "give tied values the mean of the ranks they span "
                "(e.g. two values sharing ranks 2 and 3 both get "
                "2.5), then take the Pearson correlation of the "
                "ranks; 1 - 6·Σd²/(n(n²-1)) is exact only without "
                "ties"
            )
        else:
            hint = (
                "rank each sequence (1 = smallest) and take the "
                "Pearson correlation of the two rank vectors"
            )
        expect_close(
            got,
            want,
            f"spearman on the case '{name}'",
            rtol=0,
            atol=1e-9,
            hint=hint,
        )
    return (
        "Your ρ equals scipy.stats.spearmanr on five tables, ties "
        "included; pandas' corr(method='spearman'), which the chapter "
        "uses, ranks ties the same way."
    )
