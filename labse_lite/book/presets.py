"""Scale presets: one name expands into every setting a chapter needs.

Each chapter's papermill ``parameters`` cell names a scale (``"laptop"``,
``"colab"`` or ``"multi_gpu"``) and may override any single setting; the
chapter then calls :func:`settings` to get the concrete values.  The laptop
preset runs each chapter in a few minutes on 2 CPU cores with the shipped
data and models trained from scratch; the colab preset uses a hub encoder
(``bert-base-multilingual-cased``), hub datasets, bigger batches and mixed
precision on one GPU; the multi_gpu preset is a ``torchrun`` job.
"""

from __future__ import annotations

import copy
from typing import Any

from ..languages import XTREME_36

__all__ = ["SCALES", "CHAPTERS", "settings", "launch"]

SCALES = ("laptop", "colab", "multi_gpu")

# Where training runs: processes per machine (``nproc_per_node`` in the
# presets below), machines, rendezvous, and a command that starts the
# launcher on every machine (e.g. "srun --nodes=4 --ntasks-per-node=1").
_ONE_NODE = dict(
    nnodes=1, node_rank=None, rdzv_endpoint=None, launch_prefix=""
)

# Shared by every chapter at each scale.  Batch sizes are *global*: with
# nproc_per_node = N each process trains on batch / N pairs of every step.
_COMMON: dict[str, dict[str, Any]] = {
    "laptop": dict(
        device="cpu",
        data_source="local",
        init_model=None,
        model_preset="laptop",
        pooling="mean",
        max_length=32,
        precision="fp32",
        nproc_per_node=1,
        threads=2,
        eval_model=None,
        vocab_size=64000,
        **_ONE_NODE,
    ),
    "colab": dict(
        device="cuda",
        data_source="hub",
        init_model="bert-base-multilingual-cased",
        model_preset=None,
        pooling="cls",
        max_length=64,
        precision="bf16",
        nproc_per_node=1,
        threads=None,
        eval_model="sentence-transformers/LaBSE",
        vocab_size=None,
        **_ONE_NODE,
    ),
    "multi_gpu": dict(
        device="cuda",
        data_source="hub",
        init_model="bert-base-multilingual-cased",
        model_preset=None,
        pooling="cls",
        max_length=64,
        precision="bf16",
        nproc_per_node=8,
        threads=None,
        eval_model="sentence-transformers/LaBSE",
        vocab_size=None,
        **_ONE_NODE,
    ),
}

# Chapter 08 on a GPU: LaBSE teaches students of LEALLA's shapes (layers,
# hidden, heads, FFN), three with equal non-embedding parameters.
_LABSE_STUDENTS = dict(
    teacher="sentence-transformers/LaBSE",
    student_pairs=None,
    init_model=None,
    model_preset="lealla-small",  # students: scratch
    dims=[256, 128, 64, 32],
    shapes={
        "thin-deep 24x128 (LEALLA-small)": [24, 128, 8, 512],
        "middle 12x180": [12, 180, 12, 720],
        "shallow-wide 6x256": [6, 256, 8, 1024],
    },
    student="thin-deep 24x128 (LEALLA-small)",
    seeds=[0, 1],
    shape_seeds=[0, 1],
    paper_gamma_seeds=2,
    lr=5e-4,
    rescaled_logit_weight=1e6,
)

# Chapter 09: ten languages of five scripts, like the paper's
# ten-language students (Reimers & Gurevych, 2020).
_KD_LANGUAGES = [
    "deu",
    "fra",
    "spa",
    "ita",
    "nld",
    "rus",
    "tur",
    "ara",
    "cmn",
    "jpn",
]

# Chapter 10: the blog's Tatoeba languages.
_BLOG_LANGUAGES = ["ita", "spa", "fra", "deu", "rus", "jpn", "cmn", "hin"]

# Chapter 09 on a GPU: the hub teacher, mBERT students (mean pooling).
_MBERT_STUDENTS = dict(
    teacher="sentence-transformers/all-MiniLM-L6-v2",
    languages=_KD_LANGUAGES,
    bilingual="deu",
    teacher_eval_languages=["deu", "fra", "spa", "rus", "cmn"],
    lr=2e-5,
    kd_weight=1.0,
    combined_kd_weight=1e3,
    student_init="bert-base-multilingual-cased",
    model_preset=None,
    pooling="mean",
)

# Chapter 10 on a GPU: mBERT tuned on NLI from the hub, as in the blog.
_MBERT_ON_NLI = dict(
    encoder="bert-base-multilingual-cased",
    english_source="hub",
    english_pairs=None,
    languages=_BLOG_LANGUAGES,
    lr=2e-5,
    poolings=["mean", "max", "cls"],
    freeze_layers=6,
    xtreme36=True,
)

