"""Checkers of chapter 06's exercises (MLM masking, TLM inputs, the
second-order term of a stack copied onto itself)."""

from __future__ import annotations

import torch

from ...pretrain import tlm_pair
from ..grading import expect, expect_close, register

MASK_ID = 4  # the id of [MASK] in the checker's toy vocabulary


def _masking_case(seed: int, shape=(16, 256), rate: float = 0.2):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 1000, shape, generator=g)
    chosen = torch.rand(shape, generator=g) < rate
    action = torch.rand(shape, generator=g)
    random_ids = torch.randint(5, 1000, shape, generator=g)
    return ids, chosen, action, random_ids


@register("6.1")
def masking_rule(fn) -> str:
    """``fn(ids, chosen, action, random_ids, mask_id)`` applies BERT's
    80/10/10 rule to the chosen positions and returns (corrupted,
    labels)."""
    expect(callable(fn), "the answer should be the function corrupt")
    counts = {"mask": 0, "random": 0, "kept": 0, "scored": 0, "same": 0}
    for seed in range(3):
        ids, chosen, action, random_ids = _masking_case(seed)
        given = ids.clone()
        out = fn(
            given, chosen.clone(), action.clone(), random_ids.clone(), MASK_ID
        )
        expect(
            torch.equal(given, ids),
            "corrupt changed the `ids` it was given in place; work on "
            "a copy (ids.clone()), or the labels lose the original "
            "tokens",
        )
        expect(
            isinstance(out, (tuple, list)) and len(out) == 2,
            f"corrupt should return a pair (corrupted, labels), got "
            f"{type(out).__name__}",
        )
        corrupted, labels = (torch.as_tensor(o) for o in out)
        expect(
            tuple(corrupted.shape) == tuple(ids.shape)
            and tuple(labels.shape) == tuple(ids.shape),
            f"corrupted and labels should both have the shape of ids "
            f"{tuple(ids.shape)}, got {tuple(corrupted.shape)} and "
            f"{tuple(labels.shape)}",
        )
        to_mask, to_random, kept = _branches(chosen, action)
        _check_corrupted(corrupted, ids, chosen, action, random_ids)
        _check_labels(labels, ids, chosen, to_mask)
        counts["mask"] += int(to_mask.sum())
        counts["random"] += int(to_random.sum())
        counts["kept"] += int(kept.sum())
        counts["scored"] += int(chosen.sum())
        counts["same"] += int((corrupted[chosen] == ids[chosen]).sum())
    n = counts["scored"]
    return (
        f"Of {n} scored positions, {100 * counts['mask'] / n:.0f}% "
        f"show [MASK], {100 * counts['random'] / n:.0f}% a random "
        f"token and {100 * counts['kept'] / n:.0f}% their own token; "
        f"{100 * counts['same'] / n:.1f}% show the right token (the "
        f"kept tenth plus random draws that hit it). "
        f"labse_lite.pretrain.mask_tokens applies the same rule after "
        f"choosing M."
    )


def _branches(chosen, action):
    """The chosen positions that BERT's rule masks, replaces by a random
    token and keeps (80/10/10 by ``action``)."""
    to_mask = chosen & (action < 0.8)
    to_random = chosen & (action >= 0.8) & (action < 0.9)
    kept = chosen & (action >= 0.9)
    return to_mask, to_random, kept


def _check_corrupted(corrupted, ids, chosen, action, random_ids) -> None:
    """The corrupted sequence: untouched outside M, then each branch."""
    to_mask, to_random, kept = _branches(chosen, action)
    # The positions outside M, then the three branches, then labels.
    expect(
        torch.equal(corrupted[~chosen], ids[~chosen]),
        "a position outside M (chosen is False) was changed; only "
        "the chosen positions are corrupted",
    )
    expect(
        bool((corrupted[to_mask] == MASK_ID).all()),
        "a chosen position with action < 0.8 does not hold mask_id; "
        "80% of the chosen tokens become [MASK]",
    )
    if not torch.equal(corrupted[to_random], random_ids[to_random]):
        extra = (
            " It holds mask_id: did you mask 90% (action < 0.9) "
            "instead of 80%?"
            if bool((corrupted[to_random] == MASK_ID).any())
            else ""
        )
        expect(
            False,
            "a chosen position with 0.8 <= action < 0.9 "
            "should take the token random_ids has at that same "
            "position." + extra,
        )
    expect(
        torch.equal(corrupted[kept], ids[kept]),
        "a chosen position with action >= 0.9 was changed; that "
        "tenth keeps its original token (it is still scored)",
    )


