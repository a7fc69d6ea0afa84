"""Checkers of chapter 07's exercises ([UNK] rate, subword overlap,
Spearman's rank correlation)."""

from __future__ import annotations

import numpy as np

from ..grading import expect, expect_close, expect_number, register


def _pieces(tokenizer, texts) -> list[list[int]]:
    """Word-piece ids of each text, without [CLS]/[SEP] (as unk_rate)."""
    return [e.ids for e in tokenizer.backend_tokenizer.encode_batch(
        list(texts), add_special_tokens=False)]


@register("7.1")
def pooled_unk_rate(fn, tokenizer=None, texts=None) -> str:
    """``fn(id_lists, unk_id)`` is the share of all tokens that are
    ``unk_id``, pooled over the sentences (0.0 when there are none)."""
    expect(callable(fn), "the answer should be the function unk_rate_of")
    rng = np.random.default_rng(7)
    cases = [([[0, 5, 6], [0, 0, 0, 0, 0, 0, 7], [8]], 0),
             ([[3, 3, 9], [1, 2, 3, 4, 5, 6, 7, 8], [9, 9]], 9)]
    for _ in range(3):
        lengths = rng.integers(1, 20, size=6)
        cases.append(([list(rng.integers(0, 4, size=n)) for n in lengths],
                      1))
    cases += [([[], [1, 2], [0]], 0), ([], 0), ([[]], 0)]
    for id_lists, unk in cases:
        id_lists = [[int(v) for v in ids] for ids in id_lists]
        total = sum(len(ids) for ids in id_lists)
        want = (sum(ids.count(unk) for ids in id_lists) / total
                if total else 0.0)
        what = (f"unk_rate_of({id_lists}, {unk})"
                if len(str(id_lists)) < 90
                else "unk_rate_of on random lists")
        try:
            got = fn([list(ids) for ids in id_lists], unk)
        except ZeroDivisionError:
            expect(False, f"{what} divides by zero: with no tokens at all "
                   f"return 0.0 (as labse_lite.tokenization.unk_rate "
                   f"does)")
        value = expect_number(got, what)
        if abs(value - want) <= 1e-9:
            continue
        per = [ids.count(unk) / len(ids) for ids in id_lists if ids]
        hint = ("count the [UNK] ids over all sentences and divide by the "
                "number of all tokens")
        if not total:
            hint = ("with no tokens at all, return 0.0 (as "
                    "labse_lite.tokenization.unk_rate does)")
        elif per and abs(value - float(np.mean(per))) < 1e-9:
            hint = ("you averaged the per-sentence rates; pool the counts "
                    "instead, so that a sentence of 20 pieces weighs 20 "
                    "times one of a single piece (the share of the text's "
                    "tokens, not of its sentences)")
        elif abs(value - 100 * want) < 1e-6:
            hint = "give a fraction, not a percentage"
        expect_close(value, want, what, rtol=0, atol=1e-9, hint=hint)
    if tokenizer is None or texts is None:
        return "Your rate is pooled over sentences, as the chapter's is."
    from ...tokenization import unk_rate

    rates = {}
    for lang, lines in texts.items():
        got = fn(_pieces(tokenizer, lines), tokenizer.unk_token_id)
        expect_close(got, unk_rate(tokenizer, lines),
                     f"unk_rate_of on the {lang} sample", rtol=0, atol=1e-9,
                     hint="tokenize as the chapter does: word pieces "
                          "without [CLS] and [SEP]")
        rates[lang] = float(got)
    shown = ", ".join(f"{lang} {100 * r:.1f}%" for lang, r in rates.items())
    return (f"It equals labse_lite.tokenization.unk_rate. [UNK] rates "
            f"under the toy Spanish+German vocabulary: {shown}. A script "
            f"the vocabulary never saw is [UNK] almost word for word.")


@register("7.2")
def jaccard_overlap(fn, tokenizer=None, texts=None) -> str:
    """``fn(a, b)`` is |A ∩ B| / |A ∪ B| of the distinct tokens of a, b."""
    expect(callable(fn), "the answer should be the function jaccard")
    cases = [
        (["la", "casa", "es", "grande"], ["a", "casa", "é", "grande"]),
        (["##s", "de", "de", "de", "la"], ["de", "la", "los"]),
        (["x", "y"], ["x", "y", "y"]),
        (["un", "dos"], ["eins", "zwei", "drei"]),
        (list("abcdefgh"), list("efghijklmnop")),
    ]
    for a, b in cases:
        sa, sb = set(a), set(b)
        want = len(sa & sb) / len(sa | sb)
        got = expect_number(fn(list(a), list(b)), f"jaccard({a}, {b})")
        hint = ("divide the number of distinct tokens the two share by "
                "the number of distinct tokens in either")
        if abs(got - len(sa & sb) / len(sa)) < 1e-9 and len(sa) != len(
                sa | sb):
            hint = ("you divided by the first set's size: that is how "
                    "much of A is in B (containment), which is not "
                    "symmetric; Jaccard divides by the union")
        elif len(a) != len(sa) or len(b) != len(sb):
            hint = ("count distinct tokens: turn each sequence into a set "
                    "first, repeated pieces count once")
        expect_close(got, want, f"jaccard({a}, {b})", rtol=0, atol=1e-9,
                     hint=hint)
        expect_close(fn(list(b), list(a)), got, f"jaccard({b}, {a})",
                     rtol=0, atol=1e-9, hint="Jaccard is symmetric: "
                     "J(A, B) = J(B, A)")
    if tokenizer is None or texts is None:
        return "Your Jaccard index is right on five pairs of token lists."
    unk = tokenizer.unk_token
    sets = {lang: [t for line in lines for t in tokenizer.tokenize(line)
                   if t != unk] for lang, lines in texts.items()}
    rows = []
    for lang in sets:
        if lang in ("spa", "deu"):
            continue
        rows.append(f"{lang}: spa {fn(sets[lang], sets['spa']):.2f}, "
                    f"deu {fn(sets[lang], sets['deu']):.2f}")
    return ("Overlap of the word pieces (without [UNK]) of each sample "
            "with those of the Spanish and the German sample: "
            + "; ".join(rows) + ".")


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
        ("reversed", list(x), list(-x ** 3)),
        ("ties in both", [1, 2, 2, 3, 5, 5, 5, 8, 9, 9],
         [2, 1, 4, 4, 3, 6, 6, 9, 7, 7]),
        ("many ties", list(rng.integers(0, 4, size=15)),
         list(rng.integers(0, 4, size=15))),
    ]
    for name, a, b in cases:
        want = _spearman(a, b)
        got = expect_number(fn(list(a), list(b)), f"spearman ({name})")
        if "ties" in name:
            hint = ("give tied values the mean of the ranks they span "
                    "(e.g. two values sharing ranks 2 and 3 both get "
                    "2.5), then take the Pearson correlation of the "
                    "ranks; 1 - 6·Σd²/(n(n²-1)) is exact only without "
                    "ties")
        else:
            hint = ("rank each sequence (1 = smallest) and take the "
                    "Pearson correlation of the two rank vectors")
        expect_close(got, want, f"spearman on the case '{name}'", rtol=0,
                     atol=1e-9, hint=hint)
    return ("Your ρ equals scipy.stats.spearmanr on five tables, ties "
            "included; pandas' corr(method='spearman'), which the chapter "
            "uses, ranks ties the same way.")
