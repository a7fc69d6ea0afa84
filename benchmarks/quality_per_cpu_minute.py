#!/usr/bin/env python
"""Quality per CPU-minute: the default `labse-lite train` on this machine.

Trains the default (laptop) configuration from random initialisation on the
shipped data -- about 5 minutes of training on 2 CPU cores -- and reports
Tatoeba-v1 accuracy (xx→en and en→xx) averaged over the paper's XTREME-36
languages, over all trained languages and over all 112, and large-pool
accuracy (each query against all 69k distinct Tatoeba English sentences)
and FLORES-200 retrieval (xx→en and en→xx, 1012 Wikipedia sentences per
language, 49 languages): a gain on Tatoeba alone is not the goal.

``--set key=value`` changes one TrainConfig setting (repeatable), to try
a candidate default against the current one on the same machine.

    python benchmarks/quality_per_cpu_minute.py [--seed 0] [--threads 2]
        [--set max_steps=3000 --set lr=3e-3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output-dir", default="runs/bench_quality")
    parser.add_argument(
        "--output", default="benchmarks/results/quality_per_cpu_minute.json"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a TrainConfig setting (JSON value)",
    )
    args = parser.parse_args(argv)
    from labse_lite.evaluate import flores_retrieval
    from labse_lite.model import DualEncoder
    from labse_lite.runtime import provenance
    from labse_lite.train import TrainConfig, train

    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in TrainConfig.__dataclass_fields__:
            parser.error(f"--set {item}: no TrainConfig setting {key!r}")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    config = TrainConfig(
        **{
            **dict(
                output_dir=args.output_dir,
                seed=args.seed,
                threads=args.threads,
                resume=False,
                progress=False,
            ),
            **overrides,
        }
    )
    t0 = time.perf_counter()
    summary = train(config)
    wall = time.perf_counter() - t0
    model = DualEncoder.from_pretrained(Path(config.output_dir) / "model")
    flores = flores_retrieval(model, encode_length=config.eval_length)
    # the same model read at its training length: what the encode-time
    # length changes on long sentences
    flores_short = flores_retrieval(model, encode_length=None)
    ev = summary["eval"]
    per_lang = ev["tatoeba"]
    result = {
        "config": summary["config"],
        "train_minutes": summary["train_seconds"] / 60,
        "setup_minutes_vocab_and_tokenize": (
            summary["vocab_and_setup_seconds"] + summary["tokenize_seconds"]
        )
        / 60,
        "wall_minutes_total": wall / 60,
        "overrides": overrides,
        "steps": summary["steps"],
        "pairs_per_second": summary["pairs_per_second"],
        "tatoeba_xx2en": ev["tatoeba_avg_xx2en"],
        "tatoeba_en2xx": ev["tatoeba_avg_en2xx"],
        "large_pool_size": ev["large_pool"]["pool_size"],
        "large_pool_xx2en": ev["large_pool_avg"],
        "flores_xx2en": flores["avg_xx2en"],
        "flores_en2xx": flores["avg_en2xx"],
        "flores_languages": len(flores["per_language"]),
        "flores_xx2en_at_training_length": flores_short["avg_xx2en"],
        "flores_en2xx_at_training_length": flores_short["avg_en2xx"],
        "encoding": {
            "tatoeba_and_pool": ev.get("encoding"),
            "flores": flores["encoding"],
        },
        "xtreme36_xx2en_per_language": {
            l: per_lang[l]["xx2en"]
            for l in sorted(per_lang)
            if l
            in __import__("labse_lite.languages", fromlist=["x"]).XTREME_36
        },
        "cpus": os.cpu_count(),
        "provenance": provenance(
            __file__, sys.argv[1:] if argv is None else list(argv)
        ),
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
    print(
        json.dumps(
            {
                k: v
                for k, v in result.items()
                if k not in ("config", "xtreme36_xx2en_per_language")
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
