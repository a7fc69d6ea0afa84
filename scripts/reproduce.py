#!/usr/bin/env python
"""Does the book reproduce itself?  Execute every chapter twice on this
machine -- same seeds, same parameters, the same thread count, fresh
kernels -- and compare the two runs' outputs with timings masked
(``make book-reproduce``; some chapters: ``python scripts/reproduce.py
book/02_dual_encoder.ipynb``).

The two runs go side by side, one CPU thread each.  Besides the two runs,
the first is compared with the outputs committed in ``book/`` (they were
executed earlier, perhaps with other code or thread counts: a difference
there is reported, not a failure).  Every comparison a chapter's claims
made (``labse_lite.book.claims``) is collected from the first run.

Writes a report (``benchmarks/results/reproduce.json``) with the command,
commit, date and machine; ``--write-back`` then puts the first run's
outputs (and its run time) into the chapters that reproduced.  Exit status
1 when any chapter's two runs differ."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts import execute_notebooks  # noqa: E402

# What is a time and may differ between two runs: durations, rates,
# clock times, progress-bar timers.
TIMING = re.compile(
    r"\d+(\.\d+)?\s*(s|ms|min|seconds?|minutes?|steps?/s|it/s|s/it|"
    r"pairs/s|sentences/s)\b|\d{2}:\d{2}(:\d{2})?|\[\d+:\d+<[^\]]*\]"
)
# Paths of temporary folders (tempfile.mkdtemp) differ on every run.
TEMP = re.compile(r"/tmp/[\w.-]+")


# Where a measured time stands in a table column or a printed line: a
# number that differs between the two runs there is a timing too.
TIME_WORDS = re.compile(
    r"seconds|minutes|sentences / s|pairs/s|speed-up|encodes? faster"
)


def plain_outputs(nb: dict) -> list[str]:
    """Every code cell's plain-text outputs (streams, ``text/plain``),
    masked like :func:`masked_outputs`; one entry per cell."""
    return _cell_texts(nb, lambda kind: kind == "text/plain", errors=False)


def _tokens(line: str) -> list[tuple[str, int]]:
    """Whitespace-separated tokens with the column where each ends."""
    return [(m.group(), m.end()) for m in re.finditer(r"\S+", line)]


def _header_name(header: str, end: int) -> str:
    """The column name over a right-aligned value ending at ``end``: the
    header token ending there, else the one spanning it (a top level of
    pandas' column MultiIndex)."""
    names = [
        (m.group(), m.start(), m.end())
        for m in re.finditer(r"\S+(?: \S+)*", header)
    ]
    for name, _, stop in names:
        if stop == end:
            return name
    before = [name for name, start, _ in names if start < end]
    return before[-1] if before else ""


def _after_time_word(line: str, start: int) -> bool:
    """A time word stands before column ``start`` of a printed line, in the
    same clause (no ";" between)."""
    before = line[:start]
    words = list(TIME_WORDS.finditer(before))
    return bool(words) and ";" not in before[words[-1].end() :]


def timing_only(a: str, b: str) -> bool:
    """True when two plain outputs differ only in numbers that are times:
    in a column whose header names a time or rate (pandas' text layout:
    blocks separated by blank lines, header lines first), or on a printed
    line that does."""
    la, lb = a.splitlines(), b.splitlines()
    if len(la) != len(lb):
        return False
    headers: list[str] = []
    in_block = 0
    for x, y in zip(la, lb):
        if not x.strip():
            headers, in_block = [], 0
            continue
        in_block += 1
        above = list(headers)  # the header lines above this one
        if in_block <= 2:  # a block's header lines (names, index name)
            headers.append(x)
        if x == y:
            continue
        ta, tb = _tokens(x), _tokens(y)
        if len(ta) != len(tb):
            return False
        for (u, end), (v, _) in zip(ta, tb):
            if u == v:
                continue
            if not re.fullmatch(r"[-+]?[\d.,]+", u.strip("{}:,'")):
                return False
            where = _after_time_word(x, end - len(u)) or any(
                TIME_WORDS.search(_header_name(h, end)) for h in above
            )
            if not where:
                return False
    return True


def masked_outputs(nb: dict) -> list[str]:
    """Every code cell's text and data outputs (images excluded: their
    bytes carry the renderer's metadata), times and temporary paths
    masked; one entry per cell."""
    return _cell_texts(nb, lambda kind: kind.startswith("text/"))


def _cell_texts(nb: dict, keep, errors: bool = True) -> list[str]:
    """Per code cell: its streams, the data outputs whose MIME type
    ``keep`` accepts and (``errors``) its error, times and temporary paths
    masked."""
    shown = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        text = ""
        for out in cell.get("outputs", []):
            text += "".join(out.get("text", ""))
            for kind, value in out.get("data", {}).items():
                if keep(kind):
                    text += "".join(value)
            if errors and out.get("output_type") == "error":
                text += f"ERROR {out.get('ename')}: {out.get('evalue')}"
        shown.append(TEMP.sub("<tmp>", TIMING.sub("<time>", text)))
    return shown


def diff(
    a: list[str],
    b: list[str],
    plain_a: list[str] | None = None,
    plain_b: list[str] | None = None,
) -> dict:
    """How many cells' masked outputs agree, the first that does not, and
    (given the plain outputs) which differences are only timings."""
    differ = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    timings = [
        i
        for i in differ
        if plain_a is not None and timing_only(plain_a[i], plain_b[i])
    ]
    real = [i for i in differ if i not in timings]
    first = None
    if real or differ:
        i = (real or differ)[0]
        first = {"code_cell": i, "a": a[i][:600], "b": b[i][:600]}
    same_length = len(a) == len(b)
    return {
        "cells": len(a),
        "identical": same_length and not differ,
        "identical_but_timings": same_length and not real,
        "cells_differing": len(differ) + abs(len(a) - len(b)),
        "cells_differing_in_timings_only": len(timings),
        "first_difference": first,
    }


def run_twice(paths: list[Path], out: Path, threads: int) -> list[float]:
    """Execute ``paths`` into out/a and out/b, side by side."""
    procs = []
    for name in ("a", "b"):
        (out / name).mkdir(parents=True, exist_ok=True)
        env = dict(
            os.environ,
            OMP_NUM_THREADS=str(threads),
            LABSE_LITE_MAX_THREADS=str(threads),
            LABSE_LITE_CLAIMS_LOG=str(out / name / "claims.jsonl"),
        )
        (out / name / "claims.jsonl").unlink(missing_ok=True)
        cmd = [sys.executable, str(ROOT / "scripts/execute_notebooks.py")]
        cmd += ["--out", str(out / name), *map(str, paths)]
        log = open(out / f"{name}.log", "w")
        procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=log))
    codes = [p.wait() for p in procs]
    if any(codes):
        print(f"an execution failed (exit {codes}); see {out}/*.log")
    return codes