# Chapter-specific settings at each scale.
CHAPTERS: dict[str, dict[str, dict[str, Any]]] = {
    "dual_encoder": {
        "laptop": dict(
            languages=["deu", "fra", "spa", "rus", "jpn", "tur"],
            batch_size=64,
            max_steps=600,
            lr=2e-3,
            eval_languages=["deu", "fra", "spa", "rus", "jpn", "tur"],
        ),
        "colab": dict(
            languages=None,
            batch_size=256,
            max_steps=3000,
            lr=2e-5,
            eval_languages=list(XTREME_36),
        ),
        "multi_gpu": dict(
            languages=None,
            batch_size=2048,
            max_steps=20000,
            lr=2e-5,
            eval_languages=list(XTREME_36),
        ),
    },
    "margin": {
        # Two languages trained for ~1.4 passes: near enough to convergence
        # that in-batch negatives become easy and the margin matters.
        "laptop": dict(
            languages=["deu", "fra"],
            margin_values=[0.0, 0.1, 0.2, 0.3, 0.4, 0.5],
            seeds=[0, 1],
            batch_size=64,
            max_steps=600,
            lr=3e-3,
            model_preset="tiny",
            vocab_size=16000,
        ),
        "colab": dict(
            languages=None,
            margin_values=[0.0, 0.1, 0.2, 0.3, 0.4, 0.5],
            seeds=[0, 1, 2],
            batch_size=256,
            max_steps=5000,
            lr=2e-5,
        ),
        "multi_gpu": dict(
            languages=None,
            margin_values=[0.0, 0.1, 0.2, 0.3, 0.4, 0.5],
            seeds=[0, 1, 2],
            batch_size=4096,
            max_steps=20000,
            lr=2e-5,
        ),
    },
    "cross_device": {
        "laptop": dict(
            languages=["deu", "fra", "spa", "rus"],
            global_batches=[16, 64, 256],
            pairs_seen=40960,
            chunk=64,
            lr=3e-3,
            model_preset="tiny",
        ),
        "colab": dict(
            languages=None,
            global_batches=[256, 1024, 4096],
            pairs_seen=4_096_000,
            chunk=256,
            lr=2e-5,
        ),
        "multi_gpu": dict(
            languages=None,
            global_batches=[1024, 4096, 8192],
            pairs_seen=16_384_000,
            chunk=512,
            lr=2e-5,
        ),
    },
    "mining": {
        # The laptop preset mines with the cached reference model
        # (labse_lite.reference); encoder="train" trains on the four
        # languages for max_steps instead.
        "laptop": dict(
            encoder="reference",
            languages=["deu", "fra", "rus", "cmn"],
            mining_languages=["deu_Latn", "fra_Latn", "rus_Cyrl", "zho_Hans"],
            batch_size=128,
            max_steps=1000,
            lr=2e-3,
            n_distractors=2000,
            speed_sizes=[10000, 30000],
        ),
        "colab": dict(
            encoder="sentence-transformers/LaBSE",
            languages=None,
            mining_languages=["deu_Latn", "fra_Latn", "rus_Cyrl", "zho_Hans"],
            batch_size=256,
            max_steps=0,
            lr=2e-5,
            n_distractors=20000,
            speed_sizes=[10000, 100000, 300000],
        ),
        "multi_gpu": dict(
            encoder="sentence-transformers/LaBSE",
            languages=None,
            mining_languages=["deu_Latn", "fra_Latn", "rus_Cyrl", "zho_Hans"],
            batch_size=2048,
            max_steps=0,
            lr=2e-5,
            n_distractors=20000,
            speed_sizes=[10000, 100000, 1000000],
        ),
    },
    "pretraining": {
        # Pre-train a 4-layer model (stacking 1 -> 2 -> 4) on the same six
        # languages, then fine-tune from it and from random weights.
        "laptop": dict(
            languages=["deu", "fra", "spa", "rus", "jpn", "tur"],
            pretrained_model=None,
            model_preset="tiny",
            num_layers=4,
            vocab_size=16000,
            pretrain_steps=400,
            pretrain_batch=64,
            pretrain_lr=2e-3,
            budgets=[100, 200, 400],
            seeds=[0, 1],
            batch_size=64,
            lr=2e-3,
        ),
        # The paper's "mBERT vocab + PT" row: mBERT's weights vs the same
        # architecture and vocabulary with random weights.
        "colab": dict(
            languages=None,
            pretrained_model="bert-base-multilingual-cased",
            model_preset="labse-base",
            num_layers=8,
            vocab_size=None,
            pretrain_steps=20000,
            pretrain_batch=256,
            pretrain_lr=5e-4,
            budgets=[500, 2000, 8000],
            seeds=[0, 1],
            batch_size=128,
            lr=1e-4,
        ),
        "multi_gpu": dict(
            languages=None,
            pretrained_model="bert-base-multilingual-cased",
            model_preset="labse-base",
            num_layers=12,
            vocab_size=None,
            pretrain_steps=100000,
            pretrain_batch=4096,
            pretrain_lr=5e-4,
            budgets=[2000, 10000, 50000],
            seeds=[0, 1],
            batch_size=2048,
            lr=1e-4,
        ),
    },
    "zero_shot": {
        # One model on every language with data (zero-shot rows dropped),
        # then the relative-removal experiment on a smaller set.  The
        # laptop main run is the book's reference model (cached, shared
        # with chapters 05 and 08).
        "laptop": dict(
            languages=None,
            max_steps=1200,
            batch_size=128,
            lr=2e-3,
            control_languages=[
                "glg",
                "por",
                "spa",
                "cat",
                "afr",
                "nld",
                "deu",
                "fry",
                "fra",
                "ita",
                "rus",
                "tur",
                "jpn",
                "ces",
                "pol",
                "fin",
            ],
            targets={
                "glg": ["por", "spa", "cat"],
                "afr": ["nld", "deu", "fry"],
            },
            control_preset="tiny",
            control_steps=400,
            control_batch=64,
            control_vocab=8000,
            control_cap=3000,
            seeds=[0, 1],
        ),
        "colab": dict(
            languages=None,
            max_steps=5000,
            batch_size=256,
            lr=2e-5,
            control_languages=None,
            targets={
                "glg": ["por", "spa", "cat"],
                "afr": ["nld", "deu", "fry"],
            },
            control_preset=None,
            control_steps=3000,
            control_batch=256,
            control_vocab=None,
            control_cap=None,
            seeds=[0, 1],
        ),
        "multi_gpu": dict(
            languages=None,
            max_steps=20000,
            batch_size=4096,
            lr=2e-5,
            control_languages=None,
            targets={
                "glg": ["por", "spa", "cat"],
                "afr": ["nld", "deu", "fry"],
            },
            control_preset=None,
            control_steps=10000,
            control_batch=4096,
            control_vocab=None,
            control_cap=None,
            seeds=[0, 1, 2],
        ),
    },
    "lightweight": {
        # Students of the reference teacher (the laptop model, 1 x 128):
        # three shapes with the same non-embedding parameter count (within
        # 2%), the middle one for the loss ablation.  Each run sees a fixed
        # sample of the training pairs (their teacher embeddings cached).
        # The two ablation rows at the paper's logit weight repeat their
        # partners (the term is ~1e-8 of the loss): one seed each here.
        "laptop": dict(
            teacher="reference",
            student_pairs=120_000,
            dims=[64, 32, 16],
            reduce_steps=300,
            shapes={
                "thin-deep 4x45": [4, 45, 3, 180],
                "middle 2x64": [2, 64, 2, 256],
                "shallow-wide 1x90": [1, 90, 3, 360],
            },
            student="middle 2x64",
            student_steps=400,
            seeds=[0, 1],
            shape_seeds=[0],
            paper_gamma_seeds=1,
            batch_size=128,
            lr=2e-3,
            rescaled_logit_weight=1e6,
            speed_sentences=4000,
        ),
        # LaBSE from the hub teaches LEALLA-small; thin-deep 24 x 128 and
        # shallow-wide 6 x 256 have equal non-embedding parameters.
        "colab": dict(
            **_LABSE_STUDENTS,
            reduce_steps=2000,
            student_steps=5000,
            batch_size=256,
            speed_sentences=20000,
        ),
        "multi_gpu": dict(
            **_LABSE_STUDENTS,
            reduce_steps=5000,
            student_steps=50000,
            batch_size=8192,
            speed_sentences=50000,
        ),
    },
    "english_only": {
        # An encoder pre-trained by masked language modelling only (no
        # translation pair in any sequence; cached), its untuned poolings,
        # then English-only fine-tuning on English paraphrase pairs of the
        # shipped data (only English columns), against the same budget of
        # translation pairs.
        # encoder=None: the cached reference encoder (a "tiny" shape).
        "laptop": dict(
            encoder=None,
            model_preset="tiny",
            english_source="local",
            english_pairs=None,
            languages=_BLOG_LANGUAGES,
            finetune_steps=300,
            batch_size=64,
            lr=1e-3,
            poolings=["mean", "max", "cls"],
            freeze_layers=1,
            seeds=[0, 1],
            xtreme36=True,
        ),
        "colab": dict(
            **_MBERT_ON_NLI, finetune_steps=3000, batch_size=64, seeds=[0, 1]
        ),
        "multi_gpu": dict(
            **_MBERT_ON_NLI,
            finetune_steps=10000,
            batch_size=512,
            seeds=[0, 1, 2],
        ),
    },
    "distillation": {
        # An English teacher (all-MiniLM-L6-v2, 384-d) made multilingual:
        # small students (2 x 64) with a 384-d projection learn from a
        # fixed sample of pairs in ten languages (the teacher's embeddings
        # of its English sides cached), by KD, AMS or both; a bilingual
        # (deu) student against the ten-language one.
        "laptop": dict(
            teacher="english",
            languages=_KD_LANGUAGES,
            pairs_per_language=800,
            bilingual="deu",
            teacher_eval_languages=["deu", "rus", "cmn"],
            model_preset="tiny",
            student_steps=300,
            batch_size=128,
            lr=2e-3,
            kd_weight=1.0,
            combined_kd_weight=1e3,
            seeds=[0, 1],
            student_init=None,
            vocab_size=16000,
        ),
        "colab": dict(
            **_MBERT_STUDENTS,
            pairs_per_language=20000,
            student_steps=5000,
            batch_size=256,
            seeds=[0, 1],
        ),
        "multi_gpu": dict(
            **_MBERT_STUDENTS,
            pairs_per_language=None,
            student_steps=20000,
            batch_size=2048,
            seeds=[0, 1, 2],
        ),
    },
}


