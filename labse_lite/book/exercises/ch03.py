"""Checkers of chapter 03's exercises (why and when the margin helps)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..grading import (
    expect,
    expect_choice,
    expect_close,
    expect_number,
    register,
    wrong_choice,
)


def _positive_gradient(
    phi: torch.Tensor, margin: float, scale: float
) -> float:
    """d(-log softmax)/d phi[0] by autograd, the positive at index 0."""
    phi = phi.detach().clone().double().requires_grad_(True)
    shift = torch.zeros_like(phi)
    shift[0] = margin
    loss = -torch.log_softmax(scale * (phi - shift), dim=0)[0]
    loss.backward()
    return float(phi.grad[0])


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-7)


def _rows() -> list[torch.Tensor]:
    """Score rows of one query (translation first): easy, hard, random."""
    g = torch.Generator().manual_seed(3)
    rows = [
        torch.tensor([0.9, 0.1, 0.0, -0.2, 0.05]),
        torch.tensor([0.5, 0.45, 0.5, 0.4, 0.48]),
    ]
    for size in (4, 16, 64):
        rows.append(torch.rand(size, generator=g) * 2 - 1)
    return [r.double() for r in rows]


@register("3.1")
def positive_gradient(fn) -> str:
    """``fn(phi, margin, scale)`` is d l / d phi[0] for one query whose
    cosine scores are ``phi`` (translation at index 0)."""
    expect(callable(fn), "the answer should be the function positive_gradient")
    for phi in _rows():
        for margin, scale in ((0.3, 10.0), (0.0, 10.0), (0.5, 20.0)):
            want = _positive_gradient(phi, margin, scale)
            got = expect_number(
                fn(phi.clone(), margin, scale),
                f"positive_gradient(phi, {margin}, {scale})",
            )
            hint = (
                "∂ℓ/∂φ_ii = −s(1 − p_ii), with p_ii the softmax "
                "probability of the margin-lowered logit "
                "s(φ_ii − m) among the logits of the whole row"
            )
            if _close(got, -want) and not _close(got, want):
                hint = (
                    "the sign: raising the translation's score lowers "
                    "the loss, so the derivative is negative"
                )
            elif margin > 0 and _close(
                got, _positive_gradient(phi, 0.0, scale)
            ):
                hint = (
                    "this is the gradient without the margin: p_ii "
                    "must come from the margin-lowered logit "
                    "s(φ_ii − m), not from s·φ_ii"
                )
            elif _close(got * scale, want):
                hint = (
                    "multiply by s: the logits are s times the "
                    "scores, so each derivative carries a factor s"
                )
            elif _close(got, -scale - want):
                hint = "it is −s(1 − p_ii), not −s·p_ii"
            expect_close(
                got,
                want,
                f"positive_gradient(phi, margin="
                f"{margin}, scale={scale}) on a row of "
                f"{len(phi)} scores",
                rtol=1e-4,
                atol=1e-7,
                hint=hint,
            )
    easy, hard = _rows()[:2]
    margin, scale = 0.3, 10.0
    ratio = [
        _positive_gradient(r, margin, scale)
        / _positive_gradient(r, 0.0, scale)
        for r in (easy, hard)
    ]
    return (
        f"At s = {scale:g}, m = {margin} the margin multiplies the "
        f"pull on the positive by {ratio[0]:.1f} on the easy row and "
        f"by only {ratio[1]:.2f} on the hard one (the ceiling is "
        f"e^(sm) = {math.exp(scale * margin):.1f}): it matters once "
        f"the negatives are easy."
    )


# Exercise 3.2: one query, batch - 1 negatives of equal score.
GAP_PROBLEM = dict(batch=64, scale=10.0, margin=0.3, target=0.1)


def _loss_at_gap(gap: float, batch: int, scale: float, margin: float) -> float:
    phi = torch.zeros(batch, dtype=torch.float64)
    phi[0] = gap  # negatives at 0, translation above
    shift = torch.zeros_like(phi)
    shift[0] = margin
    return float(-torch.log_softmax(scale * (phi - shift), dim=0)[0])


def _smallest_gap(
    batch: int, scale: float, margin: float, target: float
) -> float:
    """Bisection on the loss itself (no closed form)."""
    lo, hi = -2.0, 4.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if _loss_at_gap(mid, batch, scale, margin) > target:
            lo = mid
        else:
            hi = mid
    return hi


@register("3.2")
def smallest_gap(gap_with_margin, gap_without_margin) -> str:
    """The smallest gap phi_ii - phi_ij (all negatives equal) that brings
    the loss of one query down to the target, with and without margin."""
    p = GAP_PROBLEM
    got_m = expect_number(gap_with_margin, "gap_with_margin")
    got_0 = expect_number(gap_without_margin, "gap_without_margin")
    want_m = _smallest_gap(p["batch"], p["scale"], p["margin"], p["target"])
    want_0 = _smallest_gap(p["batch"], p["scale"], 0.0, p["target"])
    n, s, eps = p["batch"] - 1, p["scale"], p["target"]
    mistakes = {
        "the 1 inside log(1 + u) was dropped: log u = ε gives u = e^ε, "
        "but the loss is small only when u itself is small, since "
        "log(1 + u) ≈ u": (math.log(n) - eps) / s,
        "there are B − 1 negatives, not B": math.log((n + 1) / math.expm1(eps))
        / s,
        "solve log(1 + u) = ε exactly: u = e^ε − 1, not ε": math.log(n / eps)
        / s,
    }
    for got, want, name, margin in (
        (got_0, want_0, "gap_without_margin", 0.0),
        (got_m, want_m, "gap_with_margin", p["margin"]),
    ):
        hint = (
            "write the loss as log(1 + (B − 1)·e^(−s(g − m))) and "
            "solve loss = ε for g"
        )
        for why, value in mistakes.items():
            if abs(got - (value + margin)) < 1e-4:
                hint = why
        if margin and abs(got - want_0) < 1e-3:
            hint = (
                "this is the gap without margin: the margin raises "
                "the gap needed for the same loss"
            )
        elif margin and abs(got_0 - want_0) < 1e-3:
            hint = (
                "the margin only shifts g by m inside the exponent, "
                "so the two gaps differ by exactly m"
            )
        expect_close(
            got,
            want,
            f"{name} (B = {p['batch']}, s = {s}, "
            f"m = {margin}, target ε = {eps})",
            rtol=0,
            atol=1e-3,
            hint=hint,
        )
    check_loss = _loss_at_gap(got_m, p["batch"], s, p["margin"])
    return (
        f"At a gap of {got_m:.3f} the loss is {check_loss:.3f}: the "
        f"translation must beat every negative by m = {p['margin']} "
        f"plus {want_0:.3f} (= ln((B−1)/(e^ε−1))/s), a few 1/s."
    )


# Exercise 3.3: translation pairs as free unit vectors on a circle.
TOY_SEEDS = (0, 1, 2)
TOY_STEPS = 200
TOY_SAME = 0.05  # "same": mean gaps within this of each other


def _toy_gaps(pairs: int, margins: tuple[float, ...]) -> list[float]:
    """Mean gap φ_ii − max_{j≠i} φ_ij after TOY_STEPS steps of plain SGD
    on the bidirectional loss (s = 10), embeddings in 2-D, averaged over
    TOY_SEEDS; one value per margin.  All runs train at once: a stack of
    independent problems whose losses are summed (so each gets its own
    gradient)."""
    starts = []
    for seed in TOY_SEEDS:
        g = torch.Generator().manual_seed(seed)
        y = torch.randn(pairs, 2, generator=g, dtype=torch.float64)
        starts.append(
            (
                y
                + 0.5
                * torch.randn(pairs, 2, generator=g, dtype=torch.float64),
                y,
            )
        )
    runs = [(m, x, y) for m in margins for x, y in starts]
    m = torch.tensor([r[0] for r in runs], dtype=torch.float64)
    x = torch.stack([r[1] for r in runs]).requires_grad_(True)  # (R, B, 2)
    y = torch.stack([r[2] for r in runs]).requires_grad_(True)  # (R, B, 2)
    eye = torch.eye(pairs, dtype=torch.float64)
    labels = torch.arange(pairs).repeat(len(runs))
    opt = torch.optim.SGD([x, y], lr=0.2)

    def scores():
        return F.normalize(x, dim=-1) @ F.normalize(y, dim=-1).transpose(
            1, 2
        )  # (R, B, B)

    for _ in range(TOY_STEPS):
        opt.zero_grad()
        logits = 10.0 * (scores() - m[:, None, None] * eye)  # (R, B, B)
        loss = (
            F.cross_entropy(logits.reshape(-1, pairs), labels)
            + F.cross_entropy(
                logits.transpose(1, 2).reshape(-1, pairs), labels
            )
        ) * len(runs)
        loss.backward()
        opt.step()
    with torch.no_grad():
        phi = scores()
        others = phi - 3.0 * eye
        gaps = (phi.diagonal(dim1=1, dim2=2) - others.max(dim=2).values).mean(
            dim=1
        )  # (R,)
    return gaps.reshape(len(margins), len(TOY_SEEDS)).mean(dim=1).tolist()


def _toy_verdict(pairs: int) -> tuple[str, float, float]:
    plain, margin = _toy_gaps(pairs, (0.0, 0.3))
    if margin - plain > TOY_SAME:
        return "0.3", plain, margin
    if plain - margin > TOY_SAME:
        return "0", plain, margin
    return "same", plain, margin


def _as_choice(got, what: str) -> str:
    if isinstance(got, (int, float)) and not isinstance(got, bool):
        got = {0.0: "0", 0.3: "0.3"}.get(float(got), got)
    if isinstance(got, str):
        got = got.strip().lower()
        got = {"0.0": "0", ".3": "0.3", "0.30": "0.3"}.get(got, got)
    expect_choice(got, ["0", "0.3", "same"], what)
    return got


@register("3.3")
def predict_the_gap(roomy, crowded) -> str:
    """Predictions ("0", "0.3" or "same") of which margin leaves the larger
    mean gap on the toy problem with 3 pairs (roomy) and 8 (crowded)."""
    roomy = _as_choice(roomy, "roomy")
    crowded = _as_choice(crowded, "crowded")
    notes = []
    for name, pairs, guess in (("roomy", 3, roomy), ("crowded", 8, crowded)):
        verdict, plain, margin = _toy_verdict(pairs)
        best = 1 - math.cos(2 * math.pi / pairs)
        measured = (
            f"with {pairs} pairs the mean gap after {TOY_STEPS} "
            f"steps is {plain:.3f} at m = 0 and {margin:.3f} at "
            f"m = 0.3 (the best the circle allows: {best:.3f})"
        )
        if guess != verdict:
            why = (
                "the circle has room for gaps well above m, so the m = "
                "0 loss goes quiet once its negatives are easy while "
                "the margin keeps pushing"
                if best > 0.3
                else "no arrangement reaches a gap of m: the negatives stay "
                "hard for both losses, both push at nearly full "
                "strength and end at the same best arrangement"
            )
            wrong_choice(
                name,
                guess,
                hint=(
                    f"{pairs} points on a circle: how large can the gap "
                    f"1 − cos(2π/{pairs}) between a positive and its "
                    f"nearest negative be, and is that more or less "
                    f"than the margin 0.3?  A loss stops pushing once "
                    f"its negatives are easy."
                ),
                answer=f"{measured}, i.e. {verdict!r}: {why}.",
            )
        notes.append(measured)
    return (
        "Measured: " + "; ".join(notes) + ". The margin helps where "
        "negatives can become easy, not where they stay hard."
    )
