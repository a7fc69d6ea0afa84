"""Checkers of chapter 06's exercises (MLM masking, TLM inputs, the
compute of progressive stacking)."""

from __future__ import annotations

import torch

from ..grading import expect, expect_close, expect_number, register
from ...pretrain import (PAPER_STAGE_FRACTIONS, PretrainConfig, layer_steps,
                        stage_plan, tlm_pair)

MASK_ID = 4          # the id of [MASK] in the checker's toy vocabulary


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
        out = fn(given, chosen.clone(), action.clone(), random_ids.clone(),
                 MASK_ID)
        expect(torch.equal(given, ids),
               "corrupt changed the `ids` it was given in place; work on "
               "a copy (ids.clone()), or the labels lose the original "
               "tokens")
        expect(isinstance(out, (tuple, list)) and len(out) == 2,
               f"corrupt should return a pair (corrupted, labels), got "
               f"{type(out).__name__}")
        corrupted, labels = (torch.as_tensor(o) for o in out)
        expect(tuple(corrupted.shape) == tuple(ids.shape)
               and tuple(labels.shape) == tuple(ids.shape),
               f"corrupted and labels should both have the shape of ids "
               f"{tuple(ids.shape)}, got {tuple(corrupted.shape)} and "
               f"{tuple(labels.shape)}")
        to_mask = chosen & (action < 0.8)
        to_random = chosen & (action >= 0.8) & (action < 0.9)
        kept = chosen & (action >= 0.9)
        # The positions outside M, then the three branches, then labels.
        expect(torch.equal(corrupted[~chosen], ids[~chosen]),
               "a position outside M (chosen is False) was changed; only "
               "the chosen positions are corrupted")
        expect(bool((corrupted[to_mask] == MASK_ID).all()),
               "a chosen position with action < 0.8 does not hold mask_id; "
               "80% of the chosen tokens become [MASK]")
        if not torch.equal(corrupted[to_random], random_ids[to_random]):
            extra = (" It holds mask_id: did you mask 90% (action < 0.9) "
                     "instead of 80%?"
                     if bool((corrupted[to_random] == MASK_ID).any())
                     else "")
            expect(False, "a chosen position with 0.8 <= action < 0.9 "
                   "should take the token random_ids has at that same "
                   "position." + extra)
        expect(torch.equal(corrupted[kept], ids[kept]),
               "a chosen position with action >= 0.9 was changed; that "
               "tenth keeps its original token (it is still scored)")
        want_labels = torch.where(chosen, ids, torch.full_like(ids, -100))
        if not torch.equal(labels.long(), want_labels):
            scored = labels != -100
            if torch.equal(scored, to_mask):
                hint = ("you score only the [MASK] positions. Every "
                        "position of M is scored, the random and the "
                        "unchanged ones too: the model cannot tell which "
                        "unchanged token is a test, so it must predict "
                        "every token from its context")
            elif torch.equal(scored, chosen):
                hint = ("the scored positions are right but a label is "
                        "not the original token; take it from ids, not "
                        "from the corrupted sequence")
            else:
                hint = ("labels should hold the original id at every "
                        "position of M (chosen) and -100 elsewhere")
            expect(False, f"the labels are wrong: {hint}")
        counts["mask"] += int(to_mask.sum())
        counts["random"] += int(to_random.sum())
        counts["kept"] += int(kept.sum())
        counts["scored"] += int(chosen.sum())
        counts["same"] += int((corrupted[chosen] == ids[chosen]).sum())
    n = counts["scored"]
    return (f"Of {n} scored positions, {100 * counts['mask'] / n:.0f}% "
            f"show [MASK], {100 * counts['random'] / n:.0f}% a random "
            f"token and {100 * counts['kept'] / n:.0f}% their own token; "
            f"{100 * counts['same'] / n:.1f}% show the right token (the "
            f"kept tenth plus random draws that hit it). "
            f"labse_lite.pretrain.mask_tokens applies the same rule after "
            f"choosing M.")


