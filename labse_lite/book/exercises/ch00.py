"""Checkers of chapter 00's exercises (retrieval by cosine, and P@1)."""

from __future__ import annotations

import numpy as np
import torch

from ..grading import WrongAnswer, expect, expect_close, register


def _vectors(
    rows: int, dim: int, seed: int, spread: float = 1.0
) -> torch.Tensor:
    """Random directions with lengths spread over orders of magnitude (so
    that a raw dot product and a cosine disagree)."""
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(rows, dim, generator=g)
    lengths = torch.exp(spread * torch.randn(rows, 1, generator=g))
    return v * lengths


def _cosines(queries: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """Cosine of every query with every candidate, from the definition
    cos(u, v) = u·v / (|u| |v|), in float64."""
    q, c = queries.double(), candidates.double()
    dots = q @ c.T  # (Q, C)
    return dots / (q.norm(dim=1)[:, None] * c.norm(dim=1)[None, :])


def _indices(value, what: str) -> np.ndarray:
    if value is None:
        raise WrongAnswer(
            f"{what} is None: did the function forget to `return` its result?"
        )
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise WrongAnswer(
            f"{what} should be a tensor or a list of "
            f"candidate indices, got {type(value).__name__}"
        ) from None


@register("0.1")
def nearest_by_cosine(fn) -> str:
    """``fn(queries, candidates)`` returns, for every query row, the index
    of the candidate row with the largest cosine."""
    expect(callable(fn), "the answer should be the function `nearest`")
    cases = [
        (
            _vectors(5, 8, seed, spread=1.0),
            _vectors(7, 8, 50 + seed, spread=1.0),
        )
        for seed in range(4)
    ]
    # unit rows: here cosine and dot product must agree
    unit = _vectors(6, 4, 9)
    cases.append(
        (
            unit[:3] / unit[:3].norm(dim=1, keepdim=True),
            unit / unit.norm(dim=1, keepdim=True),
        )
    )
    for queries, candidates in cases:
        want = _cosines(queries, candidates).argmax(dim=1).numpy()
        got = _indices(
            fn(queries.clone(), candidates.clone()),
            "nearest(queries, candidates)",
        )
        if got.shape != want.shape:
            raise WrongAnswer(
                f"nearest(queries, candidates) for {len(queries)} queries "
                f"and {len(candidates)} candidates has shape {got.shape}; "
                f"expected one candidate index per query, shape "
                f"{want.shape}. Hint: take the argmax of the (Q, C) cosine "
                f"matrix along the candidates (dim=1)."
            )
        if np.array_equal(got, want):
            continue
        raw = (queries @ candidates.T).argmax(dim=1).numpy()
        hint = (
            "normalise every row to unit length first; then the dot "
            "product of two rows is their cosine"
        )
        if np.array_equal(got, raw):
            hint = (
                "these are the nearest candidates by the raw dot "
                "product, which prefers long vectors. Normalise every "
                "row (queries and candidates) to unit length first"
            )
        raise WrongAnswer(
            f"nearest(queries, candidates) returned {got.astype(int)}, "
            f"the nearest candidates by cosine are {want}. Hint: {hint}."
        )
    return (
        "On unit vectors the dot product is the cosine, so retrieval "
        "is one matrix product and an argmax per row, the same "
        "computation as labse_lite.evaluate.retrieval_accuracy."
    )


def _p_at_1(scores: torch.Tensor) -> float:
    """Fraction of rows whose largest score is on the diagonal."""
    hits = [int(np.argmax(row)) == i for i, row in enumerate(scores.numpy())]
    return sum(hits) / len(hits)


@register("0.2")
def precision_at_one(fn) -> str:
    """``fn(scores)``: P@1 of a square score matrix whose gold candidates
    are on the diagonal (row i is query i)."""
    expect(callable(fn), "the answer should be the function `precision_at_1`")
    cases = []
    for seed, (n, boost) in enumerate(
        [(4, 0.5), (6, 1.0), (10, 0.8), (8, 0.0), (5, 3.0)]
    ):
        g = torch.Generator().manual_seed(seed)
        cases.append(
            torch.randn(n, n, generator=g, dtype=torch.float64)
            + boost * torch.eye(n, dtype=torch.float64)
        )
    for scores in cases:
        want = _p_at_1(scores)
        got = fn(scores.clone())
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        by_columns = _p_at_1(scores.T.contiguous())
        hint = (
            "count the rows whose argmax (over dim=1) is the row's "
            "own index, then divide by the number of rows"
        )
        try:
            value = float(got)
        except (TypeError, ValueError):
            value = None
        if value is not None and abs(value - 100 * want) < 1e-4 and want > 0:
            hint = "report P@1 as a fraction between 0 and 1, not in percent"
        elif (
            value is not None
            and abs(value - by_columns) < 1e-6
            and abs(by_columns - want) > 1e-6
        ):
            hint = (
                "you took the argmax over dim=0, i.e. for every "
                "candidate the best query: that is the reverse "
                "direction (y→x). Row i is query i: take the argmax "
                "of each row"
            )
        expect_close(
            got,
            want,
            f"precision_at_1 of a {len(scores)}×{len(scores)} score matrix",
            rtol=0,
            atol=1e-6,
            hint=hint + ".",
        )
    return (
        "P@1 counts a query as right only when its own translation "
        "beats every other candidate; random scores give about 1/N, "
        "which is why a bigger candidate pool makes the task harder."
    )
