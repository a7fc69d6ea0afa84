"""LEALLA's distillation losses (Mao & Nakagawa, EACL 2023, §3).

A small *student* dual encoder learns from a frozen *teacher* (LaBSE in the
paper; our reference laptop model here) with two terms beside the AMS loss:

* **Feature distillation** (eq. 3): a trainable linear map ``W`` lifts the
  student's d-dimensional embedding to the teacher's D dimensions, and the
  loss is the mean squared error between the teacher's embedding and
  ``W · student`` -- on both sides of every pair.
* **Logit distillation** (eq. 4): the mean squared error between the
  student's and the teacher's in-batch similarity matrices, each divided by
  a temperature T.

The total is ``L = α·L_AMS + β·L_feature + γ·L_logit``; the paper's weights
for its small and base students are (α, β, γ) = (1, 1e3, 1e-2) and T = 100
(:data:`LEALLA_DEFAULTS`).  Both terms are plain functions of embeddings,
so the one trainer (:func:`labse_lite.train.train`) adds them to its loss;
under ``torchrun`` the logit loss scores local queries against the
all-gathered global batch, exactly like the AMS loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LEALLA_DEFAULTS", "feature_distillation_loss",
           "logit_distillation_loss"]

# The paper's settings for LEALLA-small/base (§4.1).
LEALLA_DEFAULTS = dict(ams_weight=1.0, feature_weight=1e3, logit_weight=1e-2,
                       distill_temperature=100.0)


def feature_distillation_loss(student: torch.Tensor, teacher: torch.Tensor,
                              feature_map: nn.Module) -> torch.Tensor:
    """Eq. 3: MSE(teacher, W·student), averaged over rows and dimensions.

    ``student`` (N, d) and ``teacher`` (N, D) hold the same N sentences
    (pass both sides of the batch stacked); ``feature_map`` is the
    trainable ``nn.Linear(d, D)``.  The teacher is a constant target.
    """
    if student.shape[0] != teacher.shape[0]:
        raise ValueError(f"student has {student.shape[0]} rows, teacher "
                         f"{teacher.shape[0]}: they must be the same "
                         f"sentences")
    lifted = feature_map(student)                                # (N, D)
    if lifted.shape != teacher.shape:
        raise ValueError(f"W maps the student to {tuple(lifted.shape)}, the "
                         f"teacher is {tuple(teacher.shape)}")
    return F.mse_loss(lifted, teacher.detach())


def logit_distillation_loss(student_x: torch.Tensor,
                            student_y: torch.Tensor,
                            teacher_x: torch.Tensor,
                            teacher_y: torch.Tensor,
                            temperature: float = 100.0) -> torch.Tensor:
    """Eq. 4: MSE between the in-batch similarity matrices
    ``student_x · student_yᵀ / T`` and ``teacher_x · teacher_yᵀ / T``.

    ``*_x`` are this rank's (B, ·) queries, ``*_y`` the candidates -- the
    local batch, or the global batch gathered across ranks (W·B, ·), with
    the teacher's rows in the same order as the student's.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if student_x.shape[0] != teacher_x.shape[0] or \
            student_y.shape[0] != teacher_y.shape[0]:
        raise ValueError("student and teacher must score the same queries "
                         "against the same candidates")
    student = student_x @ student_y.T / temperature              # (B, C)
    teacher = teacher_x.detach() @ teacher_y.detach().T / temperature
    return F.mse_loss(student, teacher)
