#!/usr/bin/env python
"""The book's reversed findings, re-measured one rung above the laptop.

At the laptop scale some published effects do not reproduce (issue 28,
item 4): a pre-trained encoder is a worse start than random weights
(chapter 06), untuned poolings of a pre-trained encoder retrieve at chance
(chapter 10), and LEALLA's thin-deep students are not ahead of
shallow-wide ones (chapter 08).  The laptop's models are one or two
layers deep and pre-trained for a few hundred steps; this script grows
*the model and the pre-training*, not only the steps (the compute
ladder showed that more steps of the laptop model on the same pairs only
overfit them), and asks whether each direction changes.

Every experiment trains on all the shipped pairs (as the chapters do;
nothing here is selected: the settings below were fixed before any run),
and reports Tatoeba-v1 and the large pool.  The rung's model is
``SHAPE`` -- 4 layers of the laptop's width 128 -- so that pre-training
has depth to initialise and progressive stacking (1 -> 2 -> 4 layers)
has something to stack.

- ``pretraining`` (chapter 06): one MLM + TLM pre-training with stacking
  (``--pretrain-steps``; 14.7 CPU-minutes on 2 cores, three times one
  fine-tuning run), then
  fine-tuning for ``--finetune-steps`` from it and from random weights,
  paired by seed (``--seeds``), both at each of ``--lrs`` (the laptop's
  2e-3, and 5e-4: a pre-trained encoder usually wants a smaller one).
- ``pooling`` (chapter 10): the untuned poolings (mean, max, [CLS], mean
  of the second-to-last layer) on the blog's eight languages, of three
  encoders: the book's reference encoder (800 MLM steps, 2 x 64), an
  MLM-only encoder of ``SHAPE`` pre-trained as long as the one above (no
  translation pair in any sequence, like mBERT), and the MLM + TLM one.
- ``students`` (chapter 08): a ``SHAPE`` teacher (fine-tuned from random
  weights for ``--finetune-steps``), and thin-deep 4 x 64 against
  shallow-wide 1 x 128 students with equal non-embedding parameters,
  distilled with LEALLA's three losses for ``--student-steps`` on a
  fixed sample of 120,000 pairs, paired by seed.
- ``hard_negatives`` (chapter 03): the ``pretraining`` experiment's
  random-start arms again, with one hard negative per pair mined by the
  arm's own model halfway through (``run_hard_negatives``), paired by
  seed with the in-batch arm of the same seed (equal steps) and with an
  in-batch arm of as many steps as the hard-negative arm's CPU time buys
  (equal time, ``EQUAL_TIME_FACTOR``).

Encoders and the teacher are built once per key of their config and the
data (``labse_lite.book.reference``'s cache); every arm is written to
--output the moment it ends, with command, commit, date, machine and
threads.  ``--resume`` skips the arms already there, so the experiments
can be spread over several sessions; a rebuilt encoder or teacher is
checked against its stored record (same seed, same machine: the same
numbers).

    python benchmarks/higher_rung.py [--experiments pretraining pooling \\
        students hard_negatives] [--seeds 0 1 2] [--threads 2] [--resume]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

from recipe_sweep import (
    benchmark_columns,
    load_results,
    pending,
    store,
    timing,
)

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

EXPERIMENTS = ("pretraining", "pooling", "students", "hard_negatives")
# The rung's model: the laptop preset's width (128, 2 heads, FFN 512) at
# the depth of chapter 06's stacked encoder.
SHAPE = dict(model_preset="laptop", num_layers=4)
# LEALLA's shapes at equal non-embedding parameters (12 h^2 per layer):
# 4 x 64^2 = 1 x 128^2.  (layers, hidden, heads, FFN)
STUDENTS = {
    "thin-deep 4x64": (4, 64, 2, 256),
    "shallow-wide 1x128": (1, 128, 2, 512),
}
STUDENT_PAIRS = 120_000
# The fine-tuning learning rate of both starts (TrainConfig's); a second,
# smaller one (--lrs) asks whether the pre-trained start's deficit is the
# learning rate's: a pre-trained encoder usually wants a smaller one.
DEFAULT_LR = 2e-3
# Chapter 03's setting: one mined hard negative per pair (LaBSE App. B).
HARD_NEGATIVES = 1
# Chapter 03's equal-time arm: in-batch training for the steps the
# hard-negative arm's CPU time buys.  The ratio is that of the stored arms
# (8.60 vs 4.89 training minutes, mining included, 3 seeds each), fixed
# here so that a rebuild runs the same arm.  The in-batch arms were timed
# before runtime.reuse_freed_memory made steps faster, so the ratio gives
# in-batch training fewer steps than the time would buy now: it leans
# towards the hard negatives.
EQUAL_TIME_FACTOR = 1.757


def pretrain_config(args, tlm_fraction: float):
    """The rung's pre-training: MLM (+ TLM for ``tlm_fraction`` > 0) on
    every shipped sentence, stacking 1 -> 2 -> 4 layers of ``SHAPE``, at
    the fine-tuning length (32 tokens a sequence; a pair's two sides
    share them in TLM): a pre-training step at 64 tokens costs about 4
    fine-tuning steps of this model on 2 cores."""
    from labse_lite.pretrain import PretrainConfig

    return PretrainConfig(
        **SHAPE,
        tlm_fraction=tlm_fraction,
        max_length=32,
        stacking=True,
        max_steps=args.pretrain_steps,
        threads=args.threads,
    )


def finetune_config(args, seed: int, steps: int | None = None, **changes):
    """The rung's dual-encoder training: ``SHAPE`` for ``steps`` (None:
    ``--finetune-steps``), warm-up 8.3% of them (the laptop recipe's
    share)."""
    from labse_lite.train import TrainConfig

    steps = steps or args.finetune_steps
    settings = dict(
        **SHAPE,
        max_steps=steps,
        warmup_steps=round(steps / 12),
        seed=seed,
        threads=args.threads,
        checkpoint_every=0,
        progress=False,
    )
    return TrainConfig(**{**settings, **changes})


def build_encoder(args, results: dict, tlm_fraction: float) -> Path:
    """The cached pre-trained encoder (MLM + TLM, or MLM only when
    ``tlm_fraction`` is 0), its record stored under ``encoders``; a
    rebuild must reproduce the stored held-out loss exactly."""
    from labse_lite.book.reference import cache_key, reference_encoder

    config = pretrain_config(args, tlm_fraction)
    key = cache_key(config)
    folder = reference_encoder(config, progress=False)
    summary = json.loads((folder.parent / "summary.json").read_text())
    record = {
        "key": key,
        "tlm_fraction": tlm_fraction,
        "steps": summary.get("steps", config.max_steps),
        "stages": summary["stages"],
        "heldout_loss": summary["stages"][-1]["heldout_loss"],
        "config": json.loads(json.dumps(config.to_dict())),
    }
    _check_rebuild(results, "encoders", record, "heldout_loss")
    store(args.output, results, "encoders", record, __file__, args.argv)
    return folder


def _check_rebuild(results: dict, section: str, record: dict, field: str):
    """A record rebuilt after its first build must repeat its numbers."""
    old = {r["key"]: r for r in results.get(section, [])}.get(record["key"])
    if old is not None and old[field] != record[field]:
        raise RuntimeError(
            f"{section} {record['key']}: rebuilt {field} {record[field]} "
            f"differs from the stored {old[field]} (another machine or "
            f"library version?)"
        )


def finetune_record(config, name: str, corpus=None) -> dict:
    """Train ``config`` (on ``corpus``; None: the shipped pairs) into a
    fresh folder; the record's columns, with the trained model's
    non-embedding parameter count."""
    import dataclasses
    import tempfile

    from labse_lite.distill import non_embedding_parameters
    from labse_lite.model import DualEncoder
    from labse_lite.train import train

    with tempfile.TemporaryDirectory(prefix="higher_rung_") as tmp:
        summary = train(dataclasses.replace(config, output_dir=tmp), corpus)
        model = DualEncoder.from_pretrained(Path(tmp) / "model")
        n = non_embedding_parameters(model)
    schedule = {
        "max_steps": config.max_steps,
        "warmup_steps": config.warmup_steps,
    }
    return {
        "arm": name,
        "seed": config.seed,
        "non_embedding_parameters": n,
        **timing(summary, schedule),
        **benchmark_columns(summary["eval"]),
        "config": summary["config"],
    }


def run_pretraining(args, results: dict) -> None:
    """Chapter 06: fine-tuning from the MLM + TLM encoder against random
    weights, paired by seed, at each of ``--lrs``."""
    arms = [
        (init, seed, lr)
        for lr in args.lrs
        for seed in args.seeds
        for init in ("pre-trained", "random")
    ]
    keys = {_pretraining_key(args, *arm): arm for arm in arms}
    todo = pending(list(keys), results.get("pretraining", []), args.resume)
    if not todo:
        return
    encoder = build_encoder(args, results, tlm_fraction=0.5)
    for i, key in enumerate(todo, 1):
        init, seed, lr = keys[key]
        name = init if lr == DEFAULT_LR else f"{init}, lr {lr:g}"
        print(f"[pretraining {i}/{len(todo)}] {name}, seed {seed}", flush=True)
        changes = dict(tokenizer=str(encoder), lr=lr)
        if init == "pre-trained":
            changes["init_model"] = str(encoder)
        config = finetune_config(args, seed, **changes)
        record = {"key": key, "lr": lr, **finetune_record(config, name)}
        store(args.output, results, "pretraining", record, __file__, args.argv)


def _pretraining_key(args, init: str, seed: int, lr: float) -> str:
    """A fine-tuning arm's key; the default learning rate's arms name no
    ``lr`` (their records were stored before a second rate was run)."""
    fields = dict(init=init, seed=seed)
    if lr != DEFAULT_LR:
        fields["lr"] = lr
    return _arm_key("pretraining", args, **fields)


def _arm_key(experiment: str, args, **fields) -> str:
    """An arm's identity: the experiment, the rung's settings and the
    arm's own fields (canonical JSON)."""
    rung = dict(
        shape=SHAPE,
        pretrain_steps=args.pretrain_steps,
        finetune_steps=args.finetune_steps,
        student_steps=args.student_steps,
        threads=args.threads,
    )
    return json.dumps(
        dict(experiment=experiment, rung=rung, **fields), sort_keys=True
    )


