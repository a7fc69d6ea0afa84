"""Models and embeddings that many chapters and tests need, built once.

:func:`reference_teacher` trains the book's reference dual encoder (the
laptop model, 1 layer x 128, on every training language but the
zero-shot ones: :data:`REFERENCE_TEACHER`) the first time it is asked for,
and caches it on disk under a key of its full config and the shipped
data's checksum: ``runs/cache/<key>/`` (``LABSE_LITE_CACHE`` moves the
cache).  A later call with the same config and data returns the cached
model at once; a changed setting or data file gives a new key, so a stale
model is never served.  Chapter 05 mines with it, chapter 07 measures its
zero-shot languages, chapter 08 distils it; ``labse-lite reference``
builds it ahead (``make test`` does, before the chapters run).
:func:`cached_training` does the same for any training config (chapter 07
asks for its main run this way and gets the reference model),
:func:`reference_encoder` for a pre-trained encoder (by default masked
language modelling only: no parallel data), and :func:`teacher_embeddings`
for a teacher's embeddings of a list of sentences.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path

from ..data import data_dir
from ..distill import teacher_embeddings
from ..languages import ZERO_SHOT_LABELLED
from ..runtime import cache_root, file_sha256, machine_fingerprint

__all__ = [
    "cache_root",
    "file_sha256",
    "data_checksum",
    "cache_key",
    "reference_config",
    "reference_teacher",
    "cached_training",
    "reference_encoder",
    "teacher_embeddings",
    "resolve_teacher",
    "REFERENCE_TEACHER",
    "REFERENCE_ENCODER",
]

# Settings that change how a run is carried out, not the model it makes.
_NOT_IN_KEY = (
    "output_dir",
    "progress",
    "resume",
    "threads",
    "device",
    "dist_timeout_seconds",
    "dist_wait_timeout_seconds",
    "checkpoint_every",
    "log_every",
    "eval_every",
    "final_pool_languages",
)
# Options added after models were cached, off by default: they enter the
# key only when set, so adding an option does not invalidate every cache.
_KEY_WHEN_SET = {
    "kd_weight": 0.0,
    "hidden_layer": -1,
    "hard_negatives": 0,
    "hard_negative_start": 0,
    "freeze_embeddings": False,
    "freeze_layers": 0,
}
_DATA_FILES = ("train.tsv.gz", "tatoeba_v1.tsv.gz")
# Raised when a change in the code makes the same config build a different
# model, so that no cache built before it is served: 2 = the vocabulary is
# built deterministically (tokenization.train_wordpiece, 2026-12-06).
_BUILDER = 2


def data_checksum() -> str:
    """One sha256 over the shipped files a reference model depends on."""
    digest = hashlib.sha256()
    for name in _DATA_FILES:
        digest.update(f"{name}:{file_sha256(data_dir() / name)}\n".encode())
    return digest.hexdigest()


def cache_key(config, data: str | None = None) -> str:
    """16 hex digits of sha256 over the config's model-defining fields and
    the data checksum."""
    fields = {
        k: v
        for k, v in dataclasses.asdict(config).items()
        if k not in _NOT_IN_KEY
        and not (k in _KEY_WHEN_SET and v == _KEY_WHEN_SET[k])
    }
    text = json.dumps(
        {
            "config": fields,
            "kind": type(config).__name__,
            "data": data or data_checksum(),
            "builder": _BUILDER,
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# The reference model: the laptop preset's dual encoder (TrainConfig's
# defaults: 1 x 128, 64k vocabulary, batches of 128) for 1200 steps (the
# laptop run's 7,711 cut to a sixth, warm-up in the same 8.3% share) on
# every training language except the rows labelled with a zero-shot
# language, so that chapter 07 can measure zero-shot transfer on it.
REFERENCE_TEACHER = dict(
    exclude_languages=list(ZERO_SHOT_LABELLED),
    max_steps=1200,
    warmup_steps=100,
)


def reference_config():
    """The :class:`~labse_lite.train.TrainConfig` of the reference model
    (``TrainConfig(**REFERENCE_TEACHER)``)."""
    from ..train import TrainConfig

    return TrainConfig(**copy.deepcopy(REFERENCE_TEACHER))


def reference_teacher(
    config=None, progress: bool = True, root: str | os.PathLike | None = None
) -> Path:
    """The reference dual encoder's model folder, trained on a cache miss.

    ``config`` defaults to :func:`reference_config` (about 3 minutes on 2
    cores, with a progress bar).  The folder's parent holds the run's
    ``summary.json`` (its final Tatoeba and large-pool evaluation) and
    ``log.jsonl``.
    """
    return cached_training(
        config if config is not None else reference_config(), progress, root
    )


def cached_training(
    config, progress: bool = True, root: str | os.PathLike | None = None
) -> Path:
    """``train(config)`` once per key of its model-defining settings and
    the data (:func:`cache_key`); the cached model folder.  A config equal
    to :func:`reference_config` in every such setting (threads, output
    folder and checkpointing do not count) gets the reference model."""
    from ..train import train

    return _cached(config, train, progress, root)


# The reference encoder: masked language modelling only (no TLM), a small
# 2-layer model without stacking, sized to pre-train in about two minutes
# on 2 cores.
REFERENCE_ENCODER = dict(
    tlm_fraction=0.0,
    model_preset="tiny",
    num_layers=2,
    stacking=False,
    max_length=32,
    vocab_size=16000,
    max_steps=800,
    batch_size=128,
    lr=2e-3,
    warmup_steps=80,
)


def reference_encoder(
    config=None, progress: bool = True, root: str | os.PathLike | None = None
) -> Path:
    """A pre-trained encoder's model folder (``BertForMaskedLM`` +
    tokenizer), pre-trained on a cache miss.  ``config`` defaults to
    ``PretrainConfig(**REFERENCE_ENCODER)``: masked language modelling on
    the sentences of every language, never a translation pair in one
    sequence -- an encoder that has seen no parallel data (chapter 10's
    starting point, like mBERT's)."""
    from ..pretrain import PretrainConfig, pretrain

    return _cached(
        config if config is not None else PretrainConfig(**REFERENCE_ENCODER),
        pretrain,
        progress,
        root,
    )


def _cached(
    config, build, progress: bool, root: str | os.PathLike | None
) -> Path:
    """``build(config)`` into ``<root>/<key>/`` once; its ``model`` folder.

    The build writes to a temporary folder that is renamed into place only
    when it is complete, so an interrupted run never leaves a half-made
    cache entry; resumable state (checkpoints, pre-training stages) is
    dropped from the entry."""
    data = data_checksum()
    key = cache_key(config, data)
    folder = Path(root) if root is not None else cache_root()
    final = folder / key
    if (final / "cache_key.json").is_file():
        return final / "model"
    work = folder / f"{key}.partial-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    build(
        dataclasses.replace(
            config, output_dir=str(work), resume=False, progress=progress
        )
    )
    (work / "checkpoint.pt").unlink(missing_ok=True)  # not needed: 3x model
    for stage in work.glob("stage_*"):
        shutil.rmtree(stage, ignore_errors=True)
    (work / "cache_key.json").write_text(
        json.dumps(
            {
                "key": key,
                "data_checksum": data,
                "kind": type(config).__name__,
                "config": dataclasses.asdict(config),
                "machine": machine_fingerprint(),
            },
            indent=1,
        )
    )
    if final.exists():  # built meanwhile by another process
        shutil.rmtree(work, ignore_errors=True)
    else:
        os.replace(work, final)
    return final / "model"


def resolve_teacher(name: str, progress: bool = True) -> str:
    """A teacher setting as a model folder: ``"reference"`` is the cached
    reference model (:func:`reference_teacher`), ``"english"`` the
    verified all-MiniLM-L6-v2
    (:func:`labse_lite.teachers.english_teacher_path`); anything else (a
    folder or hub id) is returned as it is.  The trainer itself takes only
    folders and hub ids."""
    if name == "reference":
        return str(reference_teacher(progress=progress))
    if name == "english":
        from ..teachers import english_teacher_path

        return english_teacher_path()
    return name
