"""The training objective as a weighted list of loss terms.

The one trainer (:func:`labse_lite.train.train`) minimises

    L = α·L_AMS + β·L_feature + γ·L_logit + δ·L_KD,

each term a module that owns what it needs: the AMS loss its margin, scale
and process group (cross-device negatives, §3.3); the feature-distillation
loss the trainable map W (d → D) and the teacher's embeddings (LEALLA,
eq. 3); the logit loss its temperature (eq. 4); multilingual KD the
teacher's English embeddings (Reimers & Gurevych).  A new objective is a
new term, not a new loop.  Every term sees the same :class:`Batch`: this
rank's student embeddings and which pairs they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import distributed as dist_utils
from .distill import (
    feature_distillation_loss,
    logit_distillation_loss,
    multilingual_kd_loss,
)

__all__ = [
    "Batch",
    "LossTerm",
    "AMSTerm",
    "FeatureTerm",
    "LogitTerm",
    "KDTerm",
    "Objective",
    "build_objective",
]


@dataclass
class Batch:
    """What the loss terms see of one step on one rank."""

    x: torch.Tensor  # (B, d) non-English embeddings
    y: torch.Tensor  # (B, d) English embeddings
    local: np.ndarray  # (B,) this rank's pair indices
    rows: np.ndarray  # (W·B,) the global batch's
    negatives: torch.Tensor | None = None  # (B·h, d) mined hard negatives


class LossTerm(nn.Module):
    """One weighted term of the objective; ``forward`` returns it
    unweighted."""

    name = "term"

    def __init__(self, weight: float):
        super().__init__()
        self.weight = float(weight)

    def forward(self, batch: Batch) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


class AMSTerm(LossTerm):
    """The bidirectional additive margin softmax over the global batch
    (eqs. 1-4), with hard negatives as extra candidates when mined."""

    name = "ams"

    def __init__(self, weight, ctx, margin, scale, bidirectional=True):
        super().__init__(weight)
        self.ctx, self.margin, self.scale = ctx, margin, scale
        self.bidirectional = bidirectional

    def forward(self, batch: Batch) -> torch.Tensor:
        return dist_utils.global_batch_loss(
            batch.x,
            batch.y,
            ctx=self.ctx,
            margin=self.margin,
            scale=self.scale,
            bidirectional=self.bidirectional,
            extra_candidates=batch.negatives,
        )


class _TeacherTerm(LossTerm):
    """A term with targets from a frozen teacher's (N, D) embedding
    tables, looked up by pair index."""

    def __init__(self, weight, teacher_xx, teacher_en):
        super().__init__(weight)
        self.teacher_xx, self.teacher_en = teacher_xx, teacher_en

    def targets(self, rows, like: torch.Tensor, side: str = "en"):
        table = self.teacher_en if side == "en" else self.teacher_xx
        return table[rows].to(like.device)


class FeatureTerm(_TeacherTerm):
    """LEALLA eq. 3: MSE(teacher, W·student) on both sides of every pair.
    W is this term's parameter: it is trained with the student and is not
    part of the saved model."""

    name = "feature"

    def __init__(self, weight, teacher_xx, teacher_en, student_dim: int):
        super().__init__(weight, teacher_xx, teacher_en)
        self.feature_map = nn.Linear(student_dim, teacher_en.shape[1])

    def forward(self, batch: Batch) -> torch.Tensor:
        t_x = self.targets(batch.local, batch.x, "xx")
        t_y = self.targets(batch.local, batch.y, "en")
        return feature_distillation_loss(
            torch.cat([batch.x, batch.y]),
            torch.cat([t_x, t_y]),
            self.feature_map,
        )


class LogitTerm(_TeacherTerm):
    """LEALLA eq. 4: the in-batch similarity matrices of student and
    teacher, local queries against the all-gathered global batch."""

    name = "logit"

    def __init__(self, weight, teacher_xx, teacher_en, temperature):
        super().__init__(weight, teacher_xx, teacher_en)
        self.temperature = temperature

    def forward(self, batch: Batch) -> torch.Tensor:
        y_all = dist_utils.all_gather_with_grad(batch.y)  # (W·B, d)
        return logit_distillation_loss(
            batch.x,
            y_all,
            self.targets(batch.local, batch.x, "xx"),
            self.targets(batch.rows, batch.y, "en"),
            self.temperature,
        )


class KDTerm(_TeacherTerm):
    """Multilingual knowledge distillation: both sides of a pair regress
    onto the teacher's embedding of its English side."""

    name = "kd"

    def forward(self, batch: Batch) -> torch.Tensor:
        return multilingual_kd_loss(
            batch.y, batch.x, self.targets(batch.local, batch.y)
        )


class Objective(nn.Module):
    """The weighted sum of its terms; ``parts`` keeps the last step's
    unweighted terms for the log."""

    def __init__(self, terms: list[LossTerm]):
        super().__init__()
        self.terms = nn.ModuleList(t for t in terms if t.weight)
        self.parts: dict[str, float] = {}

    def forward(self, batch: Batch) -> torch.Tensor:
        total, parts = 0.0, {}
        for term in self.terms:
            value = term(batch)
            parts[term.name] = value
            total = total + term.weight * value
        self.parts = parts
        return total

    def log_parts(self) -> dict[str, float]:
        """The unweighted terms of the last step, when there are several
        (one term is the logged loss itself)."""
        if (
            len(self.terms) == 1
            and isinstance(self.terms[0], AMSTerm)
            and self.terms[0].weight == 1.0
        ):
            return {}
        return {f"loss_{k}": float(v.detach()) for k, v in self.parts.items()}


def build_objective(
    config, ctx, student_dim: int, teacher=(None, None)
) -> Objective:
    """The terms a :class:`~labse_lite.train.TrainConfig` asks for:
    α·AMS always (unless α = 0), and with teacher embeddings
    ``(teacher_xx, teacher_en)`` β·feature, γ·logit and δ·KD."""
    t_xx, t_en = teacher
    terms: list[LossTerm] = [
        AMSTerm(
            config.ams_weight,
            ctx,
            config.margin,
            config.scale,
            config.bidirectional,
        )
    ]
    if t_en is not None:
        if config.kd_weight > 0 and student_dim != t_en.shape[1]:
            raise ValueError(
                f"multilingual KD regresses the student onto the teacher's "
                f"{t_en.shape[1]}-d embeddings, but the student has "
                f"{student_dim}: set projection_dim={t_en.shape[1]}"
            )
        if config.feature_weight > 0:
            terms.append(
                FeatureTerm(config.feature_weight, t_xx, t_en, student_dim)
            )
        terms.append(
            LogitTerm(
                config.logit_weight, t_xx, t_en, config.distill_temperature
            )
        )
        terms.append(KDTerm(config.kd_weight, t_xx, t_en))
    return Objective(terms)