def run_pooling(args, results: dict) -> None:
    """Chapter 10: untuned poolings of three encoders, xx->en error rate
    on the blog's eight Tatoeba languages."""
    from labse_lite.book.presets import _BLOG_LANGUAGES
    from labse_lite.book.reference import reference_encoder
    from labse_lite.data import load_tatoeba
    from labse_lite.transfer import pooling_baselines

    encoders = {
        "reference encoder (MLM, 2x64, 800 steps)": None,
        "MLM only, 4x128": 0.0,
        "MLM + TLM, 4x128": 0.5,
    }
    keys = {_arm_key("pooling", args, encoder=name): name for name in encoders}
    todo = pending(list(keys), results.get("pooling", []), args.resume)
    bench = load_tatoeba().subset(_BLOG_LANGUAGES) if todo else None
    for key in todo:
        name = keys[key]
        tlm = encoders[name]
        folder = (
            reference_encoder(progress=False)
            if tlm is None
            else build_encoder(args, results, tlm_fraction=tlm)
        )
        print(f"[pooling] {name}", flush=True)
        errors = pooling_baselines(str(folder), bench, max_length=32)
        record = {
            "key": key,
            "encoder": name,
            "errors": errors,
            "average_error": {
                p: statistics.fmean(e.values()) for p, e in errors.items()
            },
        }
        store(args.output, results, "pooling", record, __file__, args.argv)


