"""Checkers of chapter 08's exercises (LEALLA's lightweight students:
parameter counts, feature and logit distillation)."""

from __future__ import annotations

import torch
from torch import nn

from ...distill import (LEALLA_DEFAULTS, feature_distillation_loss,
                       logit_distillation_loss, non_embedding_parameters)
from ..grading import unit_rows as _unit
from ..grading import (NotAttempted, WrongAnswer, expect, expect_close,
                       expect_number, register)
from ...model import MODEL_PRESETS, bert_config

# LaBSE's custom WordPiece vocabulary (Feng et al., 2022, §4), which the
# LEALLA students share.
LABSE_VOCAB = 501_153


def _call(fn, *args, what: str):
    """``fn(*args)``; an exception other than NotImplementedError becomes a
    WrongAnswer that names the call, so the grader reports it cleanly."""
    try:
        return fn(*args)
    except (NotImplementedError, NotAttempted, WrongAnswer):
        raise
    except Exception as err:  # noqa: BLE001 - reported to the student
        raise WrongAnswer(f"{what} raised {type(err).__name__}: "
                          f"{err}") from None


def _package_count(layers: int, hidden: int, heads: int, ffn: int) -> int:
    """The package's count for an encoder of this shape (the BertModel
    that ``DualEncoder.from_config`` builds; no pooler)."""
    from transformers import BertModel

    config = bert_config(32, None, num_hidden_layers=layers,
                         hidden_size=hidden, num_attention_heads=heads,
                         intermediate_size=ffn)
    return non_embedding_parameters(BertModel(config,
                                              add_pooling_layer=False))


@register("8.1")
def count_parameters(fn) -> str:
    """``fn(layers, hidden, ffn)`` is the non-embedding parameter count of
    a BERT encoder of that shape, as ``non_embedding_parameters`` counts."""
    expect(callable(fn), "the answer should be the function non_embedding")
    lealla = MODEL_PRESETS["lealla-small"]
    shapes = [(2, 64, 2, 256), (4, 45, 3, 180), (1, 90, 3, 360),
              (3, 48, 4, 100),
              (lealla["num_hidden_layers"], lealla["hidden_size"],
               lealla["num_attention_heads"], lealla["intermediate_size"])]
    for layers, h, heads, f in shapes:
        want = _package_count(layers, h, heads, f)
        got = expect_number(_call(fn, layers, h, f,
                                  what=f"non_embedding({layers}, {h}, {f})"),
                            f"non_embedding({layers}, {h}, {f})")
        if got == want:
            continue
        per_layer = 4 * h * h + 2 * h * f + 9 * h + f
        textbook = layers * (12 * h * h + 13 * h)
        if got in (textbook, textbook + 2 * h) and f != 4 * h:
            hint = ("you assumed an FFN of 4h; this shape has f = "
                    f"{f}, so use 4h² + 2hf + 9h + f per layer")
        elif got == layers * (4 * h * h + 2 * h * f):
            hint = ("that counts the weight matrices only: add the biases "
                    "(4h for attention, f + h for the FFN) and two "
                    "LayerNorms per layer (2h each)")
        elif got == want - 2 * h:
            hint = ("the LayerNorm after the embedding sum (2h: a gain "
                    "and a bias per coordinate) is not a table: count it")
        elif got == want + h * h + h:
            hint = "the students have no pooler (h² + h): leave it out"
        elif got == layers * per_layer + 2 * h * layers:
            hint = "the embedding LayerNorm occurs once, not once per layer"
        else:
            hint = ("per layer: Q, K, V and the attention output (4h² "
                    "weights, 4h biases), the FFN (2hf weights, f + h "
                    "biases), two LayerNorms (4h); plus 2h once for the "
                    "embedding LayerNorm")
        raise WrongAnswer(f"non_embedding({layers}, {h}, {f}) returned "
                          f"{got:,.0f}, the package counts {want:,}. "
                          f"Hint: {hint}.")
    layers, h = lealla["num_hidden_layers"], lealla["hidden_size"]
    body = _package_count(layers, h, lealla["num_attention_heads"],
                          lealla["intermediate_size"])
    table = LABSE_VOCAB * h
    return (f"Your count matches the package on five shapes. LEALLA-small "
            f"({layers} x {h}) has {body / 1e6:.1f}M parameters outside "
            f"its embeddings and {table / 1e6:.1f}M in its {LABSE_VOCAB:,}"
            f"-token table: {100 * table / (table + body):.0f}% of the "
            f"total is a lookup that costs no compute per token.")