def report(paths: list[Path], out: Path, threads: int, argv) -> dict:
    from labse_lite.runtime import machine_fingerprint

    def load(p: Path) -> dict:
        return json.loads(p.read_text())

    chapters = {}
    for path in paths:
        if not all((out / k / path.name).exists() for k in ("a", "b")):
            chapters[path.stem] = {"failed": True}
            continue
        nbs = [load(out / "a" / path.name), load(out / "b" / path.name)]
        a, b = (masked_outputs(nb) for nb in nbs)
        plain_a, plain_b = (plain_outputs(nb) for nb in nbs)
        committed = load(path)
        chapters[path.stem] = {
            "twice": diff(a, b, plain_a, plain_b),
            "against_committed": diff(
                masked_outputs(committed), a, plain_outputs(committed), plain_a
            ),
            "seconds": [
                load(out / k / "times.json")[path.name] for k in ("a", "b")
            ],
        }
    claims_log = out / "a" / "claims.jsonl"
    claims = (
        [
            json.loads(line)
            for line in claims_log.read_text().splitlines()
            if line.strip()
        ]
        if claims_log.exists()
        else []
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout.strip()
    return {
        "command": "python scripts/reproduce.py " + " ".join(argv),
        "commit": commit,
        "date": datetime.date.today().isoformat(),
        "machine": {**machine_fingerprint(), "threads": threads},
        "chapters": chapters,
        "claims": claims,
    }


def _verdict(t: dict) -> str:
    if t["identical"]:
        return "identical"
    return (
        "identical but timings" if t["identical_but_timings"] else "DIFFERENT"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "runs/reproduce")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--report",
        type=Path,
        default=ROOT / "benchmarks/results/reproduce.json",
    )
    parser.add_argument(
        "--write-back",
        action="store_true",
        help="put the first run's outputs into the chapters that reproduced",
    )
    args = parser.parse_args(argv)
    paths = args.chapters or sorted((ROOT / "book").glob("*.ipynb"))
    execute_notebooks.build_references()
    run_twice(paths, args.out, args.threads)
    result = report(paths, args.out, args.threads, argv)
    args.report.write_text(json.dumps(result, indent=1) + "\n")
    bad = [
        c
        for c, r in result["chapters"].items()
        if r.get("failed") or not r["twice"]["identical_but_timings"]
    ]
    for stem, r in result["chapters"].items():
        if r.get("failed"):
            print(f"{stem}: FAILED (see {args.out}/a.log, b.log)")
            continue
        t, c = r["twice"], r["against_committed"]
        print(
            f"{stem}: twice {_verdict(t)} ({t['cells']} cells, "
            f"{t['cells_differing']} differ, "
            f"{t['cells_differing_in_timings_only']} in timings only); "
            f"against committed: {c['cells_differing']} cells differ; "
            f"{r['seconds'][0]:.0f} s / {r['seconds'][1]:.0f} s"
        )
    if args.write_back:
        import nbformat

        # The stamped run time names the thread count it ran with.
        os.environ["LABSE_LITE_MAX_THREADS"] = str(args.threads)

        for path in paths:
            if path.stem in bad:
                continue
            executed = nbformat.read(args.out / "a" / path.name, as_version=4)
            seconds = result["chapters"][path.stem]["seconds"][0]
            execute_notebooks.write_back(path, executed, seconds)
    print(f"report: {args.report}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
