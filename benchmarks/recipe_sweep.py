#!/usr/bin/env python
"""A sweep for a better laptop recipe, selected on a development split.

Issue 28 asks for more Tatoeba accuracy per CPU-minute.  Each grid
changes one thing at a time around the default it started from
(:data:`SWEEP_BASE`: 2 layers × 128, batch 128, lr 2e-3, a 32k
vocabulary, 32 tokens, language_alpha 0.5, 2400 steps), every run
trained for the same time budget.  Its chosen recipe (1 layer, a 64k
vocabulary, 7,711 steps) is the package's default now; "default" below
means SWEEP_BASE:

    shape     depth and width at equal time (a bigger model takes fewer
              steps)
    batch     steps against batch size: more steps of fewer pairs, or
              fewer steps of more
    vocab     WordPiece vocabulary size
    length    training length (max_length, tokens per sentence)
    alpha     data mixing: language_alpha, languages drawn ∝ n_l ** alpha
    lr        peak learning rate
    schedule  the default's fixed 2400 steps against schedules fitted to
              the budget, with three warm-up shares
    custom    the recipe of --set against the default (winners of the
              grids combined, say)

*A schedule fitted to the budget, deterministically.*  Runs that cost
the same per step -- same shape, batch, length, vocabulary size and
threads (:data:`COST_FIELDS`) -- form a *cost class*, and a class is
timed once: a speed probe trains its first run's config for PROBE_STEPS
steps to get a rough speed, then for as many steps as PROBE_SECONDS
buy at that speed and times those after the first PROBE_SKIP.  The
budget at that speed buys max_steps (:func:`fit_schedule`), the warm-up
is the candidate's share of them, and the linear decay ends at
max_steps, when the budget does.  Every run of the class gets the same
step count, so a learning rate, a data mix or a warm-up is compared at
exactly equal steps, not at the noise of separate probes (a 30-step
probe per run gave 2,761 to 3,749 steps to one shape).  The probe is kept
in the result file (``"probes"``, with the date and machine), so a
resumed sweep reuses it -- on the same machine only: a speed measured on
another machine gives other step counts, so a sweep continued elsewhere
starts a new --output or drops the old probes and their runs.  The run
itself is an ordinary training run of that many steps --
bit-reproducible given its step count, whatever the machine measures
next time -- and its record keeps the probe's speed and the steps
chosen.  Only the training loop counts against the budget; vocabulary,
tokenisation, probe and evaluation are recorded beside it.

*Selected on a development split, never on a test set.*  Every run trains
on the shipped training pairs less a development split
(:func:`labse_lite.data.dev_split`, by sentence) and is scored on that
split only (:func:`labse_lite.evaluate.dev_retrieval`); the table ranks by
--rank-by.  Tatoeba-v1 (XTREME-36, all 112) and the large pool are
measured only by --final: the chosen recipe (--set, fitted to the budget),
the current default (its own 2400 steps) and the default fitted to the
same budget (equal time), each trained on all the training pairs as
`make run` trains, side by side.

Every run is written to --output the moment it ends, so a sweep survives
an interrupted session: --resume skips the runs already there.  Without
it, this invocation's runs are redone and replace their old records;
other records in the file are kept.  A run of one grid that another grid
also holds (the default) is found by its settings, not its grid.

    python benchmarks/recipe_sweep.py --grid shape [--seeds 0 1] [--resume]
    python benchmarks/recipe_sweep.py --grid custom --set num_layers=1 \\
        --set lr=0.003
    python benchmarks/recipe_sweep.py --final --set num_layers=1 \\
        --set lr=0.003 [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import statistics
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PROBE_STEPS = 30  # steps of the rough first probe
PROBE_SECONDS = 20.0  # length of the timed probe at the rough speed
PROBE_SKIP = 20  # the timed probe's first steps, not timed (warm-up)
PROBE_MAX_STEPS = 1000  # (a tiny model would take thousands in 20 s)
# TrainConfig settings that set the cost of a step: runs equal in these
# share one probe, and so one step count.
COST_FIELDS = (
    "model_preset",
    "num_layers",
    "hidden_size",
    "num_heads",
    "ffn_size",
    "batch_size",
    "max_length",
    "vocab_size",
    "pooling",
    "precision",
    "threads",
    "grad_cache_chunk",
    "hard_negatives",
)
# The default the sweep searched around: TrainConfig's defaults until this
# sweep's recipe replaced them (issue 28).  Every run starts from these
# settings, so its records keep their meaning after the switch; the
# evaluation reads at the training length, as every stored record did.
SWEEP_BASE = dict(
    num_layers=2,
    vocab_size=32000,
    max_steps=2400,
    warmup_steps=200,
    eval_length=None,
)
DEFAULT_WARMUP = 200 / 2400  # the default's warm-up share of its steps
DEV_SEED = 0  # the development split's seed, whatever the runs' seeds
RANK_BY = ("dev_xtreme36", "dev_xx2en", "dev_pooled")
DEV_COLUMNS = ["steps", "probe_steps_per_second", "train_minutes", *RANK_BY]
TEST_COLUMNS = [
    "steps",
    "train_minutes",
    "tatoeba_xtreme36",
    "tatoeba_xx2en",
    "tatoeba_en2xx",
    "large_pool_xtreme36",
    "large_pool_xx2en",
]


@dataclass
class Candidate:
    """One recipe: TrainConfig settings over the defaults, and the
    warm-up share of a schedule fitted to the budget (None: the config's
    own max_steps and warmup_steps, not fitted)."""

    name: str
    overrides: dict = field(default_factory=dict)
    warmup_fraction: float | None = DEFAULT_WARMUP


def _shape(layers: int, hidden: int) -> dict:
    """Encoder settings of a layers × hidden shape: 64-wide attention
    heads and a 4 × hidden feed-forward layer, as the default's."""
    return dict(
        num_layers=layers,
        hidden_size=hidden,
        num_heads=max(1, hidden // 64),
        ffn_size=4 * hidden,
    )


BASELINE = Candidate("default-fitted")
GRIDS = {
    "shape": [BASELINE]
    + [
        Candidate(f"{layers}x{hidden}", _shape(layers, hidden))
        for layers, hidden in ((1, 64), (1, 128), (4, 128), (1, 256), (2, 256))
    ],
    "batch": [BASELINE]
    + [Candidate(f"batch{b}", {"batch_size": b}) for b in (32, 64, 256, 512)],
    "vocab": [BASELINE]
    + [
        Candidate(f"vocab{v // 1000}k", {"vocab_size": v})
        for v in (8000, 16000, 64000)
    ],
    "length": [BASELINE]
    + [Candidate(f"length{n}", {"max_length": n}) for n in (24, 48, 64)],
    "alpha": [BASELINE]
    + [
        Candidate(f"alpha{a:g}", {"language_alpha": a})
        for a in (0.2, 0.3, 0.7, 1.0)
    ],
    "lr": [BASELINE]
    + [Candidate(f"lr{lr:g}", {"lr": lr}) for lr in (1e-3, 3e-3, 5e-3)],
    "schedule": [Candidate("default-2400", {}, None), BASELINE]
    + [Candidate(f"warmup{f:g}", {}, f) for f in (0.02, 0.2)],
}


def fit_schedule(
    budget_minutes: float, steps_per_second: float, warmup_fraction: float
) -> tuple[int, int]:
    """``(max_steps, warmup_steps)`` that fill ``budget_minutes`` at a
    measured speed: the whole steps the budget buys (at least 1; rounded
    down, so the budget is not exceeded) and the warm-up the given share
    of them.  :func:`labse_lite.runtime.lr_lambda` then decays the rate
    to zero at max_steps, when the budget ends."""
    if not (budget_minutes > 0 and steps_per_second > 0):
        raise ValueError(
            f"budget ({budget_minutes} min) and speed "
            f"({steps_per_second} steps/s) must be > 0"
        )
    if not 0 <= warmup_fraction < 1:
        raise ValueError(f"warmup_fraction={warmup_fraction} not in [0, 1)")
    max_steps = max(1, int(budget_minutes * 60 * steps_per_second))
    return max_steps, round(warmup_fraction * max_steps)


def run_key(**fields) -> str:
    """A run's identity as canonical JSON: a record with the same key is
    the same measurement (``--resume`` skips it)."""
    return json.dumps(fields, sort_keys=True)


def plan(
    candidates: list[Candidate], seeds: list[int], **fields
) -> dict[str, tuple[Candidate, int]]:
    """Every ``(candidate, seed)`` by its run key; ``fields`` (mode,
    budget, threads...) complete the key."""
    return {
        run_key(
            overrides=cand.overrides,
            warmup_fraction=cand.warmup_fraction,
            seed=seed,
            **fields,
        ): (cand, seed)
        for cand in candidates
        for seed in seeds
    }


def pending(keys: list[str], records: list[dict], resume: bool) -> list[str]:
    """The keys still to run, in order and each once: all of them, or
    with ``resume`` those that no record holds yet."""
    done = {r["key"] for r in records} if resume else set()
    return [k for k in dict.fromkeys(keys) if k not in done]


def load_results(path: Path) -> dict:
    """The result file so far (empty when there is none)."""
    return json.loads(path.read_text()) if path.is_file() else {}


def store(
    path: Path,
    results: dict,
    section: str,
    record: dict,
    script: str,
    argv: list[str],
) -> None:
    """Put ``record`` into ``results[section]`` (replacing the record with
    its key), stamp it and the file with the provenance of this command,
    and write the file atomically: a run is kept the moment it ends."""
    from labse_lite.runtime import provenance

    record["provenance"] = results["provenance"] = provenance(
        script, argv, written=path
    )
    kept = [r for r in results.get(section, []) if r["key"] != record["key"]]
    results[section] = kept + [record]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    os.replace(tmp, path)


def run_folder(runs_dir: str, key: str) -> Path:
    """The run's output folder, named by its key's hash."""
    return Path(runs_dir) / hashlib.sha256(key.encode()).hexdigest()[:12]


def parse_settings(items: list[str], error) -> dict:
    """``KEY=VALUE`` items as TrainConfig settings (a JSON value, else the
    string); ``error`` (argparse's) on an unknown key or a config that
    cannot train."""
    from labse_lite.train import TrainConfig

    overrides = {}
    for item in items:
        key, _, value = item.partition("=")
        if key not in TrainConfig.__dataclass_fields__:
            error(f"--set {item}: no TrainConfig setting {key!r}")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    try:
        TrainConfig(**overrides).validate()
    except ValueError as err:
        error(str(err))
    return overrides


def development_split(per_language: int):
    """``(train_rest, dev, description)``: the shipped training pairs
    split by :func:`labse_lite.data.dev_split` with DEV_SEED."""
    from labse_lite.data import dev_split, load_train_pairs

    train_rest, dev = dev_split(load_train_pairs(), per_language, DEV_SEED)
    return (
        train_rest,
        dev,
        {
            "per_language": per_language,
            "seed": DEV_SEED,
            "dev_pairs": len(dev),
            "dev_languages": len(dev.languages()),
            "train_pairs": len(train_rest),
        },
    )


def cost_key(config) -> str:
    """The cost class of a TrainConfig (:data:`COST_FIELDS`) as JSON."""
    return json.dumps(
        {name: getattr(config, name) for name in COST_FIELDS},
        sort_keys=True,
    )


def _seconds_per_step(config, corpus, steps: int, skip: int) -> float:
    """Train ``config`` for ``steps`` steps; the mean seconds of a step
    after the first ``skip``."""
    from labse_lite.train import train

    stamps: list[float] = []
    train(
        replace(config, max_steps=steps),
        corpus,
        on_step=lambda step, logs: stamps.append(time.perf_counter()),
    )
    return (stamps[-1] - stamps[skip - 1]) / (len(stamps) - skip)


def probe_speed(config, corpus) -> dict:
    """The training speed of ``config``: a rough PROBE_STEPS-step probe,
    then a probe of about PROBE_SECONDS timed after its first PROBE_SKIP
    steps: ``{"steps", "steps_per_second", "seconds"}`` (set-up included
    in seconds).  It saves its vocabulary in its output folder, for the
    run to load instead of training the same one again."""
    t0 = time.perf_counter()
    rough = 1 / _seconds_per_step(config, corpus, PROBE_STEPS, 5)
    steps = min(
        PROBE_MAX_STEPS, max(2 * PROBE_SKIP, round(PROBE_SECONDS * rough))
    )
    per_step = _seconds_per_step(
        replace(config, tokenizer=f"{config.output_dir}/tokenizer"),
        corpus,
        steps + PROBE_SKIP,
        PROBE_SKIP,
    )
    from labse_lite.runtime import machine_fingerprint

    return {
        "steps": steps,
        "rough_steps_per_second": rough,
        "steps_per_second": 1 / per_step,
        "seconds": time.perf_counter() - t0,
        # a speed belongs to a machine: runs compared at equal time must
        # be probed on the same one (the date tells sessions apart)
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine_fingerprint(),
    }


def train_candidate(
    cand: Candidate,
    run_dir: Path,
    budget_minutes: float,
    corpus,
    probes: dict | None = None,
    **settings,
) -> tuple[dict, dict]:
    """Train one candidate into ``run_dir`` on ``corpus`` (None: all the
    shipped pairs).  With a warm-up share: the schedule fitted to
    ``budget_minutes`` at its cost class's speed (``probes``, by
    :func:`cost_key`; probed and added there when missing); without one:
    the config's own steps.  ``settings``: the run's TrainConfig settings
    besides the candidate's (seed, threads, final evaluation).  Returns
    the training summary and the schedule (probe, max_steps,
    warmup_steps)."""
    from labse_lite.train import TrainConfig, train

    def config(out: Path, **more) -> TrainConfig:
        return TrainConfig(
            **{
                **SWEEP_BASE,
                **cand.overrides,
                **settings,
                "output_dir": str(out),
                "resume": False,
                "progress": False,
                "checkpoint_every": 0,
                **more,
            }
        )

    probe_dir, schedule, fitted = run_dir / "probe", {}, {}
    probes = {} if probes is None else probes
    if cand.warmup_fraction is not None:
        key = cost_key(config(probe_dir))
        if key not in probes:
            probes[key] = probe_speed(
                config(probe_dir, final_eval=False), corpus
            )
            fitted["tokenizer"] = str(probe_dir / "tokenizer")
        schedule["probe"] = probes[key]
        steps, warmup = fit_schedule(
            budget_minutes,
            schedule["probe"]["steps_per_second"],
            cand.warmup_fraction,
        )
        fitted.update(max_steps=steps, warmup_steps=warmup)
    summary = train(config(run_dir, **fitted), corpus)
    schedule.update(
        fitted=cand.warmup_fraction is not None,
        warmup_fraction=cand.warmup_fraction,
        max_steps=summary["config"]["max_steps"],
        warmup_steps=summary["config"]["warmup_steps"],
    )
    # only the model and the vocabulary are kept (no run resumes)
    for stale in (probe_dir / "checkpoint.pt", run_dir / "checkpoint.pt"):
        stale.unlink(missing_ok=True)
    shutil.rmtree(probe_dir / "model", ignore_errors=True)
    return summary, schedule


def timing(summary: dict, schedule: dict) -> dict:
    """The cost columns of a run's record."""
    probe = schedule.get("probe") or {}
    return {
        "schedule": schedule,
        "steps": summary["steps"],
        "probe_steps_per_second": probe.get("steps_per_second"),
        "train_minutes": summary["train_seconds"] / 60,
        "setup_minutes": (
            summary["vocab_and_setup_seconds"] + summary["tokenize_seconds"]
        )
        / 60,
        "pairs_per_second": summary["pairs_per_second"],
        "final_loss": summary["final_loss"],
        "threads": summary["machine"]["threads"],
    }


def dev_columns(dev: dict) -> dict:
    """The headline numbers of :func:`labse_lite.evaluate.dev_retrieval`:
    xx→en over the XTREME-36 languages of the split and over all of them,
    and the pooled xx→en over all of them."""
    return {
        "dev_xtreme36": dev["xx2en"].get("xtreme36"),
        "dev_xx2en": dev["xx2en"]["all"],
        "dev_pooled": dev["pooled_xx2en"]["all"],
    }


def benchmark_columns(ev: dict) -> dict:
    """Tatoeba-v1 and large-pool numbers of a final evaluation."""
    from labse_lite.evaluate import headline

    return {
        **headline(ev),
        "tatoeba_avg_xx2en": ev["tatoeba_avg_xx2en"],
        "tatoeba_avg_en2xx": ev["tatoeba_avg_en2xx"],
        "large_pool_avg": ev["large_pool_avg"],
    }


def table(rows: list[tuple[str, list[dict]]], columns: list[str]) -> str:
    """A Markdown table, one line per ``(label, records)``: the number of
    records (seeds) and each column's mean over them ("-": none has it)."""

    def cell(values: list[float]) -> str:
        if not values:
            return "-"
        mean = statistics.fmean(values)
        return f"{mean:.0f}" if abs(mean) >= 100 else f"{mean:.2f}"

    lines = [["run", "seeds", *columns]]
    for label, records in rows:
        lines.append(
            [label, str(len(records))]
            + [
                cell([r[c] for r in records if r.get(c) is not None])
                for c in columns
            ]
        )
    widths = [max(len(c) for c in col) for col in zip(*lines)]
    lines.insert(1, ["-" * w for w in widths])
    return "\n".join(
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
        for r in lines
    )


def by_candidate(
    plans: dict[str, tuple[Candidate, int]], records: list[dict]
) -> list[tuple[str, list[dict]]]:
    """The records of ``plans`` (key: (candidate, seed)) grouped by
    candidate, in plan order: the rows of :func:`table`."""
    by_key = {r["key"]: r for r in records}
    rows: dict[str, list[dict]] = {}
    for key, (cand, _) in plans.items():
        if key in by_key:
            rows.setdefault(cand.name, []).append(by_key[key])
    return list(rows.items())


def run_sweep(args, results: dict, argv: list[str]) -> str:
    """Train and score (dev split) every run of ``args.grid`` not yet
    done; the grid's table, ranked by ``args.rank_by``."""
    from labse_lite.evaluate import dev_retrieval
    from labse_lite.model import DualEncoder

    grid = GRIDS.get(args.grid) or [
        BASELINE,
        Candidate(
            "custom:" + ",".join(args.set),
            args.overrides,
            args.warmup_fraction,
        ),
    ]
    plans = plan(
        grid,
        args.seeds,
        mode="dev",
        budget_minutes=args.budget_minutes,
        threads=args.threads,
        dev_per_language=args.dev_per_language,
    )
    todo = pending(list(plans), results.get("runs", []), args.resume)
    if todo:
        corpus, dev, results["dev_split"] = development_split(
            args.dev_per_language
        )
    for i, key in enumerate(todo, 1):
        cand, seed = plans[key]
        print(f"[{i}/{len(todo)}] {cand.name}, seed {seed}", flush=True)
        run_dir = run_folder(args.runs_dir, key)
        summary, schedule = train_candidate(
            cand,
            run_dir,
            args.budget_minutes,
            corpus,
            results.setdefault("probes", {}),
            seed=seed,
            threads=args.threads,
            final_eval=False,
        )
        scores = dev_retrieval(
            DualEncoder.from_pretrained(run_dir / "model"),
            dev,
            encode_length=SWEEP_BASE["eval_length"],
        )
        record = {
            "key": key,
            "grid": args.grid,
            "name": cand.name,
            "seed": seed,
            "overrides": cand.overrides,
            **timing(summary, schedule),
            **dev_columns(scores),
            "dev": scores,
            "config": summary["config"],
        }
        store(args.output, results, "runs", record, __file__, argv)
        print(
            f"  {record['steps']} steps, {record['train_minutes']:.1f} min, "
            f"dev xx→en {record['dev_xx2en']:.1f}",
            flush=True,
        )
    rows = by_candidate(plans, results.get("runs", []))

    def rank(row: tuple[str, list[dict]]) -> float:
        values = [r[args.rank_by] for r in row[1]]
        values = [v for v in values if v is not None]
        return -statistics.fmean(values) if values else math.inf

    return table(sorted(rows, key=rank), DEV_COLUMNS)


def run_final(args, results: dict, argv: list[str]) -> str:
    """The test comparison: the chosen recipe (``--set``, fitted to the
    budget), the current default (its own steps) and the default fitted
    to the same budget (equal time), trained on all the training pairs
    and evaluated on Tatoeba-v1 and the large pool."""
    chosen = Candidate(
        "chosen:" + ",".join(args.set), args.overrides, args.warmup_fraction
    )
    plans = plan(
        [Candidate("default-2400", {}, None), BASELINE, chosen],
        args.seeds,
        mode="final",
        budget_minutes=args.budget_minutes,
        threads=args.threads,
    )
    todo = pending(list(plans), results.get("final", []), args.resume)
    for i, key in enumerate(todo, 1):
        cand, seed = plans[key]
        print(f"[{i}/{len(todo)}] {cand.name}, seed {seed}", flush=True)
        summary, schedule = train_candidate(
            cand,
            run_folder(args.runs_dir, key),
            args.budget_minutes,
            None,
            results.setdefault("probes", {}),
            seed=seed,
            threads=args.threads,
            final_eval=True,
        )
        record = {
            "key": key,
            "name": cand.name,
            "seed": seed,
            "overrides": cand.overrides,
            **timing(summary, schedule),
            **benchmark_columns(summary["eval"]),
            "config": summary["config"],
        }
        store(args.output, results, "final", record, __file__, argv)
    rows = by_candidate(plans, results.get("final", []))
    return table(rows, TEST_COLUMNS)


def short_name(record: dict) -> str:
    """A run's label for the report: its grid name, or a custom run's
    settings beside the default's (``1x128 + vocab_size=64000``)."""
    name = record["name"]
    if not name.startswith(("custom:", "chosen:")):
        return name
    settings = dict(record.get("overrides", {}))
    shape = [settings.pop(k, None) for k in ("num_layers", "hidden_size")]
    for k in ("num_heads", "ffn_size"):
        settings.pop(k, None)
    label = f"{shape[0]}x{shape[1]}" if None not in shape else "default"
    extra = [f"{k}={v}" for k, v in settings.items()]
    return " + ".join([label, *extra])


def report(args, results: dict) -> str:
    """Every stored run: the development table (all grids, grouped by
    recipe, ranked by --rank-by) and the final test table."""

    def rank(row: tuple[str, list[dict]]) -> float:
        return -statistics.fmean(r[args.rank_by] for r in row[1])

    dev: dict[str, list[dict]] = {}
    for record in results.get("runs", []):
        dev.setdefault(short_name(record), []).append(record)
    parts = [
        f"Development split ({args.rank_by} ranks; seed 0 unless "
        "'seeds' says more):",
        table(sorted(dev.items(), key=rank), DEV_COLUMNS),
    ]
    final: dict[str, list[dict]] = {}
    for record in results.get("final", []):
        final.setdefault(short_name(record), []).append(record)
    if final:
        parts += ["", "Test (Tatoeba-v1, large pool):"]
        parts.append(table(list(final.items()), TEST_COLUMNS))
    return "\n".join(parts)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--grid",
        choices=[*GRIDS, "custom"],
        help="the grid to run on the dev split (see the module docstring)",
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="print the tables of every run in --output and exit",
    )
    parser.add_argument(
        "--final",
        action="store_true",
        help="the chosen recipe (--set) against the default, on Tatoeba "
        "and the large pool",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a TrainConfig setting of the recipe of --grid custom or "
        "--final (JSON value; repeatable)",
    )
    parser.add_argument(
        "--warmup-fraction",
        type=float,
        default=DEFAULT_WARMUP,
        help="warm-up share of that recipe's fitted schedule",
    )
    parser.add_argument("--budget-minutes", type=float, default=5.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dev-per-language", type=int, default=200)
    parser.add_argument("--rank-by", choices=RANK_BY, default=RANK_BY[0])
    parser.add_argument(
        "--output", default="benchmarks/results/recipe_sweep.json"
    )
    parser.add_argument("--runs-dir", default="runs/recipe_sweep")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="skip the runs already in --output",
    )
    args = parser.parse_args(argv)
    if args.report:
        if args.final or args.grid or args.set:
            parser.error("--report takes no --grid, --final or --set")
        args.output = Path(args.output)
        return args
    if args.final == (args.grid is not None):
        parser.error("give either --grid NAME, --final or --report")
    if bool(args.set) != (args.grid == "custom") and not args.final:
        parser.error("--grid custom needs --set, and only it takes --set")
    args.overrides = parse_settings(args.set, parser.error)
    args.output = Path(args.output)
    return args


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    results = load_results(args.output)
    if args.report:
        print(report(args, results))
        return 0
    run = run_final if args.final else run_sweep
    print(run(args, results, argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
