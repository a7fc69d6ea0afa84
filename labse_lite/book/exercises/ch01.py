"""Checkers of chapter 01's exercises (language smoothing, fertility)."""

from __future__ import annotations

from ...tokenization import language_sampling_probs
from ..grading import (
    WrongAnswer,
    expect,
    expect_close,
    expect_number,
    register,
    wrong_choice,
)


@register("1.1")
def smoothed_sampling(fn) -> str:
    """``fn(counts, alpha)`` returns {language: n**alpha / sum n**alpha}."""
    expect(callable(fn), "the answer should be the function `sampling_probs`")
    three = {"big": 10000, "mid": 1000, "tail": 10}
    cases = [
        (three, 0.3),
        (three, 1.0),
        (three, 0.0),
        ({"a": 7, "b": 300, "c": 52000, "d": 5, "e": 900}, 0.5),
    ]
    for counts, alpha in cases:
        want = language_sampling_probs(counts, alpha)
        got = fn(dict(counts), alpha)
        what = f"sampling_probs({counts}, alpha={alpha})"
        if got is None:
            raise WrongAnswer(
                f"{what} is None: did the function forget "
                f"to `return` the dictionary?"
            )
        expect(
            isinstance(got, dict) and set(got) == set(counts),
            f"{what} should be a dict with one probability per "
            f"language, keys {sorted(counts)}; got {got!r:.120}",
        )
        total = sum(
            expect_number(got[k], f"the probability of {k!r}") for k in counts
        )
        hint = (
            "raise every count to the power alpha, then divide by "
            "the sum of the powered counts"
        )
        if abs(total - 1.0) > 1e-6:
            hint = (
                f"your probabilities sum to {total:.4g}, not 1: "
                f"normalise after raising the counts to alpha "
                f"(normalising first and then raising to alpha breaks "
                f"the sum)"
            )
        for lang in sorted(counts):
            expect_close(
                got[lang],
                want[lang],
                f"{what}[{lang!r}]",
                rtol=1e-6,
                atol=1e-12,
                hint=hint + ".",
            )
    return (
        "Your function equals labse_lite.tokenization."
        "language_sampling_probs: α = 1 follows the data, α = 0 is "
        "uniform, and α in between shrinks every ratio of counts to "
        "its α-th power."
    )


@register("1.2")
def who_gains(gainers, counts, alpha: float = 0.3) -> str:
    """``gainers``: the languages whose share rises when the exponent goes
    from 1 (no smoothing) to ``alpha``, for the given ``counts``."""
    expect(
        0.0 <= alpha < 1.0,
        f"the exercise compares alpha = 1 with a "
        f"smaller exponent; the setup's alpha is "
        f"{alpha!r}: set it back to 0.3",
    )
    if isinstance(gainers, str):
        gainers = {gainers}
    expect(
        isinstance(gainers, (set, frozenset, list, tuple)),
        f"gainers should be a set of language names, e.g. "
        f"{{'{sorted(counts)[0]}'}}; got {gainers!r:.80}",
    )
    unknown = set(gainers) - set(counts)
    expect(
        not unknown,
        f"{sorted(unknown)} are not languages of the "
        f"table; the languages are {sorted(counts)}",
    )
    flat = language_sampling_probs(counts, 1.0)
    smooth = language_sampling_probs(counts, alpha)
    want = {lang for lang in counts if smooth[lang] > flat[lang]}
    # the threshold of the chapter: n_i gains iff n_i < n_star
    total = sum(counts.values())
    powered = sum(n**alpha for n in counts.values())
    n_star = (total / powered) ** (1.0 / (1.0 - alpha))
    if set(gainers) != want:
        missed = sorted(want - set(gainers))
        extra = sorted(set(gainers) - want)
        detail = "; ".join(
            f"{lang}: {flat[lang]:.4f} at α=1, {smooth[lang]:.4f} at α={alpha}"
            for lang in sorted(counts)
        )
        wrong_choice(
            "gainers",
            sorted(set(gainers)),
            hint=(
                "the shares must still sum to 1, so what the largest "
                "languages lose is spread over all the others; a "
                "language gains when n_i^(1-α) < N / Σ_j n_j^α.  "
                + (
                    "Your set leaves out a language that gains."
                    if missed
                    else "Your set holds a language that loses share."
                )
            ),
            answer=(
                f"the languages whose share rises are {sorted(want)}"
                + (f" (missing {missed})" if missed else "")
                + (f" (wrongly included {extra})" if extra else "")
                + f". Measured shares: {detail}."
            ),
        )
    return (
        f"Every language below n* = (N / Σ n^α)^(1/(1-α)) ≈ "
        f"{n_star:,.0f} gains share, not only the smallest ones; only "
        f"the languages above it pay for the tail."
    )


