#!/usr/bin/env python
"""The batch-size effect behind cross-device negatives (Feng et al., §3.3).

Trains the laptop model with global batches of 32, 128 and 512 pairs for the
*same number of training pairs seen* (default 307,200 = 2400 steps of 128),
and reports Tatoeba-v1 (XTREME-36, all) and large-pool accuracy.  A batch of
512 is built with cached gradients (GradCache, mini-batches of 128), which
is exactly the gradient of one 512-pair batch, i.e. what all-gather over 4
devices of 128 would give.  Warm-up is scaled to the same number of pairs.

    python benchmarks/batch_size_effect.py [--batches 32 128 512]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--batches", type=int, nargs="+", default=[32, 128, 512]
    )
    parser.add_argument("--pairs", type=int, default=307_200)
    parser.add_argument(
        "--chunk",
        type=int,
        default=128,
        help="GradCache mini-batch for batches above it",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--output", default="benchmarks/results/batch_size_effect.json"
    )
    args = parser.parse_args(argv)
    from labse_lite.runtime import provenance
    from labse_lite.train import TrainConfig, train

    tokenizer = None
    results = []
    for batch in args.batches:
        steps = args.pairs // batch
        config = TrainConfig(
            output_dir=f"runs/batch_{batch}",
            batch_size=batch,
            max_steps=steps,
            warmup_steps=max(1, 200 * 128 // batch),
            grad_cache_chunk=args.chunk if batch > args.chunk else None,
            seed=args.seed,
            threads=args.threads,
            resume=False,
            progress=False,
            checkpoint_every=0,
            tokenizer=tokenizer,
        )
        summary = train(config)
        # Reuse the first run's vocabulary so only the batch differs.
        tokenizer = tokenizer or str(Path(config.output_dir) / "tokenizer")
        ev = summary["eval"]
        row = {
            "global_batch": batch,
            "steps": steps,
            "pairs_seen": summary["pairs_seen"],
            "grad_cache_chunk": config.grad_cache_chunk,
            "train_minutes": summary["train_seconds"] / 60,
            "tatoeba_xx2en": ev["tatoeba_avg_xx2en"],
            "large_pool_xx2en": ev["large_pool_avg"],
            "large_pool_size": ev["large_pool"]["pool_size"],
        }
        results.append(row)
        print(json.dumps(row), flush=True)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    out = {
        "runs": results,
        "provenance": provenance(
            __file__, sys.argv[1:] if argv is None else list(argv)
        ),
    }
    Path(args.output).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
