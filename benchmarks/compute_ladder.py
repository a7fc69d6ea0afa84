#!/usr/bin/env python
"""The compute ladder: one recipe trained at several CPU-minute budgets.

Issue 28 asks what more compute buys.  The recipe (TrainConfig's
defaults, changed with --set) is trained at each of --budgets CPU-minutes
(default 5, 15 and 45) on --threads threads, and every rung is evaluated
on the development split (:func:`labse_lite.data.dev_split`, held out of
the rungs' training data so that each has a dev score), on Tatoeba-v1
(XTREME-36 and all 112 languages, both directions) and on the large pool.

*The scaling rule* (--rule; RULES).  ``steps``: the model, batch and data
stay as they are and only the steps grow.  A recipe whose max_steps fill
--base-minutes (the default's 7,711 steps: 5 minutes on the 2-core
machine the recipe was chosen on)
trains round(max_steps × budget / base) steps at ``budget`` minutes, with
the warm-up the same share of them, so each rung's learning rate decays
to zero when its budget ends.  A step costs the same at every rung, so
the rungs' times scale as their budgets on any machine; the minutes each
took here are recorded (``train_minutes``), and the step counts, which do
not depend on the machine, make every rung reproducible.  ``depth``: the
steps stay and the model's layers grow by budget / base, so every rung
passes over the data as often as the base recipe and only the model
grows (scaling-law studies grow model and data together; here the data
is what ships).  Another rule is one more function in RULES.

Every rung is written to --output when it ends (command, commit, date,
machine and thread count with it).  --resume skips the rungs already
there and continues an interrupted rung from its last checkpoint (one
every 500 steps), so the 45-minute rung survives a session ending; a
resumed rung's ``train_minutes`` counts only the part after the restart
(``resumed`` says so).

    python benchmarks/compute_ladder.py [--budgets 5 15 45] [--rule depth] \\
        [--set lr=0.003] [--threads 2] [--resume]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from recipe_sweep import (
    benchmark_columns,
    dev_columns,
    development_split,
    load_results,
    parse_settings,
    pending,
    run_folder,
    run_key,
    store,
    table,
    timing,
)

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

COLUMNS = [
    "steps",
    "train_minutes",
    "dev_xx2en",
    "dev_pooled",
    "tatoeba_xtreme36",
    "tatoeba_xx2en",
    "large_pool_xx2en",
]


def steps_only(
    recipe: dict, budget_minutes: float, base_minutes: float
) -> dict:
    """The ``steps`` rule: ``recipe`` (TrainConfig settings), whose
    max_steps fill ``base_minutes``, at ``budget_minutes``: max_steps and
    warmup_steps scaled by budget / base (rounded; at least one step),
    everything else unchanged."""
    from labse_lite.train import TrainConfig

    base = TrainConfig(**recipe)
    factor = budget_minutes / base_minutes
    return {
        **recipe,
        "max_steps": max(1, round(base.max_steps * factor)),
        "warmup_steps": round(base.warmup_steps * factor),
    }


def depth(recipe: dict, budget_minutes: float, base_minutes: float) -> dict:
    """The ``depth`` rule: the model grows and the steps stay.  The
    recipe's layers (its num_layers, else its model preset's) are scaled
    by budget / base (rounded; at least one), max_steps and warm-up are
    unchanged, so every rung passes over the data the same number of
    times and its non-embedding parameters -- and with them 6 · N · D --
    grow in proportion to the budget.  The rung's minutes grow less than
    that (the word embeddings and the loss cost the same at every depth);
    the recorded FLOPs, not the minutes, are the ladder's axis."""
    from labse_lite.model import MODEL_PRESETS
    from labse_lite.train import TrainConfig

    base = TrainConfig(**recipe)
    layers = (
        base.num_layers
        or MODEL_PRESETS[base.model_preset]["num_hidden_layers"]
    )
    return {
        **recipe,
        "num_layers": max(1, round(layers * budget_minutes / base_minutes)),
    }


RULES = {"steps": steps_only, "depth": depth}