@register("8.2")
def feature_loss(fn) -> str:
    """``fn(student, teacher, feature_map)`` is LEALLA's feature
    distillation loss (eq. 3): MSE(teacher, W·student), mean over rows
    and coordinates, the teacher a constant target."""
    expect(callable(fn), "the answer should be the function feature_loss")
    for seed, (n, d, big_d) in enumerate([(8, 4, 16), (6, 16, 32),
                                          (10, 8, 8)]):
        student = _unit(n, d, seed)
        teacher = _unit(n, big_d, 50 + seed).requires_grad_(True)
        with torch.random.fork_rng():   # leave the caller's RNG alone
            torch.manual_seed(seed)
            lift = nn.Linear(d, big_d).double()
        want = feature_distillation_loss(student, teacher, lift).detach()
        what = f"feature_loss on {n} sentences, d={d}, D={big_d}"
        got = _call(fn, student, teacher, lift, what=what)
        value = expect_number(got, what)
        if abs(value - float(want) * big_d) < 1e-6 * big_d and big_d > 1:
            raise WrongAnswer(
                f"{what} is {value:.6g}, {big_d} times the expected "
                f"{float(want):.6g}. Hint: that is the squared distance "
                f"per sentence; the loss averages over the D coordinates "
                f"too (LEALLA's β = 10³ is set for a mean).")
        expect_close(got, want, what, rtol=1e-5, hint=(
            "lift the student with feature_map, subtract the teacher and "
            "average the squared differences over rows and coordinates"))
        expect(isinstance(got, torch.Tensor) and got.requires_grad,
               f"{what} returned no tensor that carries a gradient: "
               f"compute it with torch operations on feature_map(student) "
               f"so that W can learn from it")
        got.backward()
        expect(teacher.grad is None or
               float(teacher.grad.abs().max()) == 0.0,
               "the gradient flows into the teacher's embeddings. Hint: "
               "the teacher is frozen, a constant target: use "
               "teacher.detach() in the loss")
    return ("Your loss equals labse_lite.distill.feature_distillation_loss "
            "and leaves the teacher alone. With W = 0 it equals 1/D for "
            "unit teacher rows, which is why β is in the thousands.")


@register("8.3")
def logit_loss(fn, largest) -> str:
    """``fn(sx, sy, tx, ty, temperature)`` is LEALLA's logit distillation
    (eq. 4); ``largest`` the largest value it can take for unit vectors at
    T = 100."""
    expect(callable(fn), "the answer should be the function logit_loss")
    temp = LEALLA_DEFAULTS["distill_temperature"]
    hint = ("score every query against every candidate (sx @ sy.T and "
            "tx @ ty.T), divide each similarity by T, and average the "
            "squared differences over all B x B entries")
    for seed, (b, d, big_d, t) in enumerate([(6, 8, 16, temp),
                                             (5, 4, 12, 1.0),
                                             (8, 16, 16, 10.0)]):
        sx, sy = _unit(b, d, seed), _unit(b, d, 10 + seed)
        tx, ty = _unit(b, big_d, 20 + seed), _unit(b, big_d, 30 + seed)
        want = logit_distillation_loss(sx, sy, tx, ty, t)
        what = f"logit_loss(sx, sy, tx, ty, temperature={t})"
        got = _call(fn, sx, sy, tx, ty, t, what=what)
        value = expect_number(got, what)
        if t != 1.0 and abs(value - float(want) * t) < 1e-9 * t:
            raise WrongAnswer(
                f"{what} is {value:.6g}, T = {t} times the expected "
                f"{float(want):.6g}. Hint: T divides each similarity, "
                f"so the squared difference carries 1/T², not 1/T.")
        expect_close(got, want, what, rtol=1e-5, atol=1e-12, hint=hint)
    # Same relations, different spaces: a teacher in a d-dim subspace of
    # D, rotated; the student the same rows in d dimensions, rotated.
    b, d, big_d = 6, 8, 16
    x, y = _unit(b, d, 41), _unit(b, d, 42)
    q_small = torch.linalg.qr(_unit(d, d, 43))[0]
    q_big = torch.linalg.qr(_unit(big_d, big_d, 44))[0]
    pad = torch.zeros(b, big_d - d, dtype=x.dtype)
    tx = torch.cat([x, pad], 1) @ q_big
    ty = torch.cat([y, pad], 1) @ q_big
    what = ("logit_loss of a student whose similarities equal the "
            "teacher's (other dimension, rotated)")
    got = expect_number(_call(fn, x @ q_small, y @ q_small, tx, ty, temp,
                              what=what), what)
    expect(abs(got) < 1e-12,
           f"{what} is {got:.3g}, expected 0: the loss compares only the "
           f"B x B similarity matrices, never the embeddings themselves, "
           f"so it must vanish when they agree. Hint: {hint}")
    # The largest value: every student similarity +1, every teacher's -1.
    u = _unit(1, 4, 7).expand(3, 4)
    bound = float(logit_distillation_loss(u, u, u, -u, temp))
    value = expect_number(largest, "largest")
    if abs(value - bound) > 1e-3 * bound:
        if abs(value - 2 / temp) < 1e-9:
            why = "that is the largest difference, before it is squared."
        elif abs(value - 1 / temp ** 2) < 1e-12:
            why = ("two cosines can differ by 2 (one +1, the other -1), "
                   "not by 1.")
        elif abs(value - 4 / temp) < 1e-9:
            why = "each similarity is divided by T, so the square has T²."
        else:
            why = ("a cosine lies in [-1, 1], so S/T lies in [-1/T, 1/T]; "
                   "how far apart can two such entries be?")
        raise WrongAnswer(f"largest = {value:.6g}, but the loss can reach "
                          f"{bound:.6g} at T = {temp:g}. Hint: {why}")
    gamma = LEALLA_DEFAULTS["logit_weight"]
    return (f"Your loss equals labse_lite.distill.logit_distillation_loss, "
            f"vanishes when the similarities agree, and is at most "
            f"{bound:.0e}; at γ = {gamma:g} the weighted term can never "
            f"exceed {gamma * bound:.0e}, next to an AMS loss of several "
            f"units.")
