"""LEALLA's distillation losses (Mao & Nakagawa, EACL 2023).

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

import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .data import distinct_rows
from .runtime import cache_root, file_sha256, quiet_truncation

__all__ = [
    "LEALLA_DEFAULTS",
    "feature_distillation_loss",
    "logit_distillation_loss",
    "multilingual_kd_loss",
    "non_embedding_parameters",
    "encode_speed",
    "FrozenFeatures",
    "teacher_embeddings",
]

# The paper's settings for LEALLA-small/base.
LEALLA_DEFAULTS = dict(
    ams_weight=1.0,
    feature_weight=1e3,
    logit_weight=1e-2,
    distill_temperature=100.0,
)


def feature_distillation_loss(
    student: torch.Tensor, teacher: torch.Tensor, feature_map: nn.Module
) -> torch.Tensor:
    """Eq. 3: MSE(teacher, W·student), averaged over rows and dimensions.

    ``student`` (N, d) and ``teacher`` (N, D) hold the same N sentences
    (pass both sides of the batch stacked); ``feature_map`` is the
    trainable ``nn.Linear(d, D)``.  The teacher is a constant target.
    """
    if student.shape[0] != teacher.shape[0]:
        raise ValueError(
            f"student has {student.shape[0]} rows, teacher "
            f"{teacher.shape[0]}: they must be the same "
            f"sentences"
        )
    lifted = feature_map(student)  # (N, D)
    if lifted.shape != teacher.shape:
        raise ValueError(
            f"W maps the student to {tuple(lifted.shape)}, the "
            f"teacher is {tuple(teacher.shape)}"
        )
    return F.mse_loss(lifted, teacher.detach())


def logit_distillation_loss(
    student_x: torch.Tensor,
    student_y: torch.Tensor,
    teacher_x: torch.Tensor,
    teacher_y: torch.Tensor,
    temperature: float = 100.0,
) -> torch.Tensor:
    """Eq. 4: MSE between the in-batch similarity matrices
    ``student_x · student_yᵀ / T`` and ``teacher_x · teacher_yᵀ / T``.

    ``*_x`` are this rank's (B, ·) queries, ``*_y`` the candidates -- the
    local batch, or the global batch gathered across ranks (W·B, ·), with
    the teacher's rows in the same order as the student's.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if (
        student_x.shape[0] != teacher_x.shape[0]
        or student_y.shape[0] != teacher_y.shape[0]
    ):
        raise ValueError(
            "student and teacher must score the same queries "
            "against the same candidates"
        )
    student = student_x @ student_y.T / temperature  # (B, C)
    teacher = teacher_x.detach() @ teacher_y.detach().T / temperature
    return F.mse_loss(student, teacher)


def multilingual_kd_loss(
    student_en: torch.Tensor,
    student_xx: torch.Tensor,
    teacher_en: torch.Tensor,
) -> torch.Tensor:
    """Reimers & Gurevych (2020): MSE(S(en), T(en)) + MSE(S(xx), T(en)).

    The student's embeddings of both sides of each pair regress onto the
    (frozen) teacher's embedding of the English side, so translations land
    where the teacher puts the English sentence.  Each MSE averages over
    rows and dimensions; the two are **summed**, as in the paper's
    equation (sentence-transformers' ``MSELoss`` averages them, i.e. half
    of this).  Under Adam a constant factor changes nothing on its own; it
    matters only against other terms, where ``kd_weight`` sets it.
    """
    if not (student_en.shape == student_xx.shape == teacher_en.shape):
        raise ValueError(
            f"student (en {tuple(student_en.shape)}, xx "
            f"{tuple(student_xx.shape)}) and teacher "
            f"{tuple(teacher_en.shape)} must have the same shape: give the "
            f"student a projection to the teacher's dimension"
        )
    target = teacher_en.detach()
    return F.mse_loss(student_en, target) + F.mse_loss(student_xx, target)


# ---------------------------------------------------------------- measuring
_EMBEDDING_TABLES = (
    "word_embeddings",
    "position_embeddings",
    "token_type_embeddings",
)


def non_embedding_parameters(model) -> int:
    """Parameters of a dual encoder outside its embedding tables (token,
    position, segment): the part whose shape decides the compute per token.
    LEALLA compares encoder shapes by this count, since the vocabulary table
    (501k rows there) dominates the total."""
    return sum(
        p.numel()
        for name, p in model.named_parameters()
        if not any(t in name for t in _EMBEDDING_TABLES)
    )


def encode_speed(
    model, sentences, batch_size: int = 256, repeats: int = 3
) -> float:
    """Sentences per second of ``model.encode`` on ``sentences``: the median
    of ``repeats`` timed passes after one untimed warm-up pass."""
    import statistics
    import time

    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    sentences = list(sentences)
    with quiet_truncation():
        model.encode(
            sentences[:batch_size],
            batch_size=batch_size,
            show_progress_bar=False,
        )
        rates = []
        for _ in range(repeats):
            start = time.perf_counter()
            model.encode(
                sentences, batch_size=batch_size, show_progress_bar=False
            )
            rates.append(len(sentences) / (time.perf_counter() - start))
    return statistics.median(rates)