@register("6.2")
def tlm_sequence(fn) -> str:
    """``fn(a, b, cls_id, sep_id, max_length)`` is the TLM input of a pair:
    [CLS] a [SEP] b [SEP], the longer side truncated first."""
    expect(callable(fn), "the answer should be the function tlm_input")
    cls_id, sep_id = 101, 102
    cases = [  # (len a, len b, max_length): fits, a long, b long, both
        (4, 5, 16), (10, 2, 10), (2, 10, 10), (10, 10, 11), (9, 12, 12),
        (3, 3, 9)]
    for la, lb, max_length in cases:
        a = list(range(1000, 1000 + la))
        b = list(range(2000, 2000 + lb))
        want = tlm_pair(a, b, cls_id, sep_id, max_length)
        got = fn(list(a), list(b), cls_id, sep_id, max_length)
        expect(got is not None, "tlm_input returned None: did it forget "
               "to `return` the list of ids?")
        try:
            got = [int(t) for t in got]
        except (TypeError, ValueError):
            expect(False, f"tlm_input should return a list of ids, got "
                   f"{type(got).__name__}")
        where = (f"a of {la} pieces, b of {lb}, max_length={max_length}")
        if got == want:
            continue
        if len(got) > max_length:
            hint = (f"the sequence has {len(got)} ids, more than "
                    f"max_length; [CLS] and two [SEP] leave room for "
                    f"max_length - 3 word pieces")
        elif got[:1] != [cls_id] or got[-1:] != [sep_id] \
                or got.count(sep_id) != 2:
            hint = ("the sequence should be [CLS] a [SEP] b [SEP]: one "
                    "[CLS] first, a [SEP] after each side")
        elif la + lb + 3 <= max_length:
            hint = "the pair fits: nothing should be cut"
        else:
            kept_a = sum(1000 <= t < 2000 for t in got)
            kept_b = sum(t >= 2000 for t in got)
            hint = (f"you kept {kept_a} pieces of a and {kept_b} of b, "
                    f"expected {sum(1000 <= t < 2000 for t in want)} and "
                    f"{sum(t >= 2000 for t in want)}: with R = max_length "
                    f"- 3 and h = R // 2, cut only the longer side when "
                    f"the shorter one fits in h, else keep h pieces of a "
                    f"and R - h of b")
        expect(False, f"tlm_input is wrong for {where}: got {got}, "
               f"expected {want}. Hint: {hint}")
    return ("Your sequences equal labse_lite.pretrain.tlm_pair's on "
            "six pairs: the shorter side is never cut "
            "while the longer one can give way, so every masked word "
            "keeps as much of its translation as fits.")


@register("6.3")
def stacking_compute(fn, paper_saving) -> str:
    """``fn(plan)`` is the fraction of layer-steps a stacking plan saves
    against training all its steps at the final depth; ``paper_saving``
    is that fraction for the paper's schedule."""
    expect(callable(fn), "the first answer should be the function "
           "stacking_saving")
    paper = [(3, 400_000), (6, 800_000), (12, 1_800_000)]
    chapter = stage_plan(PretrainConfig(num_layers=4, max_steps=400))
    plans = [paper, chapter, [(2, 100), (4, 100), (8, 100)],
             [(1, 10), (2, 10), (4, 80)], [(4, 300)]]
    for plan in plans:
        depth = plan[-1][0]
        total = sum(steps for _, steps in plan)
        want = 1 - layer_steps(plan) / (depth * total)
        got = expect_number(fn(list(plan)), f"stacking_saving({plan})")
        hint = ("the cost of a stage is depth x steps; the full-depth run "
                "does all the steps at the final depth L")
        if abs(got - (1 - want)) < 1e-9 and abs(want - 0.5) > 1e-9:
            hint = ("you returned the fraction of the compute *spent*; "
                    "the saving is 1 minus it")
        elif abs(got - 100 * want) < 1e-6 and want:
            hint = "give the saving as a fraction, not a percentage"
        expect_close(got, want, f"stacking_saving({plan})", rtol=1e-6,
                     atol=1e-9, hint=hint)
    depth = 12
    steps = [f * 3_000_000 for f in PAPER_STAGE_FRACTIONS]
    want_paper = 1 - layer_steps(
        list(zip([depth // 4, depth // 2, depth], steps))) / (
        depth * sum(steps))
    got = expect_number(paper_saving, "paper_saving")
    hint = "apply your function to [(3, 400_000), (6, 800_000), " \
           "(12, 1_800_000)]"
    if abs(got - 100 * want_paper) < 1e-3:
        hint = "give the saving as a fraction, not a percentage"
    expect_close(got, want_paper, "paper_saving", rtol=1e-4, hint=hint)
    return (f"The paper's schedule spends {1 - want_paper:.0%} of the "
            f"layer-steps of a full-depth run of the same steps: the last "
            f"stage holds 60% of the steps at full depth, so the saving "
            f"is about a quarter, whatever L is.")
