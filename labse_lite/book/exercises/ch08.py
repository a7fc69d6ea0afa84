"""Checkers of chapter 08's exercises (LEALLA's lightweight students:
parameter counts, the best feature map, widths of equal budget)."""

from __future__ import annotations

import torch

from ...distill import non_embedding_parameters
from ...model import MODEL_PRESETS, bert_config
from ..grading import (
    NotAttempted,
    WrongAnswer,
    expect,
    expect_number,
    register,
)

# LaBSE's custom WordPiece vocabulary (Feng et al., 2022), which the
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
        raise WrongAnswer(
            f"{what} raised {type(err).__name__}: {err}"
        ) from None


def _package_count(layers: int, hidden: int, heads: int, ffn: int) -> int:
    """The package's count for an encoder of this shape (the BertModel
    that ``DualEncoder.from_config`` builds; no pooler)."""
    from transformers import BertModel

    config = bert_config(
        32,
        None,
        num_hidden_layers=layers,
        hidden_size=hidden,
        num_attention_heads=heads,
        intermediate_size=ffn,
    )
    return non_embedding_parameters(BertModel(config, add_pooling_layer=False))


@register("8.1")
def count_parameters(fn) -> str:
    """``fn(layers, hidden, ffn)`` is the non-embedding parameter count of
    a BERT encoder of that shape, as ``non_embedding_parameters`` counts."""
    expect(callable(fn), "the answer should be the function non_embedding")
    lealla = MODEL_PRESETS["lealla-small"]
    shapes = [
        (2, 64, 2, 256),
        (4, 45, 3, 180),
        (1, 90, 3, 360),
        (3, 48, 4, 100),
        (
            lealla["num_hidden_layers"],
            lealla["hidden_size"],
            lealla["num_attention_heads"],
            lealla["intermediate_size"],
        ),
    ]
    for layers, h, heads, f in shapes:
        want = _package_count(layers, h, heads, f)
        got = expect_number(
            _call(fn, layers, h, f, what=f"non_embedding({layers}, {h}, {f})"),
            f"non_embedding({layers}, {h}, {f})",
        )
        if got == want:
            continue
        per_layer = 4 * h * h + 2 * h * f + 9 * h + f
        textbook = layers * (12 * h * h + 13 * h)
        if got in (textbook, textbook + 2 * h) and f != 4 * h:
            hint = (
                "you assumed an FFN of 4h; this shape has d_ff = "
                f"{f}, so use 4h² + 2h·d_ff + 9h + d_ff per layer"
            )
        elif got == layers * (4 * h * h + 2 * h * f):
            hint = (
                "that counts the weight matrices only: add the biases "
                "(4h for attention, d_ff + h for the FFN) and two "
                "LayerNorms per layer (2h each)"
            )
        elif got == want - 2 * h:
            hint = (
                "the LayerNorm after the embedding sum (2h: a gain "
                "and a bias per coordinate) is not a table: count it"
            )
        elif got == want + h * h + h:
            hint = "the students have no pooler (h² + h): leave it out"
        elif got == layers * per_layer + 2 * h * layers:
            hint = "the embedding LayerNorm occurs once, not once per layer"
        else:
            hint = (
                "per layer: the query, key, value and output maps (4h² "
                "weights, 4h biases), the FFN (2h·d_ff weights, d_ff + h "
                "biases), two LayerNorms (4h); plus 2h once for the "
                "embedding LayerNorm"
            )
        raise WrongAnswer(
            f"non_embedding({layers}, {h}, {f}) returned "
            f"{got:,.0f}, the package counts {want:,}. "
            f"Hint: {hint}."
        )
    layers, h = lealla["num_hidden_layers"], lealla["hidden_size"]
    body = _package_count(
        layers, h, lealla["num_attention_heads"], lealla["intermediate_size"]
    )
    table = LABSE_VOCAB * h
    return (
        f"Your count matches the package on five shapes. LEALLA-small "
        f"({layers} x {h}) has {body / 1e6:.1f}M parameters outside "
        f"its embeddings and {table / 1e6:.1f}M in its {LABSE_VOCAB:,}"
        f"-token table: {100 * table / (table + body):.0f}% of the "
        f"total is a lookup that costs no compute per token."
    )