def _check_labels(labels, ids, chosen, to_mask) -> None:
    """Labels: the original id at every position of M, -100 elsewhere."""
    want_labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    if not torch.equal(labels.long(), want_labels):
        scored = labels != -100
        if torch.equal(scored, to_mask):
            hint = (
                "you score only the [MASK] positions. Every "
                "position of M is scored, the random and the "
                "unchanged ones too: the model cannot tell which "
                "unchanged token is a test, so it must predict "
                "every token from its context"
            )
        elif torch.equal(scored, chosen):
            hint = (
                "the scored positions are right but a label is "
                "not the original token; take it from ids, not "
                "from the corrupted sequence"
            )
        else:
            hint = (
                "labels should hold the original id at every "
                "position of M (chosen) and -100 elsewhere"
            )
        expect(False, f"the labels are wrong: {hint}")


@register("6.2")
def tlm_sequence(fn) -> str:
    """``fn(a, b, cls_id, sep_id, max_length)`` is the TLM input of a pair:
    [CLS] a [SEP] b [SEP], the longer side truncated first."""
    expect(callable(fn), "the answer should be the function tlm_input")
    cls_id, sep_id = 101, 102
    cases = [  # (len a, len b, max_length): fits, a long, b long, both
        (4, 5, 16),
        (10, 2, 10),
        (2, 10, 10),
        (10, 10, 11),
        (9, 12, 12),
        (3, 3, 9),
    ]
    for la, lb, max_length in cases:
        a = list(range(1000, 1000 + la))
        b = list(range(2000, 2000 + lb))
        want = tlm_pair(a, b, cls_id, sep_id, max_length)
        got = fn(list(a), list(b), cls_id, sep_id, max_length)
        expect(
            got is not None,
            "tlm_input returned None: did it forget "
            "to `return` the list of ids?",
        )
        try:
            got = [int(t) for t in got]
        except (TypeError, ValueError):
            expect(
                False,
                f"tlm_input should return a list of ids, got "
                f"{type(got).__name__}",
            )
        where = f"a of {la} pieces, b of {lb}, max_length={max_length}"
        if got == want:
            continue
        if len(got) > max_length:
            hint = (
                f"the sequence has {len(got)} ids, more than "
                f"max_length; [CLS] and two [SEP] leave room for "
                f"max_length - 3 word pieces"
            )
        elif (
            got[:1] != [cls_id]
            or got[-1:] != [sep_id]
            or got.count(sep_id) != 2
        ):
            hint = (
                "the sequence should be [CLS] a [SEP] b [SEP]: one "
                "[CLS] first, a [SEP] after each side"
            )
        elif la + lb + 3 <= max_length:
            hint = "the pair fits: nothing should be cut"
        else:
            kept_a = sum(1000 <= t < 2000 for t in got)
            kept_b = sum(t >= 2000 for t in got)
            hint = (
                f"you kept {kept_a} pieces of a and {kept_b} of b, "
                f"expected {sum(1000 <= t < 2000 for t in want)} and "
                f"{sum(t >= 2000 for t in want)}: with R = max_length "
                f"- 3 and c = R // 2, cut only the longer side when "
                f"the shorter one fits in c, else keep c pieces of a "
                f"and R - c of b"
            )
        expect(
            False,
            f"tlm_input is wrong for {where}: got {got}, "
            f"expected {want}. Hint: {hint}",
        )
    return (
        "Your sequences equal labse_lite.pretrain.tlm_pair's on "
        "six pairs: the shorter side is never cut "
        "while the longer one can give way, so every masked word "
        "keeps as much of its translation as fits."
    )


def _residual_maps(k: int, dim: int, seed: int) -> list[torch.Tensor]:
    """``k`` random (dim, dim) matrices of spectral norm 1 (float64)."""
    g = torch.Generator().manual_seed(seed)
    mats = [
        torch.randn(dim, dim, generator=g, dtype=torch.float64)
        for _ in range(k)
    ]
    return [a / torch.linalg.matrix_norm(a, ord=2) for a in mats]


