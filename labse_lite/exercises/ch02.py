"""Checkers of chapter 02's exercises (the dual encoder and the AMS loss)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..grading import expect, expect_close, register
from ..losses import ams_one_direction


def _unit(rows: int, dim: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(rows, dim, generator=g, dtype=torch.float64),
                       dim=-1)


@register("2.1")
def one_direction_loss(fn) -> str:
    """``fn(x, y, margin, scale)`` is the x→y additive margin softmax
    loss, averaged over the batch."""
    expect(callable(fn), "the answer should be the function one_direction")
    for seed, (margin, scale) in enumerate([(0.3, 10.0), (0.0, 10.0),
                                            (0.5, 1.0), (0.2, 30.0)]):
        x, y = _unit(8, 16, seed), _unit(8, 16, 100 + seed)
        y = F.normalize(y + 2 * x, dim=-1)   # row i of y is near x_i
        want = ams_one_direction(x, y, margin, scale)
        hint = ("subtract the margin from the diagonal scores only, "
                "multiply every score by the scale, then take the mean of "
                "-log softmax over each row")
        if margin == 0.0:
            hint = "with m = 0 this is cross-entropy on s·x·yᵀ"
        expect_close(fn(x, y, margin, scale), want,
                     f"one_direction(x, y, margin={margin}, scale={scale})",
                     rtol=1e-5, hint=hint)
    return ("Your loss equals labse_lite.losses.ams_one_direction on four "
            "batches, margin 0 included.")