def recipe_fingerprint(recipe: dict) -> str:
    """16 hex digits of sha256 over the recipe's full TrainConfig (its
    settings over the defaults): a rung trained before a default changed
    is not taken for one of the new recipe."""
    import hashlib
    import json

    from labse_lite.train import TrainConfig

    text = json.dumps(TrainConfig(**recipe).to_dict(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def train_rung(settings: dict, run_dir: Path, args, corpus, dev) -> dict:
    """Train one rung (``settings``: its TrainConfig settings) on
    ``corpus`` into ``run_dir`` and evaluate it on ``dev``, Tatoeba-v1
    and the large pool; the record's columns."""
    from labse_lite.evaluate import dev_retrieval
    from labse_lite.model import DualEncoder
    from labse_lite.train import TrainConfig, train

    config = TrainConfig(
        **{
            **settings,
            "output_dir": str(run_dir),
            "seed": args.seed,
            "threads": args.threads,
            "resume": args.resume,
            "progress": False,
        }
    )
    resumed = args.resume and (run_dir / "checkpoint.pt").is_file()
    summary = train(config, corpus)
    model = DualEncoder.from_pretrained(run_dir / "model")
    scores = dev_retrieval(model, dev)
    schedule = {
        "max_steps": config.max_steps,
        "warmup_steps": config.warmup_steps,
    }
    return {
        **timing(summary, schedule),
        "resumed": resumed,
        **dev_columns(scores),
        **benchmark_columns(summary["eval"]),
        **compute_estimate(
            model, corpus, summary["steps"] * config.batch_size
        ),
        "dev": scores,
        "config": summary["config"],
    }


def compute_estimate(model, corpus, pairs_seen: int) -> dict:
    """Training FLOPs by the usual estimate 6 · N · D (Kaplan et al.,
    2020): N the encoder's non-embedding parameters, D the tokens it
    processed -- both sides of every pair seen, each at its length capped
    at the training length (padding not counted).  The estimate puts a
    rung and a published model on one axis, whatever hardware ran them."""
    import numpy as np

    from labse_lite.distill import non_embedding_parameters

    lengths = model.token_lengths(list(corpus.xx) + list(corpus.en))
    mean_tokens = float(np.minimum(lengths, model.max_length).mean())
    n = non_embedding_parameters(model)
    tokens = 2 * pairs_seen * mean_tokens
    return {
        "non_embedding_parameters": n,
        "mean_tokens_per_sentence": mean_tokens,
        "tokens_seen": tokens,
        "training_flops_estimate": 6 * n * tokens,
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--budgets", type=float, nargs="+", default=[5.0, 15.0, 45.0]
    )
    parser.add_argument("--rule", choices=sorted(RULES), default="steps")
    parser.add_argument(
        "--base-minutes",
        type=float,
        default=5.0,
        help="the budget the recipe's own max_steps fill",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a TrainConfig setting of the recipe (JSON value; repeatable)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dev-per-language", type=int, default=200)
    parser.add_argument(
        "--output", default="benchmarks/results/compute_ladder.json"
    )
    parser.add_argument("--runs-dir", default="runs/compute_ladder")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="skip the rungs already in --output; continue an "
        "interrupted one from its checkpoint",
    )
    args = parser.parse_args(argv)
    if min(args.budgets) <= 0 or args.base_minutes <= 0:
        parser.error("budgets and --base-minutes must be > 0")
    args.recipe = parse_settings(args.set, parser.error)
    args.output = Path(args.output)
    return args


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    results = load_results(args.output)
    plans = {
        run_key(
            rule=args.rule,
            recipe=args.recipe,
            recipe_config=recipe_fingerprint(args.recipe),
            budget_minutes=budget,
            base_minutes=args.base_minutes,
            seed=args.seed,
            threads=args.threads,
            dev_per_language=args.dev_per_language,
        ): budget
        for budget in args.budgets
    }
    todo = pending(list(plans), results.get("rungs", []), args.resume)
    if todo:
        corpus, dev, results["dev_split"] = development_split(
            args.dev_per_language
        )
    results["threads"] = args.threads
    for i, key in enumerate(todo, 1):
        budget = plans[key]
        print(f"[{i}/{len(todo)}] {budget:g} CPU-minutes", flush=True)
        settings = RULES[args.rule](args.recipe, budget, args.base_minutes)
        record = {
            "key": key,
            "budget_minutes": budget,
            "rule": args.rule,
            "recipe": args.recipe,
            **train_rung(
                settings, run_folder(args.runs_dir, key), args, corpus, dev
            ),
        }
        store(args.output, results, "rungs", record, __file__, argv)
    by_key = {r["key"]: r for r in results.get("rungs", [])}
    rows = [
        (f"{budget:g} min", [by_key[key]])
        for key, budget in plans.items()
        if key in by_key
    ]
    print(table(rows, COLUMNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