def settings(
    chapter: str, scale: str = "laptop", **overrides: Any
) -> dict[str, Any]:
    """Concrete settings of ``chapter`` at ``scale``; ``overrides`` whose
    value is not None replace single entries (a papermill ``-p``)."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose from {SCALES}")
    if chapter not in CHAPTERS:
        raise ValueError(
            f"unknown chapter {chapter!r}; choose from {sorted(CHAPTERS)}"
        )
    out = copy.deepcopy(_COMMON[scale])
    out.update(copy.deepcopy(CHAPTERS[chapter][scale]))
    unknown = sorted(k for k in overrides if k not in out)
    if unknown:
        raise ValueError(
            f"unknown setting(s) for chapter {chapter!r}: "
            f"{unknown}; known: {sorted(out)}"
        )
    out.update(_environment_overrides(chapter, out))
    out.update({k: v for k, v in overrides.items() if v is not None})
    from ..runtime import cpu_threads

    out["threads"] = cpu_threads(out["threads"])  # $LABSE_LITE_MAX_THREADS
    out["scale"] = scale
    return out


# Settings for every chapter from the environment, between the preset and
# the chapter's own parameters: how a test (or a reader's smaller GPU)
# runs every chapter's preset with the device and sizes changed, the
# chapters' code untouched.  A JSON object of setting -> value (applied
# to the chapters that have that setting), and optionally chapter name ->
# such an object, e.g. '{"device": "cpu", "batch_size": 16,
# "cross_device": {"chunk": 8}}'.
OVERRIDES_ENV = "LABSE_LITE_PRESET_OVERRIDES"


def _environment_overrides(
    chapter: str, known: dict[str, Any]
) -> dict[str, Any]:
    import json
    import os

    text = os.environ.get(OVERRIDES_ENV, "").strip()
    if not text:
        return {}
    try:
        given = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"${OVERRIDES_ENV} is not JSON: {err}") from None
    if not isinstance(given, dict):
        raise ValueError(
            f"${OVERRIDES_ENV} must be a JSON object of "
            f"settings, not {type(given).__name__}"
        )
    mine = given.get(chapter, {})
    if not isinstance(mine, dict):
        raise ValueError(f"${OVERRIDES_ENV}[{chapter!r}] must be an object")
    unknown = sorted(k for k in mine if k not in known)
    if unknown:
        raise ValueError(
            f"${OVERRIDES_ENV}: unknown setting(s) for "
            f"chapter {chapter!r}: {unknown}"
        )
    out = {k: v for k, v in given.items() if k in known and k not in CHAPTERS}
    out.update(mine)
    return out


def launch(settings: dict[str, Any]):
    """The :class:`labse_lite.launch.Launch` that ``settings`` ask for
    (one process in this notebook, or a ``torchrun`` job)."""
    from ..launch import Launch

    return Launch(
        nproc_per_node=int(settings["nproc_per_node"]),
        nnodes=int(settings["nnodes"]),
        node_rank=settings["node_rank"],
        rdzv_endpoint=settings["rdzv_endpoint"],
        prefix=settings["launch_prefix"] or "",
    )