# ------------------------------------------------------ dimension reduction
class FrozenFeatures:
    """The pooled outputs of one frozen encoder, computed once per distinct
    sentence and reused by every dense head trained on top of it.

    LEALLA's dimension reduction trains a dense layer D → d on a frozen
    teacher for several d; the encoder's pooled output does not change, so
    evaluating each head needs the encoder once, not once per d.
    ``with_head(linear)`` returns an object with the ``encode`` of a
    :class:`~labse_lite.model.DualEncoder` whose projection is ``linear``
    (then L2-normalised) -- equal to the full model's, up to float rounding.
    """

    def __init__(self, model):
        import copy

        self.model = copy.copy(model)  # shares the encoder weights
        self.model.projection, self.model.normalize = None, False
        self._rows: dict[str, int] = {}
        self._blocks: list[torch.Tensor] = []
        self._table: torch.Tensor | None = None

    def raw(
        self,
        sentences,
        batch_size: int = 256,
        show_progress_bar: bool | None = None,
    ) -> torch.Tensor:
        """(N, D) pooled, unprojected, unnormalised encoder outputs."""

        missing = list(
            dict.fromkeys(s for s in sentences if s not in self._rows)
        )
        if missing:
            with quiet_truncation():
                self._blocks.append(
                    self.model.encode(
                        missing,
                        batch_size=batch_size,
                        show_progress_bar=show_progress_bar,
                    )
                )
            for s in missing:
                self._rows[s] = len(self._rows)
            self._table = torch.cat(self._blocks)
            self._blocks = [self._table]
        return self._table[
            torch.tensor([self._rows[s] for s in sentences], dtype=torch.long)
        ]

    def with_head(self, head: nn.Module | None) -> "_HeadOnFeatures":
        return _HeadOnFeatures(self, head)


class _HeadOnFeatures:
    def __init__(self, features: FrozenFeatures, head: nn.Module | None):
        self.features, self.head = features, head

    @property
    def embedding_dim(self) -> int:
        return (
            self.head.out_features
            if self.head is not None
            else self.features.model.embedding_dim
        )

    @torch.no_grad()
    def encode(
        self,
        sentences,
        batch_size: int = 256,
        show_progress_bar: bool | None = None,
        **_,
    ) -> torch.Tensor:
        out = self.features.raw(sentences, batch_size, show_progress_bar)
        if self.head is not None:
            out = self.head(out)
        return F.normalize(out, p=2, dim=-1)


# ------------------------------------------------- the teacher's embeddings
def _model_key(model_dir: Path) -> str:
    if not model_dir.is_dir():
        raise FileNotFoundError(
            f"teacher {str(model_dir)!r} is not a model folder (a hub id "
            f"needs internet once: it is read through its local snapshot)"
        )
    saved = model_dir.parent / "cache_key.json"
    if saved.is_file():
        return json.loads(saved.read_text())["key"]
    weights = sorted(model_dir.glob("*.safetensors"))
    if not weights:
        raise FileNotFoundError(f"no weights (*.safetensors) in {model_dir}")
    return hashlib.sha256(
        "".join(file_sha256(w) for w in weights).encode()
    ).hexdigest()[:16]


def teacher_embeddings(
    teacher: str | os.PathLike,
    sentences: Sequence[str],
    batch_size: int = 512,
    progress: bool = True,
    root: str | os.PathLike | None = None,
) -> torch.Tensor:
    """(N, D) float32 embeddings of ``sentences`` by the saved dual encoder
    ``teacher``, computed once (each distinct sentence once, in batches,
    with a progress bar) and cached under a key of the teacher's weights
    and the sentences."""
    from .model import DualEncoder, _st_snapshot

    teacher = Path(_st_snapshot(str(teacher)))
    text_key = hashlib.sha256("\n".join(sentences).encode()).hexdigest()[:16]
    folder = Path(root) if root is not None else cache_root()
    path = (
        folder / "teacher_embeddings" / f"{_model_key(teacher)}-{text_key}.pt"
    )
    if path.is_file():
        return torch.load(path)
    texts, rows = distinct_rows(list(sentences))
    model = DualEncoder.from_pretrained(str(teacher)).eval()
    with quiet_truncation():  # truncated as in training, silently
        distinct = model.encode(
            texts, batch_size=batch_size, show_progress_bar=progress
        )  # (U, D)
    emb = distinct[torch.as_tensor(rows)].float().contiguous()  # (N, D)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    torch.save(emb, tmp)
    os.replace(tmp, path)
    return emb
