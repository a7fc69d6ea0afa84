"""The committed benchmark results a chapter shows, with where they come
from.

A chapter computes its numbers itself, except the few that take longer
than a page should (a 5-minute training run, a sweep): those come from a
file in ``benchmarks/results/`` that a script there writes.  Such a number
is shown only with a caption that names the command, the commit, the date
and the machine that produced it (:func:`read_result`), and a result that
rests on the book's shared reference model says which build of it
(``reference_key``, the model's cache key): when that is not the build this
book makes now, the caption says so and how to re-run the benchmark.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..data import data_dir

__all__ = [
    "read_result",
    "results_dir",
    "caption",
    "current_reference_key",
    "paired_arms",
]


def results_dir() -> Path:
    """``benchmarks/results`` of this checkout."""
    return data_dir().parent / "benchmarks" / "results"


def current_reference_key() -> str:
    """The cache key of the reference model this book builds now."""
    from .reference import cache_key, reference_config

    return cache_key(reference_config())


def caption(name: str, result: dict) -> str:
    """One line: the result file, its command, commit, date and machine;
    and, for a result on the reference model, whether it is this build."""
    prov = result.get("provenance")
    if not prov:
        return (
            f"{name}: no command or commit recorded (written before result "
            f"files carried them); re-run its script in benchmarks/."
        )
    m = prov.get("machine", {})
    text = (
        f"{name}: `{prov['command']}` at commit {prov.get('commit')}, "
        f"{prov.get('date')}, on {m.get('cpus')} x {m.get('cpu_model')} "
        f"({m.get('threads')} threads, torch {m.get('torch')})"
    )
    if prov.get("backfilled"):
        text += f"; {prov['backfilled']}"
    key = prov.get("reference_key")
    if key:
        now = current_reference_key()
        text += f"; reference model build {key}" + (
            " (this book's)"
            if key == now
            else f", NOT this book's build {now}: re-run the command"
        )
    return text


def read_result(name: str, *, show: bool = True) -> dict:
    """``benchmarks/results/<name>``, its caption printed (``show``)."""
    path = results_dir() / name
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: it is written by a script in benchmarks/ "
            f"(see the file's caption in the book for the command)"
        )
    result = json.loads(path.read_text())
    if show:
        print("Source:", caption(name, result))
    return result


def paired_arms(
    records: list[dict],
    a: str,
    b: str,
    metrics: dict[str, str],
    field: str = "arm",
):
    """Arm ``a`` against arm ``b`` of a result file's ``records`` (each
    with ``field`` naming its arm, a ``seed`` and the ``metrics``), paired
    by the seeds both arms ran, under the book's rule
    (:func:`labse_lite.book.claims.compare`): a DataFrame, one row per
    metric (labelled by ``metrics``' values) with both means, the
    difference, its standard error, the seeds and the verdict."""
    import pandas as pd

    from .claims import compare

    rows = []
    for metric, label in metrics.items():
        by_seed: dict[str, dict[int, float]] = {a: {}, b: {}}
        for r in records:
            if r[field] in by_seed:
                by_seed[r[field]][r["seed"]] = r[metric]
        seeds = sorted(set(by_seed[a]) & set(by_seed[b]))
        if not seeds:
            raise ValueError(f"no seed ran both {a!r} and {b!r}")
        c = compare(
            [by_seed[a][s] for s in seeds],
            [by_seed[b][s] for s in seeds],
            paired=True,
        )
        rows.append(
            {
                "metric": label,
                a: c.mean_a,
                b: c.mean_b,
                f"{a} − {b}": c.diff,
                "SE": c.se,
                "seeds": len(seeds),
                "verdict": (
                    {1: f"{a} ahead", -1: f"{b} ahead"}[c.direction]
                    if c.resolved
                    else "not resolved"
                ),
            }
        )
    return pd.DataFrame(rows).set_index("metric")
