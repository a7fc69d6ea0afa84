#!/usr/bin/env python
"""LEALLA's bar on a laptop: the best student against its teacher.

Trains a student of the reference teacher (the laptop model, cached by
``labse_lite.book.reference.reference_teacher``) with LEALLA's loss (AMS +
feature + logit distillation, the paper's weights) for as many steps as
the teacher had, on the whole training set (each shape of ``--shapes``),
and reports: Tatoeba-v1
xx→en (XTREME-36, all) and the large pool for both, the share of the
teacher's XTREME-36 accuracy the student keeps, and both encoders' speed
timed in this process over alternating rounds (teacher, student, teacher,
...) on the same Tatoeba sentences, every round recorded and the median
ratio reported.  The bar (issue 11): keep >= 90% while encoding >= 2x
faster on 2 cores.

    python benchmarks/lightweight_student.py [--shapes "middle 2x64" 1x64]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _headline(ev: dict) -> dict:
    return {
        "tatoeba_xtreme36": ev["tatoeba_avg_xx2en"]["xtreme36"],
        "tatoeba_all": ev["tatoeba_avg_xx2en"]["all"],
        "large_pool_xtreme36": ev["large_pool_avg"]["xtreme36"],
        "large_pool_all": ev["large_pool_avg"]["all"],
    }


def _speed_rounds(models: dict, sentences: list, rounds: int) -> dict:
    from labse_lite.distill import encode_speed

    rates = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            rates[name].append(encode_speed(model, sentences, repeats=1))
    return rates


def _shape(name: str, shapes: dict) -> tuple[int, int, int, int]:
    if name in shapes:
        return tuple(shapes[name])
    try:  # "LxH": H/32 heads, FFN 4H
        layers, hidden = (int(v) for v in name.split("x"))
    except ValueError:
        raise SystemExit(
            f"--shapes {name!r}: a shape of the lightweight "
            f"preset ({sorted(shapes)}) or LxH"
        ) from None
    return layers, hidden, max(1, hidden // 32), 4 * hidden


def _run_student(name, shape, teacher_dir, teacher_summary, args) -> dict:
    """Train one student, time it against the teacher, one result row."""
    import torch

    from labse_lite.data import load_tatoeba
    from labse_lite.distill import LEALLA_DEFAULTS, non_embedding_parameters
    from labse_lite.model import DualEncoder
    from labse_lite.train import TrainConfig, train

    layers, hidden, heads, ffn = shape
    steps = args.steps or teacher_summary["config"]["max_steps"]
    config = TrainConfig(
        output_dir=f"runs/lightweight_student_{layers}x{hidden}",
        tokenizer=str(teacher_dir),
        teacher=str(teacher_dir),
        model_preset=None,
        num_layers=layers,
        hidden_size=hidden,
        num_heads=heads,
        ffn_size=ffn,
        max_steps=steps,
        warmup_steps=steps // 12,
        seed=args.seed,
        threads=args.threads,
        resume=False,
        checkpoint_every=0,
        **LEALLA_DEFAULTS,
    )
    summary = train(config)
    teacher = DualEncoder.from_pretrained(str(teacher_dir)).eval()
    student = DualEncoder.from_pretrained(
        os.path.join(config.output_dir, "model")
    ).eval()
    bench = load_tatoeba()
    step = max(1, len(bench) // args.sentences)
    sentences = bench.xx[::step][: args.sentences]
    rates = _speed_rounds(
        {"teacher": teacher, "student": student}, sentences, args.rounds
    )
    ratios = [s / t for s, t in zip(rates["student"], rates["teacher"])]
    t_acc, s_acc = (
        _headline(teacher_summary["eval"]),
        _headline(summary["eval"]),
    )
    row = {
        "student": name,
        "steps": steps,
        "shape": dict(layers=layers, hidden=hidden, heads=heads, ffn=ffn),
        "loss_weights": LEALLA_DEFAULTS,
        "teacher_params": sum(p.numel() for p in teacher.parameters()),
        "student_params": sum(p.numel() for p in student.parameters()),
        "teacher_non_embedding": non_embedding_parameters(teacher),
        "student_non_embedding": non_embedding_parameters(student),
        "teacher_dim": teacher.embedding_dim,
        "student_dim": student.embedding_dim,
        **{f"teacher_{k}": v for k, v in t_acc.items()},
        **{f"student_{k}": v for k, v in s_acc.items()},
        "kept_percent": 100
        * s_acc["tatoeba_xtreme36"]
        / t_acc["tatoeba_xtreme36"],
        "encode_sentences": len(sentences),
        "encode_rates": rates,
        "encode_speedup_rounds": ratios,
        "encode_speedup_median": statistics.median(ratios),
        "student_train_minutes": summary["train_seconds"] / 60,
        "threads": args.threads,
        "torch": torch.__version__,
    }
    row["meets_bar"] = bool(
        row["kept_percent"] >= 90 and row["encode_speedup_median"] >= 2
    )
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--shapes",
        nargs="+",
        default=["middle 2x64", "1x64"],
        help="student shapes: names of the lightweight preset or LxH",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="student steps (default: the teacher's)",
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sentences", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--output", default="benchmarks/results/lightweight_student.json"
    )
    args = parser.parse_args(argv)
    import torch

    from labse_lite.book import presets
    from labse_lite.book.reference import reference_teacher
    from labse_lite.book.results import current_reference_key
    from labse_lite.runtime import provenance

    torch.set_num_threads(args.threads)
    shapes = presets.settings("lightweight")["shapes"]
    teacher_dir = reference_teacher()
    teacher_summary = json.loads(
        (teacher_dir.parent / "summary.json").read_text()
    )
    runs = [
        _run_student(
            name, _shape(name, shapes), teacher_dir, teacher_summary, args
        )
        for name in args.shapes
    ]
    passing = [r for r in runs if r["meets_bar"]]
    best = max(
        passing or runs,
        key=lambda r: (
            r["kept_percent"] if passing else r["encode_speedup_median"]
        ),
    )
    result = {
        "bar": "kept_percent >= 90 and encode_speedup_median >= 2",
        "best": best["student"],
        "runs": runs,
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
        },
        "date": time.strftime("%Y-%m-%d"),
        "provenance": {
            **provenance(
                __file__, sys.argv[1:] if argv is None else list(argv)
            ),
            "reference_key": current_reference_key(),
        },
    }
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as handle:
        json.dump(result, handle, indent=1)
    for r in runs:
        print(
            f"{r['student']}: XTREME-36 {r['student_tatoeba_xtreme36']:.1f}"
            f" vs teacher {r['teacher_tatoeba_xtreme36']:.1f} "
            f"({r['kept_percent']:.0f}% kept), encode "
            f"{r['encode_speedup_median']:.2f}x, bar met: "
            f"{r['meets_bar']}"
        )
    print("best:", result["best"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