def build_teacher(args, results: dict) -> str:
    """The rung's teacher: ``SHAPE`` trained from random weights (64k
    vocabulary, seed 0), cached; its record under ``teachers``."""
    from labse_lite.book.reference import cache_key, cached_training

    config = finetune_config(args, 0)
    folder = cached_training(config, progress=False)
    summary = json.loads((folder.parent / "summary.json").read_text())
    record = {
        "key": cache_key(config),
        **benchmark_columns(summary["eval"]),
        "train_minutes": summary["train_seconds"] / 60,
    }
    _check_rebuild(results, "teachers", record, "tatoeba_xx2en")
    store(args.output, results, "teachers", record, __file__, args.argv)
    return str(folder)


def run_students(args, results: dict) -> None:
    """Chapter 08: thin-deep against shallow-wide students of the rung's
    teacher (LEALLA's three losses), paired by seed."""
    from labse_lite.data import load_train_pairs
    from labse_lite.distill import LEALLA_DEFAULTS

    arms = [(name, seed) for seed in args.seeds for name in STUDENTS]
    keys = {
        _arm_key("students", args, student=n, seed=s): (n, s) for n, s in arms
    }
    todo = pending(list(keys), results.get("students", []), args.resume)
    if not todo:
        return
    teacher = build_teacher(args, results)
    corpus = load_train_pairs().sample(STUDENT_PAIRS, seed=0)
    for i, key in enumerate(todo, 1):
        name, seed = keys[key]
        layers, hidden, heads, ffn = STUDENTS[name]
        print(f"[students {i}/{len(todo)}] {name}, seed {seed}", flush=True)
        config = finetune_config(
            args,
            seed,
            tokenizer=teacher,
            model_preset="laptop",
            num_layers=layers,
            hidden_size=hidden,
            num_heads=heads,
            ffn_size=ffn,
            max_steps=args.student_steps,
            warmup_steps=args.student_steps // 12,
            teacher=teacher,
            **{k: v for k, v in LEALLA_DEFAULTS.items() if k != "ams_weight"},
        )
        record = {"key": key, **finetune_record(config, name, corpus)}
        store(args.output, results, "students", record, __file__, args.argv)