def _affine_fit(student: torch.Tensor, teacher: torch.Tensor):
    """The least-squares (W, b): teacher ≈ student Wᵀ + b."""
    ones = torch.ones(len(student), 1, dtype=student.dtype)
    coef = torch.linalg.lstsq(torch.cat([student, ones], 1), teacher).solution
    return coef[:-1].T, coef[-1]  # (D, d), (D,)


def _feature_mse(student, teacher, w, b) -> float:
    return float(((student @ w.T + b - teacher) ** 2).mean())


def _teacher_cloud(n: int, big_d: int, seed: int) -> torch.Tensor:
    """(n, D) points with a mean away from 0 and a decaying spectrum."""
    g = torch.Generator().manual_seed(seed)
    scales = 0.9 ** torch.arange(big_d, dtype=torch.float64)
    rot = torch.linalg.qr(
        torch.randn(big_d, big_d, generator=g, dtype=torch.float64)
    )[0]
    x = torch.randn(n, big_d, generator=g, dtype=torch.float64) * scales
    return x @ rot.T + torch.randn(big_d, generator=g, dtype=torch.float64)


@register("8.2")
def best_map(fn) -> str:
    """``fn(student, teacher)`` is the (W, b) that minimises the feature
    loss mean((t - (W s + b))²) over the rows and coordinates."""
    expect(callable(fn), "the answer should be the function best_map")
    for seed, (n, d, big_d) in enumerate(
        [(40, 3, 8), (60, 5, 12), (30, 8, 8)]
    ):
        teacher = _teacher_cloud(n, big_d, seed)
        g = torch.Generator().manual_seed(100 + seed)
        student = torch.randn(n, d, generator=g, dtype=torch.float64) + 2.0
        what = f"best_map on {n} sentences, d={d}, D={big_d}"
        got = _call(fn, student.clone(), teacher.clone(), what=what)
        expect(
            isinstance(got, (tuple, list)) and len(got) == 2,
            f"{what} should return a pair (W, b), got {got!r:.80}",
        )
        w, b = (torch.as_tensor(v, dtype=torch.float64) for v in got)
        if tuple(w.shape) == (d, big_d) and d != big_d:
            raise WrongAnswer(
                f"{what}: W has shape {tuple(w.shape)}; it "
                f"maps the student's d = {d} numbers to the "
                f"teacher's D = {big_d}, so its shape is "
                f"(D, d), as nn.Linear(d, D).weight"
            )
        expect(
            tuple(w.shape) == (big_d, d) and tuple(b.shape) == (big_d,),
            f"{what}: W should have shape ({big_d}, {d}) and b "
            f"({big_d},), got {tuple(w.shape)} and {tuple(b.shape)}",
        )
        best = _feature_mse(student, teacher, *_affine_fit(student, teacher))
        value = _feature_mse(student, teacher, w, b)
        if value <= best * (1 + 1e-8) + 1e-12:
            continue
        hint = (
            "append a column of ones to the student so that b is "
            "fitted with W, then solve the least-squares problem "
            "(torch.linalg.lstsq); or centre both sides, fit W on the "
            "centred data, and set b = mean(t) - W mean(s)"
        )
        if float(b.abs().max()) == 0.0:
            hint = (
                "b is zero: the teacher's points are not centred at "
                "the origin and neither is the student's, so the "
                "map needs its bias (nn.Linear has one)"
            )
        raise WrongAnswer(
            f"{what}: your map leaves a feature loss of "
            f"{value:.6g}, the best affine map {best:.6g}. "
            f"Hint: {hint}."
        )
    # What the best map can do, for students of d < D dimensions.
    n, d, big_d = 400, 4, 16
    teacher = _teacher_cloud(n, big_d, 7)
    centred = teacher - teacher.mean(0)
    eig = torch.linalg.eigvalsh(centred.T @ centred / n)  # ascending
    floor = float(eig[: big_d - d].sum()) / big_d
    g = torch.Generator().manual_seed(8)
    random_student = torch.randn(n, d, generator=g, dtype=torch.float64)
    top = torch.linalg.svd(centred, full_matrices=False)[2][:d]  # (d, D)
    pca_student = centred @ top.T  # (n, d)
    losses = {}
    for name, student in (("random", random_student), ("pca", pca_student)):
        w, b = (
            torch.as_tensor(v, dtype=torch.float64)
            for v in _call(fn, student, teacher, what="best_map")
        )
        losses[name] = _feature_mse(student, teacher, w, b)
    total = float(eig.sum()) / big_d
    return (
        f"Your map is the least-squares one. For a teacher in "
        f"D = {big_d} dimensions, with {n} points, the best map from "
        f"a random {d}-dimensional student leaves {losses['random']:.4f}"
        f" (the teacher's variance per coordinate: {total:.4f}); from "
        f"the teacher's top {d} principal coordinates, "
        f"{losses['pca']:.4f}, which equals the floor {floor:.4f} that "
        f"no {d}-dimensional student can pass (the variance of the "
        f"{big_d - d} weakest directions).  At its optimum the feature "
        f"term asks the student to keep the teacher's strongest "
        f"directions, in any basis: W is thrown away after training."
    )


