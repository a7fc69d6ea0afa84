"""Checkers of chapter 10's exercises (English-only transfer: poolings,
relative error reduction, which embedding rows English tuning moves)."""

from __future__ import annotations

import torch

from .. import published
from ..grading import (expect, expect_close, expect_number, register)


def _batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, H) hidden states and a (B, T) mask with padding; padded
    positions hold large values, so that a pooling that ignores the mask
    shows it."""
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(3, 5, 4, generator=g, dtype=torch.float64)
    lengths = [5, 3, 1]
    mask = torch.tensor([[1] * n + [0] * (5 - n) for n in lengths])
    hidden = hidden.masked_fill(mask.unsqueeze(-1) == 0, 50.0)
    return hidden, mask


def _reference_pool(hidden, mask, how):
    rows = []
    for h, m in zip(hidden, mask):
        real = h[m.bool()]                                   # (n, H)
        rows.append({"mean": real.mean(0), "max": real.max(0).values,
                     "cls": h[0]}[how])
    return torch.stack(rows)                                 # (B, H)


@register("10.1")
def pooling_checker(fn) -> str:
    """``fn(hidden, mask, how)`` pools (B, T, H) states into (B, H)
    sentence vectors for how in mean, max and cls."""
    expect(callable(fn), "the answer should be the function pool")
    hints = {
        "mean": ("average only the real tokens: multiply by the mask, sum "
                 "over T and divide by the number of real tokens"),
        "max": ("padded positions must never win the maximum: set them to "
                "-inf (or the dtype's minimum) before taking it"),
        "cls": "[CLS] is the first position, hidden[:, 0]",
    }
    for seed in range(2):
        hidden, mask = _batch(seed)
        for how in ("mean", "max", "cls"):
            want = _reference_pool(hidden, mask, how)
            got = fn(hidden.clone(), mask.clone(), how)
            hint = hints[how]
            if how == "mean" and torch.is_tensor(got) and \
                    got.shape == want.shape and \
                    torch.allclose(got.double(), hidden.mean(1)):
                hint = ("you averaged over every position, padding "
                        "included: the third sentence has one real token "
                        "and four padded ones")
            expect_close(got, want, f"pool(hidden, mask, {how!r})",
                         rtol=1e-6, hint=hint)
    return ("Mean and max must read the attention mask; [CLS] needs no "
            "mask, because position 0 is real in every sentence.")


@register("10.2")
def error_reduction_checker(fn) -> str:
    """``fn(err_base, err_tuned)`` is the relative error reduction in %,
    100 * (1 - err_tuned / err_base)."""
    expect(callable(fn),
           "the answer should be the function relative_error_reduction")
    cases = [(50.0, 25.0), (99.4, 98.4), (20.0, 30.0)]
    cases += [v[::-1] for v in published.ENGLISH_ONLY_ERRORS.values()]
    for base, tuned in cases:
        want = 100.0 * (1.0 - tuned / base)
        value = expect_number(fn(base, tuned),
                              f"relative_error_reduction({base}, {tuned})")
        hint = ("divide the fall in error by the baseline's error and "
                "give it in percent")
        if abs(value - (base - tuned)) < 1e-6:
            hint = ("that is the fall in percentage points; the blog "
                    "reports it relative to the baseline's error")
        elif abs(value - 100.0 * (base - tuned) / tuned) < 1e-6:
            hint = ("divide by the baseline's error, not the fine-tuned "
                    "model's")
        elif abs(value - 100.0 * ((100 - tuned) / (100 - base) - 1)) \
                < 1e-6:
            hint = ("that is the relative gain in accuracy (100 - error);"
                    " the blog's measure is the relative fall in error")
        elif abs(value - (1.0 - tuned / base)) < 1e-9:
            hint = "give the reduction in percent (multiply by 100)"
        expect_close(value, want,
                     f"relative_error_reduction({base}, {tuned})",
                     rtol=1e-6, atol=1e-6, hint=hint)
    blog = {lang: 100.0 * (1.0 - tuned / base) for lang, (tuned, base)
            in published.ENGLISH_ONLY_ERRORS.items()}
    best = max(blog, key=blog.get)
    gain = 100.0 * ((100 - 98.4) / (100 - 99.4) - 1)
    return (f"On the blog's mean-pooling numbers the largest reduction is "
            f"{best}'s {blog[best]:.1f}% -- its 'up to "
            f"{published.ENGLISH_ONLY_MAX_REDUCTION['mean']:g}%'. Near "
            f"chance the measure is modest: a model that goes from 99.4% "
            f"to 98.4% error shows a "
            f"{100 * (1 - 98.4 / 99.4):.1f}% reduction, while the "
            f"accuracy grows by {gain:.0f}% (0.6 -> 1.6).")


@register("10.3")
def gradient_rows_checker(rows_with_gradient, *, vocab, ids, mask,
                          german_ids) -> str:
    """The vocabulary rows that get a non-zero gradient from a loss on the
    English batch ``ids`` (padded, ``mask``) under masked mean pooling."""
    expect(isinstance(rows_with_gradient, (list, tuple, set)),
           f"rows_with_gradient should be a list of tokens, got "
           f"{type(rows_with_gradient).__name__}")
    expect(all(isinstance(w, str) for w in rows_with_gradient),
           "rows_with_gradient should list tokens as strings (e.g. "
           "'the'); turn row indices into tokens with vocab[i]")
    got = set(rows_with_gradient)
    flat = zip(torch.as_tensor(ids).flatten().tolist(),
               torch.as_tensor(mask).flatten().tolist())
    read, padded = set(), set()
    for i, m in flat:
        (read if m else padded).add(vocab[i])
    padded -= read
    german = {vocab[i] for i in torch.as_tensor(german_ids).tolist()}
    if got == set(vocab):
        hint = ("every row is listed: look at which rows of "
                "table.weight.grad are non-zero, not whether the gradient "
                "exists (it is one dense (V, H) tensor)")
    elif got & padded:
        hint = (f"{sorted(got & padded)} only fills padded positions: "
                f"your pooling averaged them too; mask them out as the "
                f"encoder does")
    elif got - read:
        hint = (f"{sorted(got - read)}: not in the English batch, so no "
                f"path leads from the loss to their rows")
    else:
        hint = (f"{sorted(read - got)} occur in the English batch, so "
                f"their rows are read and get a gradient")
    expect(got == read, f"rows_with_gradient is {sorted(got)}, expected "
           f"{sorted(read)}. Hint: {hint}")
    return (f"Only the rows the English batch reads can move. The "
            f"German-only rows {sorted(german - read)} get an exactly "
            f"zero gradient, so Adam leaves them where pre-training put "
            f"them; the rows German shares with English "
            f"({sorted(german & read)}) move for both languages -- the "
            f"path by which English tuning reaches a language that spells "
            f"some words alike.")
