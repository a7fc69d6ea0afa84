"""Run a grid of training runs and collect their results as tidy rows.

Used by the book's sweeps (margins × seeds, batch sizes...): every run
trains with :func:`labse_lite.launch.run_training` -- in this process, or
as a ``torchrun`` job of ``launch`` processes that split each global batch
-- and is evaluated on Tatoeba and the large pool; each result is one flat
dict, ready for a DataFrame.
"""

from __future__ import annotations

import dataclasses
import itertools
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..data import ParallelCorpus
from ..evaluate import headline
from ..launch import Launch, run_training
from ..train import TrainConfig

__all__ = ["run_grid"]


def run_grid(
    base: TrainConfig,
    grid: Mapping[str, Iterable[Any]],
    corpus: ParallelCorpus | None = None,
    benchmark: ParallelCorpus | None = None,
    output_root: str | Path | None = None,
    progress: bool = True,
    launch: Launch | int | None = None,
) -> list[dict]:
    """Train once per combination of ``grid`` values (a product over its
    keys, which must be ``TrainConfig`` fields) and return one row per run:
    the grid values, Tatoeba xx→en / en→xx averages over the evaluated
    languages (and over XTREME-36's where evaluated), the large-pool
    averages, steps and training seconds."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(grid) - fields)
    if unknown:
        raise ValueError(f"grid keys must be TrainConfig fields: {unknown}")
    root = Path(output_root or tempfile.mkdtemp(prefix="labse_lite_grid_"))
    keys = list(grid)
    combos = list(itertools.product(*(list(grid[k]) for k in keys)))
    from tqdm import tqdm

    rows = []
    for values in tqdm(combos, desc="runs", disable=not progress):
        setting = dict(zip(keys, values))
        name = "_".join(f"{k}={v}" for k, v in setting.items())
        config = dataclasses.replace(
            base,
            output_dir=str(root / name),
            resume=False,
            progress=False,
            **setting,
        )
        summary = run_training(config, corpus, benchmark, launch)
        ev = summary["eval"]
        rows.append(
            {
                **setting,
                **headline(ev),
                "steps": summary["steps"],
                "final_loss": summary["final_loss"],
                "train_seconds": summary["train_seconds"],
                "output_dir": config.output_dir,
            }
        )
    return rows