def _encoder_count(layers: int, h: int) -> int:
    """Non-embedding parameters with d_ff = 4h (chapter's formula, plus the
    embedding LayerNorm)."""
    return layers * (12 * h * h + 13 * h) + 2 * h


def _widest(layers: int, budget: int) -> int:
    h = 0
    while _encoder_count(layers, h + 1) <= budget:
        h += 1
    return h


@register("8.3")
def width_for_budget(fn) -> str:
    """``fn(layers, budget)`` is the largest width h (d_ff = 4h) whose
    encoder of ``layers`` layers has at most ``budget`` non-embedding
    parameters."""
    expect(callable(fn), "the answer should be the function widest")
    lealla = MODEL_PRESETS["lealla-small"]
    budget = _encoder_count(lealla["num_hidden_layers"], lealla["hidden_size"])
    cases = [
        (24, budget),
        (4, budget),
        (1, budget),
        (2, 100_000),
        (3, _encoder_count(3, 50)),
        (3, _encoder_count(3, 50) - 1),
        (6, _encoder_count(6, 81) - 1),
        (12, 20),
        (1, 27),
    ]
    for layers, n in cases:
        want = _widest(layers, n)
        what = f"widest({layers}, {n:,})"
        got = expect_number(_call(fn, layers, n, what=what), what)
        if got == want:
            continue
        approx = (n / (12 * layers)) ** 0.5
        if got > want and _encoder_count(layers, int(got)) > n:
            hint = (
                f"an encoder of width {int(got)} has "
                f"{_encoder_count(layers, int(got)):,} parameters, "
                f"over the budget"
            )
            if int(got) in (int(approx), round(approx)):
                hint += (
                    "; √(N / 12L) drops the linear terms 13h per "
                    "layer and 2h once, which matter when h is small "
                    "or the budget falls just short of the next "
                    "width: solve the full quadratic"
                )
        elif got < want:
            fits = _encoder_count(layers, want)
            hint = (
                f"width {want} still fits ({fits:,} parameters): take "
                f"the largest h, i.e. the floor of the positive root "
                f"of 12L h² + (13L + 2) h - N = 0"
            )
        else:
            hint = "h must be a whole number of units"
        raise WrongAnswer(
            f"{what} returned {got:g}, expected {want}. Hint: {hint}."
        )
    widths = {layers: _widest(layers, budget) for layers in (1, 2, 4, 24)}
    shown = ", ".join(f"{layers} x {h}" for layers, h in widths.items())
    return (
        f"At LEALLA-small's budget of {budget / 1e6:.2f}M non-embedding "
        f"parameters the shapes {shown} cost the same: halving the "
        f"depth widens by about √2, as h ∝ 1/√L predicts.  (A real "
        f"encoder also needs h divisible by its number of heads.)"
    )