def _stats(tokenized) -> tuple[float, float]:
    """Pooled fertility and [UNK] rate, counted one piece at a time."""
    words = pieces = unknown = 0
    for sentence, toks in tokenized:
        words += len(sentence.split())
        for piece in toks:
            pieces += 1
            unknown += piece == "[UNK]"
    return pieces / words, unknown / pieces


_CASES = [
    [
        ("the cats sleep", ["the", "cat", "##s", "sleep"]),
        ("unbelievable", ["un", "##believ", "##able"]),
        ("xyz ok", ["[UNK]", "ok"]),
    ],
    [
        ("a b c d e f g h", ["a", "b", "c", "d", "e", "f", "g", "h"]),
        ("talossani", ["talo", "##ssa", "##ni"]),
    ],
    [
        ("one", ["[UNK]"]),
        (
            "two words here and there",
            ["two", "words", "here", "and", "th", "##ere"],
        ),
    ],
    [
        ("kissa istuu", ["kis", "##sa", "ist", "##uu"]),
        ("hund", ["hun", "##d"]),
    ],
]


@register("1.3")
def fertility_and_unk(fn) -> str:
    """``fn(tokenized)`` returns (fertility, unk_rate), pooled over all
    sentences: pieces / words and [UNK] pieces / pieces."""
    expect(
        callable(fn), "the answer should be the function `tokenization_stats`"
    )
    for tokenized in _CASES:
        fert, unk = _stats(tokenized)
        got = fn([(s, list(t)) for s, t in tokenized])
        what = f"tokenization_stats on {len(tokenized)} sentences"
        expect(
            isinstance(got, (tuple, list)) and len(got) == 2,
            f"{what} should return a pair (fertility, unk_rate); got "
            f"{got!r:.80}",
        )
        got_fert = expect_number(got[0], "the fertility")
        got_unk = expect_number(got[1], "the [UNK] rate")
        per_sentence = sum(
            len(t) / len(s.split()) for s, t in tokenized
        ) / len(tokenized)
        hint = "fertility = all pieces / all whitespace words"
        if (
            abs(got_fert - per_sentence) < 1e-6
            and abs(per_sentence - fert) > 1e-6
        ):
            hint = (
                "you averaged the per-sentence fertilities, which "
                "weighs a one-word sentence like a long one; pool "
                "the counts over all sentences first, then divide"
            )
        elif abs(got_fert - 1 / fert) < 1e-6:
            hint = "you divided words by pieces; fertility is the reverse"
        expect_close(
            got_fert,
            fert,
            f"the fertility ({what})",
            rtol=1e-6,
            hint=hint + ".",
        )
        words = sum(len(s.split()) for s, _ in tokenized)
        unk_count = sum(t.count("[UNK]") for _, t in tokenized)
        hint = "[UNK] rate = [UNK] pieces / all pieces"
        if abs(got_unk - unk_count / words) < 1e-6 and unk_count:
            hint = (
                "you divided by the number of words; the rate is per "
                "piece (labse_lite.tokenization.unk_rate counts "
                "pieces)"
            )
        elif abs(got_unk - 100 * unk) < 1e-6 and unk:
            hint = "give the rate as a fraction, not in percent"
        expect_close(
            got_unk,
            unk,
            f"the [UNK] rate ({what})",
            rtol=1e-6,
            atol=1e-12,
            hint=hint + ".",
        )
    return (
        "Both are ratios of totals, like the chapter's fertility() "
        "and labse_lite.tokenization.unk_rate: a long sentence counts "
        "for more, just as it costs the model more pieces to read."
    )