def run_hard_negatives(args, results: dict) -> None:
    """Chapter 03: hard negatives per step and per CPU-minute.  Each
    hard-negative arm is the pretraining experiment's ``random`` arm of
    its seed (same tokenizer, schedule and data order) with
    HARD_NEGATIVES mined per pair by the arm's own model halfway through
    (a model mining at step 0 from random weights would find random
    sentences); before that step nothing in the run uses them, so the
    pair differs by the hard negatives of the second half (and the
    mining's cost).  The in-batch side at equal steps is that ``random``
    arm; at equal time, an in-batch arm of EQUAL_TIME_FACTOR times the
    steps (its warm-up the same share)."""
    start = args.finetune_steps // 2
    steps = equal_time_steps(args)
    arms = {}
    for s in args.seeds:
        key = _arm_key(
            "hard_negatives", args, seed=s, hard=HARD_NEGATIVES, start=start
        )
        arms[key] = (
            s,
            "hard negatives",
            {
                "hard_negatives": HARD_NEGATIVES,
                "hard_negative_start": start,
            },
        )
    for s in args.seeds:
        key = _arm_key("hard_negatives", args, seed=s, equal_time=steps)
        arms[key] = (
            s,
            "in-batch, equal time",
            {"steps": steps},
        )
    todo = pending(list(arms), results.get("hard_negatives", []), args.resume)
    if not todo:
        return
    encoder = build_encoder(args, results, tlm_fraction=0.5)
    for i, key in enumerate(todo, 1):
        seed, name, changes = arms[key]
        print(
            f"[hard_negatives {i}/{len(todo)}] {name}, seed {seed}", flush=True
        )
        config = finetune_config(
            args, seed, tokenizer=str(encoder), lr=DEFAULT_LR, **changes
        )
        record = {"key": key, **finetune_record(config, name)}
        store(
            args.output, results, "hard_negatives", record, __file__, args.argv
        )


def equal_time_steps(args) -> int:
    """The equal-time in-batch arm's steps (a multiple of 10)."""
    return round(args.finetune_steps * EQUAL_TIME_FACTOR / 10) * 10


RUNNERS = {
    "pretraining": run_pretraining,
    "pooling": run_pooling,
    "students": run_students,
    "hard_negatives": run_hard_negatives,
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--experiments",
        nargs="+",
        choices=EXPERIMENTS,
        default=list(EXPERIMENTS),
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pretrain-steps", type=int, default=3400)
    parser.add_argument("--finetune-steps", type=int, default=2300)
    parser.add_argument("--student-steps", type=int, default=3000)
    parser.add_argument(
        "--lrs",
        type=float,
        nargs="+",
        default=[DEFAULT_LR, 5e-4],
        help="fine-tuning learning rates of the pretraining experiment",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--output", default="benchmarks/results/higher_rung.json"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="skip the arms already in --output",
    )
    args = parser.parse_args(argv)
    for name in (
        "pretrain_steps",
        "finetune_steps",
        "student_steps",
        "threads",
    ):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if min(args.lrs) <= 0:
        parser.error("--lrs must be > 0")
    args.output = Path(args.output)
    args.argv = argv
    return args


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    results = load_results(args.output)
    results["threads"] = args.threads
    for name in args.experiments:
        RUNNERS[name](args, results)
    print(report(results))
    return 0


def report(results: dict) -> str:
    """One line per arm group: the mean (and seeds) of its headline."""
    lines = []
    for section, label in (
        ("pretraining", "arm"),
        ("students", "arm"),
        ("hard_negatives", "arm"),
    ):
        groups: dict[str, list] = {}
        for r in results.get(section, []):
            groups.setdefault(r[label], []).append(r)
        for name, rs in groups.items():
            t = statistics.fmean(r["tatoeba_xtreme36"] for r in rs)
            p = statistics.fmean(r["large_pool_xx2en"] for r in rs)
            lines.append(
                f"{section}: {name:>20} seeds {len(rs)}  Tatoeba X36 {t:.2f}"
                f"  pool {p:.2f}"
            )
    for r in results.get("pooling", []):
        errs = ", ".join(f"{k} {v:.1f}" for k, v in r["average_error"].items())
        lines.append(f"pooling: {r['encoder']}: error {errs}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