def _stack(mats, eps: float, times: int = 1) -> torch.Tensor:
    """(I + eps A_k) ... (I + eps A_1), the whole stack run ``times``
    times (a copy stacked on top of itself)."""
    eye = torch.eye(mats[0].shape[0], dtype=torch.float64)
    out = eye.clone()
    for _ in range(times):
        for a in mats:  # A_1 acts first: multiply on the left
            out = (eye + eps * a) @ out
    return out


def _ordered_pairs(mats, later_first: bool = True) -> torch.Tensor:
    """Σ A_l A_m over l > m (``later_first``) or over l < m."""
    out = torch.zeros_like(mats[0])
    for i, a in enumerate(mats):
        for j, b in enumerate(mats):
            if (i > j) if later_first else (i < j):
                out = out + a @ b
    return out


@register("6.3")
def doubled_stack(fn) -> str:
    """``fn(mats)`` is the ε² coefficient Q of the stack of linear residual
    layers h -> h + ε A_l h run twice: F∘F = I + 2εS + ε²Q + O(ε³)."""
    expect(callable(fn), "the answer should be the function second_order")
    for seed, (k, dim) in enumerate([(2, 5), (3, 5), (4, 6), (1, 4)]):
        mats = _residual_maps(k, dim, seed)
        total = sum(mats)  # S
        pairs = _ordered_pairs(mats)  # P
        want = 2 * pairs + total @ total
        what = f"second_order on a stack of {k} layers"
        got = fn([a.clone() for a in mats])
        hint = (
            "multiply out (I + εA_k)...(I + εA_1)(I + εA_k)...(I + "
            "εA_1) and collect every product of two A's, the later "
            "layer on the left"
        )
        options = {
            "2P": (
                2 * pairs,
                "you kept the pairs inside each copy but "
                "forgot those that take one A from each copy: every "
                "layer of the upper copy follows every layer of the "
                "lower one, which adds S·S",
            ),
            "S2": (
                total @ total,
                "S·S holds only the pairs that span the "
                "two copies; each copy adds its own pairs too",
            ),
            "4P": (
                4 * pairs,
                "that is the shallow stack with every update "
                "doubled, (I + 2εA_k)...(I + 2εA_1), not the stack run "
                "twice",
            ),
            "order": (
                2 * _ordered_pairs(mats, False) + total @ total,
                "the order of the factors is reversed: A_1 acts "
                "first, so a later layer multiplies from the left",
            ),
        }
        if torch.is_tensor(got) or hasattr(got, "shape"):
            g = torch.as_tensor(got, dtype=torch.float64)
            if g.shape == want.shape and k > 1:
                for value, why in options.values():
                    if torch.allclose(
                        g, value, atol=1e-9
                    ) and not torch.allclose(value, want, atol=1e-9):
                        hint = why
                        break
        expect_close(got, want, what, rtol=1e-7, atol=1e-9, hint=hint)
    # Measured: how much of F∘F's departure from first order Q explains.
    mats = _residual_maps(3, 5, 2)
    total, q = (
        sum(mats),
        torch.as_tensor(fn([a.clone() for a in mats]), dtype=torch.float64),
    )
    eye = torch.eye(5, dtype=torch.float64)
    rows = []
    for eps in (0.1, 0.05):
        twice = _stack(mats, eps, times=2)
        first = torch.linalg.matrix_norm(twice - eye - 2 * eps * total)
        second = torch.linalg.matrix_norm(
            twice - eye - 2 * eps * total - eps**2 * q
        )
        rows.append((eps, float(first), float(second)))
    (e1, f1, s1), (e2, f2, s2) = rows
    return (
        f"Measured on three layers: the doubled stack departs from "
        f"I + 2εS by {f1:.2e} at ε = {e1} and {f2:.2e} at ε = {e2} "
        f"(a factor {f1 / f2:.1f}: second order), and from "
        f"I + 2εS + ε²Q by {s1:.1e} and {s2:.1e} (a factor "
        f"{s1 / s2:.1f}: third order).  Q differs from the 4P of a "
        f"stack with doubled updates by S² − 2P, so the copy is not "
        f"'the same model, twice as far' beyond first order."
    )
