"""The translation ranking loss with additive margin (Feng et al., 2022, §2).

For L2-normalised embeddings the score is φ(x, y) = x·y (cosine).  Eq. 3–4
subtract a margin ``m`` from the positive pair's score only and the scores
are multiplied by a scale ``s`` (footnote 11) before a softmax over the
in-batch candidates:

    L(x→y) = -(1/B) Σ_i log  e^{s(x_i·y_i − m)} /
                             (e^{s(x_i·y_i − m)} + Σ_{n≠i} e^{s x_i·y_n})

and the bidirectional loss **sums** the two directions (eq. 2):
L̄ = L(x→y) + L(y→x).  (sentence-transformers' symmetric loss averages them
instead; its default scale is 20.)

The candidates may be a larger set than the queries -- the global batch of
cross-device negative sampling (§3.3) -- in which case query ``i`` has its
positive at candidate ``offset + i``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["additive_margin_softmax_loss", "ams_one_direction"]


def _check(name: str, t: torch.Tensor) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t)}")
    if t.dim() != 2:
        raise ValueError(
            f"{name} must have shape (batch, dim), got {tuple(t.shape)}"
        )


def ams_one_direction(
    queries: torch.Tensor,
    candidates: torch.Tensor,
    margin: float,
    scale: float,
    offset: int = 0,
) -> torch.Tensor:
    """-(1/B) Σ_i log softmax_j(s·(q_i·c_j − m·[j = offset+i]))_{offset+i}.

    ``queries`` (B, D), ``candidates`` (C, D) with C ≥ B; returns a scalar.
    """
    batch = queries.shape[0]
    scores = queries @ candidates.T  # (B, C)
    labels = torch.arange(batch, device=queries.device) + offset  # (B,)
    # Subtract the margin from the positive score only (eq. 3).
    margin_mask = F.one_hot(labels, candidates.shape[0]).to(scores.dtype)
    logits = scale * (scores - margin * margin_mask)  # (B, C)
    return F.cross_entropy(logits, labels)


def additive_margin_softmax_loss(
    x: torch.Tensor,
    y: torch.Tensor,
    margin: float = 0.3,
    scale: float = 10.0,
    bidirectional: bool = True,
    *,
    x_candidates: torch.Tensor | None = None,
    y_candidates: torch.Tensor | None = None,
    offset: int = 0,
    check_normalized: bool = True,
) -> torch.Tensor:
    """Bidirectional additive margin softmax loss (eqs. 2–4).

    Args:
        x, y: (B, D) L2-normalised embeddings; row i of ``x`` translates row
            i of ``y``.
        margin: additive margin m ≥ 0 subtracted from positive scores.
        scale: multiplier s > 0 of the scores (the paper's 10).
        bidirectional: add the y→x direction (summed, not averaged).
        x_candidates, y_candidates: optional (C, D) candidate sets (e.g. the
            all-gathered global batch) that contain ``x``/``y`` at rows
            ``offset .. offset + B``; default: ``x`` and ``y`` themselves.
        offset: row of the first positive in the candidate sets.
        check_normalized: raise if rows are not unit-norm (tolerance 1e-2).

    Returns the scalar loss, averaged over the B queries of each direction.
    """
    _check("x", x)
    _check("y", y)
    if x.shape != y.shape:
        raise ValueError(
            f"x and y must have the same shape, got "
            f"{tuple(x.shape)} and {tuple(y.shape)}"
        )
    if not margin >= 0:  # also catches NaN
        raise ValueError(f"margin must be >= 0, got {margin}")
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    y_cand = y if y_candidates is None else y_candidates
    x_cand = x if x_candidates is None else x_candidates
    for name, cand in (("y_candidates", y_cand), ("x_candidates", x_cand)):
        _check(name, cand)
        if cand.shape[1] != x.shape[1]:
            raise ValueError(
                f"{name} has dim {cand.shape[1]}, queries have {x.shape[1]}"
            )
        if not 0 <= offset <= cand.shape[0] - x.shape[0]:
            raise ValueError(
                f"offset {offset} + batch {x.shape[0]} does not "
                f"fit in {cand.shape[0]} candidates"
            )
        if cand.shape[0] < 2:
            raise ValueError(
                "in-batch negatives need at least 2 candidates; with a "
                "single pair the softmax is over one score and the loss is "
                "identically 0 (use batch_size >= 2)"
            )
    with torch.no_grad():
        for name, t in (("x", x), ("y", y)):
            if not torch.isfinite(t).all():
                raise FloatingPointError(f"{name} contains NaN or inf")
            if check_normalized:
                norms = t.norm(dim=-1)
                if (norms - 1).abs().max() > 1e-2:
                    raise ValueError(
                        f"{name} is not L2-normalised (row norms in "
                        f"[{norms.min():.3g}, {norms.max():.3g}]); apply "
                        f"torch.nn.functional.normalize first"
                    )
    loss = ams_one_direction(x, y_cand, margin, scale, offset)
    if bidirectional:
        loss = loss + ams_one_direction(y, x_cand, margin, scale, offset)
    return loss
