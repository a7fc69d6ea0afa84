#!/usr/bin/env python
"""Quality per CPU-minute: the default `labse-lite train` on this machine.

Trains the default (laptop) configuration from random initialisation on the
shipped data -- about 5 minutes of training on 2 CPU cores -- and reports
Tatoeba-v1 accuracy (xx→en and en→xx) averaged over the paper's XTREME-36
languages, over all trained languages and over all 112, and large-pool
accuracy (each query against all 69k distinct Tatoeba English sentences).

    python benchmarks/quality_per_cpu_minute.py [--seed 0] [--threads 2]
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
    parser.add_argument("--output", default="benchmarks/results/"
                        "quality_per_cpu_minute.json")
    args = parser.parse_args(argv)

    from labse_lite.train import TrainConfig, train

    config = TrainConfig(output_dir=args.output_dir, seed=args.seed,
                         threads=args.threads, resume=False, progress=False)
    t0 = time.perf_counter()
    summary = train(config)
    ev = summary["eval"]
    per_lang = ev["tatoeba"]
    result = {
        "config": summary["config"],
        "train_minutes": summary["train_seconds"] / 60,
        "setup_minutes_vocab_and_tokenize":
            (summary["vocab_and_setup_seconds"]
             + summary["tokenize_seconds"]) / 60,
        "wall_minutes_total": (time.perf_counter() - t0) / 60,
        "steps": summary["steps"],
        "pairs_per_second": summary["pairs_per_second"],
        "tatoeba_xx2en": ev["tatoeba_avg_xx2en"],
        "tatoeba_en2xx": ev["tatoeba_avg_en2xx"],
        "large_pool_size": ev["large_pool"]["pool_size"],
        "large_pool_xx2en": ev["large_pool_avg"],
        "xtreme36_xx2en_per_language": {
            l: per_lang[l]["xx2en"] for l in sorted(per_lang)
            if l in __import__("labse_lite.languages", fromlist=["x"])
            .XTREME_36},
        "cpus": os.cpu_count(),
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items()
                      if k not in ("config", "xtreme36_xx2en_per_language")},
                     indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
