"""Checkers of chapter 02's exercises (the dual encoder and the AMS loss)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ...losses import ams_one_direction
from ..grading import (
    expect,
    expect_choice,
    expect_close,
    expect_number,
    register,
    wrong_choice,
)
from ..grading import unit_rows as _unit


@register("2.1")
def one_direction_loss(fn) -> str:
    """``fn(x, y, margin, scale)`` is the x→y additive margin softmax
    loss, averaged over the batch."""
    expect(callable(fn), "the answer should be the function one_direction")
    for seed, (margin, scale) in enumerate(
        [(0.3, 10.0), (0.0, 10.0), (0.5, 1.0), (0.2, 30.0)]
    ):
        x, y = _unit(8, 16, seed), _unit(8, 16, 100 + seed)
        y = F.normalize(y + 2 * x, dim=-1)  # row i of y is near x_i
        want = ams_one_direction(x, y, margin, scale)
        hint = (
            "subtract the margin from the diagonal scores only, "
            "multiply every score by the scale, then take the mean of "
            "-log softmax over each row"
        )
        if margin == 0.0:
            hint = "with m = 0 this is cross-entropy on s·x·yᵀ"
        expect_close(
            fn(x, y, margin, scale),
            want,
            f"one_direction(x, y, margin={margin}, scale={scale})",
            rtol=1e-5,
            hint=hint,
        )
    return (
        "Your loss equals labse_lite.losses.ams_one_direction on four "
        "batches, margin 0 included."
    )


def _package_gradient(
    phi: torch.Tensor, margin: float, scale: float
) -> torch.Tensor:
    """∂L(x→y)/∂φ by autograd through the package's loss.  With the
    identity as queries, ``queries @ candidates.T`` is φ itself, so
    ``ams_one_direction`` sees exactly the score matrix ``phi``."""
    leaf = phi.detach().clone().requires_grad_(True)
    queries = torch.eye(len(leaf), dtype=leaf.dtype)
    ams_one_direction(queries, leaf.T, margin, scale).backward()
    return leaf.grad


def _formula(
    phi: torch.Tensor, margin: float, scale: float, *, with_margin: bool = True
) -> torch.Tensor:
    eye = torch.eye(len(phi), dtype=phi.dtype)
    shift = margin * eye if with_margin else 0.0
    p = torch.softmax(scale * (phi - shift), dim=1)
    return scale / len(phi) * (p - eye)


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return bool(torch.allclose(a, b, rtol=1e-5, atol=1e-9))


def _gradient_hint(got, phi, margin, scale) -> str:
    """Name the likely mistake when ``got`` matches a known wrong form."""
    try:
        got = torch.as_tensor(got, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return ""
    if got.shape != phi.shape:
        return ""
    want = _formula(phi, margin, scale)
    batch = len(phi)
    eye = torch.eye(batch, dtype=phi.dtype)
    p_back = torch.softmax(scale * (phi.T - margin * eye), dim=1)
    known = [
        (
            batch * want,
            "your gradient is B times too large: the loss is "
            "the MEAN over the B queries, so every entry carries 1/B",
        ),
        (
            -want,
            "the sign is flipped: the positive's entry must be "
            "negative (raising its score lowers the loss)",
        ),
        (
            want / scale,
            "the factor s is missing: the logits are s·φ', so "
            "the chain rule brings out s",
        ),
        (
            _formula(phi, margin, scale, with_margin=False),
            "p_ij must come from the margin-shifted logits s(φ_ij − m[j=i]); "
            "your p ignores the margin",
        ),
        (
            want + scale / batch * (p_back.T - eye),
            "that is the gradient of "
            "the bidirectional loss; the exercise asks for x→y only",
        ),
    ]
    for form, why in known:
        if _close(got, form):
            return why
    return (
        "G_ij = (s/B)(p_ij − [j=i]) with p the row-wise softmax of the "
        "margin-shifted, scaled scores"
    )


@register("2.2")
def score_gradient(fn) -> str:
    """``fn(phi, margin, scale)`` is ∂L(x→y)/∂φ for a (B, B) score
    matrix, from the formula (checked against autograd)."""
    expect(callable(fn), "the answer should be the function score_gradient")
    cases = [(4, 0.3, 10.0), (6, 0.0, 1.0), (8, 0.5, 20.0), (5, 0.3, 3.0)]
    for seed, (batch, margin, scale) in enumerate(cases):
        g = torch.Generator().manual_seed(200 + seed)
        phi = (
            2 * torch.rand(batch, batch, generator=g, dtype=torch.float64) - 1
        )
        phi = phi + 0.5 * torch.eye(batch, dtype=phi.dtype)  # (B, B)
        want = _package_gradient(phi, margin, scale)
        got = fn(phi.clone(), margin, scale)
        expect_close(
            got,
            want,
            f"score_gradient(phi of {batch}×{batch}, "
            f"margin={margin}, scale={scale})",
            rtol=1e-5,
            atol=1e-9,
            hint=_gradient_hint(got, phi, margin, scale),
        )
    return (
        "Your formula matches autograd on four score matrices.  Each "
        "row of G sums to zero: the pull on a positive equals the total "
        "push on its negatives, shared out in proportion to p_ij, so "
        "the negatives the model finds plausible get nearly all of it."
    )


def _floor(batch: int, scale: float, margin: float) -> float:
    """The smallest loss of one query: positive at cosine 1, every
    negative at −1."""
    return math.log1p((batch - 1) * math.exp(-scale * (2.0 - margin)))


def _smallest_scale(batch: int, target: float, margin: float) -> float:
    """The smallest s with _floor ≤ target, by bisection (the floor falls
    as s grows), independent of the closed form the student derives."""
    low, high = 0.0, 1.0
    while _floor(batch, high, margin) > target:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (
            (low, mid) if _floor(batch, mid, margin) <= target else (mid, high)
        )
    return high


def _scale_hint(got: float, batch: int, target: float, margin: float) -> str:
    """Name the likely mistake in a min_scale answer."""
    exact = math.log((batch - 1) / math.expm1(target))
    gaps = [
        (
            1.0,
            "the exponent lost its gap: a negative at −1 and the "
            "positive at 1 − m are 2 − m apart, so the floor has "
            "e^{−s(2−m)}, not e^{−s}",
        ),
        (
            1.0 - margin,
            "you took the gap as 1 − m; the negatives can "
            "reach −1, so the gap is (1 − m) − (−1) = 2 − m",
        ),
        (
            2.0,
            "your answer ignores the margin: the positive's best "
            "score is 1 − m, so the best gap to a negative is 2 − m",
        ),
    ]
    for gap, why in gaps:
        if gap != 2.0 - margin and math.isclose(
            got, exact / gap, rel_tol=1e-6
        ):
            return why
    if math.isclose(
        got, math.log((batch - 1) / target) / (2.0 - margin), rel_tol=1e-6
    ):
        return (
            "close, but you approximated log(1 + a) by a; invert the "
            "logarithm exactly: 1 + a = e^target"
        )
    return (
        "solve log(1 + (B−1)e^{−s(2−m)}) = target for s: exponentiate, "
        "isolate e^{−s(2−m)}, take the logarithm"
    )


_DOUBLING = {
    "a": "doubles",
    "b": "grows by about log(2)/2",
    "c": "grows by about log(2)",
    "d": "stays the same",
}


@register("2.3")
def smallest_scale(fn, doubling_effect) -> str:
    """``fn(batch, target, margin)`` is the smallest scale whose loss floor
    log(1 + (B−1)e^{−s(2−m)}) is at most ``target``; ``doubling_effect``
    predicts what doubling the batch does to it."""
    expect(callable(fn), "the first answer should be the function min_scale")
    cases = [
        (128, 1e-3, 0.0),
        (128, 1e-2, 0.3),
        (4096, 1e-3, 0.3),
        (32, 0.1, 0.0),
        (1024, 1e-4, 0.5),
    ]
    for batch, target, margin in cases:
        want = _smallest_scale(batch, target, margin)
        got = expect_number(
            fn(batch, target, margin),
            f"min_scale({batch}, {target}, {margin})",
        )
        hint = _scale_hint(got, batch, target, margin)
        expect_close(
            got,
            want,
            f"min_scale({batch}, {target}, {margin})",
            rtol=1e-6,
            atol=1e-9,
            hint=hint,
        )
    expect_choice(doubling_effect, sorted(_DOUBLING), "doubling_effect")
    before = _smallest_scale(128, 1e-3, 0.0)
    after = _smallest_scale(256, 1e-3, 0.0)
    measured = {"a": before, "b": math.log(2) / 2, "c": math.log(2), "d": 0.0}
    right = min(measured, key=lambda k: abs(measured[k] - (after - before)))
    if doubling_effect != right:
        wrong_choice(
            "doubling_effect",
            doubling_effect,
            hint=(
                "the batch enters the floor only through log(B − 1), "
                "divided by 2 − m: what does doubling B do to "
                "log(B − 1) when B is large?"
            ),
            answer=(
                f"measured from 128 to 256 pairs the smallest scale "
                f"goes from {before:.3f} to {after:.3f}, up by "
                f"{after - before:.3f}, so it {_DOUBLING[right]} "
                f"({right!r})."
            ),
        )
    paper = _floor(4096, 10.0, 0.3)
    return (
        f"The scale needs to grow only with log B: even at LaBSE's "
        f"batch of 4096 and margin 0.3, the paper's s = 10 allows a "
        f"floor of {paper:.1e} nats, far below any loss a real model "
        f"reaches, while s = 1 could never get near zero."
    )
