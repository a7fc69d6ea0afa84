"""LEALLA's dimension reduction (Mao & Nakagawa, EACL 2023).

A dense layer D -> d on top of a frozen teacher, trained with the AMS loss
by the one trainer (``freeze_encoder``), for each output size d; every
head is evaluated on the same pooled teacher outputs
(:class:`~labse_lite.distill.FrozenFeatures`), so the encoder runs once for
all d.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from tqdm import tqdm

from .data import load_tatoeba
from .distill import FrozenFeatures
from .evaluate import evaluate_all, headline
from .launch import run_training
from .model import DualEncoder

__all__ = ["reduce_dimensions"]


def reduce_dimensions(
    teacher,
    dims,
    base,
    corpus=None,
    benchmark=None,
    launch=None,
    output_root=None,
    large_pool_languages=None,
    progress: bool = True,
) -> list[dict]:
    """LEALLA's dimension reduction: for each d in ``dims``, a dense
    layer D → d on top of the frozen ``teacher`` (a saved dual encoder),
    trained with the AMS loss by the one trainer (``freeze_encoder``; the
    other settings from ``base``), then evaluated on ``benchmark``
    (Tatoeba and the large pool).  The first row is the teacher itself.
    Every head is evaluated on the same pooled teacher outputs
    (:class:`FrozenFeatures`), so the encoder runs once for all d."""
    model = DualEncoder.from_pretrained(str(teacher)).eval()
    if model.projection is not None:
        raise ValueError(
            "dimension reduction trains a new projection: the "
            "teacher must not have one already"
        )
    benchmark = benchmark if benchmark is not None else load_tatoeba()
    features = FrozenFeatures(model)
    root = Path(output_root or tempfile.mkdtemp(prefix="labse_lite_dims_"))

    def row(dim, head, seconds):
        ev = evaluate_all(
            features.with_head(head),
            benchmark,
            large_pool_languages=large_pool_languages,
            show_progress_bar=progress,
        )
        return {"dim": dim, **headline(ev), "train_seconds": seconds}

    rows = [row(model.embedding_dim, None, 0.0)]
    for dim in tqdm(list(dims), desc="dimensions", disable=not progress):
        config = dataclasses.replace(
            base,
            init_model=str(teacher),
            tokenizer=str(teacher),
            pooling=model.pooling,
            max_length=model.max_length,
            projection_dim=int(dim),
            freeze_encoder=True,
            teacher=None,
            final_eval=False,
            output_dir=str(root / f"dim_{dim}"),
            resume=False,
            progress=False,
        )
        summary = run_training(config, corpus, benchmark, launch)
        head = DualEncoder.from_pretrained(
            str(Path(config.output_dir) / "model")
        ).projection
        rows.append(row(int(dim), head.eval(), summary["train_seconds"]))
    return rows
