#!/usr/bin/env python
"""Re-execute book chapters in place, so their committed outputs match the
code (``make book-execute``; one chapter: ``python scripts/execute_notebooks.py
book/03_margin.ipynb``).  Each notebook runs in its own folder, as
jupyter-book and nbval run it.

Each chapter then states its own measured run time: a line
``*Laptop run time: ...*`` at the end of its first cell, rewritten on every
execution (the reference models are built first, so the time is the
chapter's own)."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

RUN_TIME = re.compile(r"^\*Laptop run time:.*$", re.M)


def run_time_line(seconds: float) -> str:
    shown = f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"
    cap = os.environ.get("LABSE_LITE_MAX_THREADS")
    where = (
        f"{os.cpu_count()} CPU cores"
        if not cap
        else f"{cap} CPU thread{'s' if cap != '1' else ''} "
        f"(LABSE_LITE_MAX_THREADS={cap})"
    )
    return (
        f"*Laptop run time: {shown} on {where}, "
        f"with the reference models cached (measured by "
        f"`scripts/execute_notebooks.py` on "
        f"{datetime.date.today().isoformat()}).*"
    )


def stamp(nb, seconds: float) -> None:
    """Write the measured run time into the chapter's first cell."""
    cell = nb.cells[0]
    line = run_time_line(seconds)
    if RUN_TIME.search(cell.source):
        cell.source = RUN_TIME.sub(line, cell.source)
    else:
        cell.source = cell.source.rstrip("\n") + "\n\n" + line


def merge_outputs(executed, current) -> None:
    """Copy the executed code cells' outputs into ``current``, the
    notebook as it is on disk now: its markdown may have been edited while
    the chapter ran, its code must not have been."""
    done = [c for c in executed.cells if c.cell_type == "code"]
    now = [c for c in current.cells if c.cell_type == "code"]
    if [c.source for c in done] != [c.source for c in now]:
        raise RuntimeError(
            "a code cell changed while the chapter ran; execute it again"
        )
    for old, new in zip(done, now):
        new.outputs = old.outputs
        new.execution_count = old.execution_count
        new.metadata = old.metadata


def run(path: Path, timeout: int = 1800):
    """Execute chapter ``path`` in a fresh kernel, in its own folder;
    returns the executed notebook and its wall time."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    return nb, time.perf_counter() - start


def write_back(path: Path, executed, seconds: float) -> None:
    """Put ``executed``'s outputs and the run time into chapter ``path``."""
    current = nbformat.read(path, as_version=4)
    merge_outputs(executed, current)
    stamp(current, seconds)
    nbformat.write(current, path)


def execute(path: Path, timeout: int = 1800) -> float:
    nb, seconds = run(path, timeout)
    write_back(path, nb, seconds)
    return seconds


def execute_to(paths: list[Path], out: Path) -> None:
    """Execute each chapter into ``out`` (the book is left as it is), with
    its wall time in ``out/times.json``."""
    out.mkdir(parents=True, exist_ok=True)
    times_file = out / "times.json"
    times = json.loads(times_file.read_text()) if times_file.exists() else {}
    failed = []
    for path in paths:
        try:
            nb, seconds = run(path)
        except CellExecutionError as error:  # the next chapters still run
            failed.append(path.name)
            print(f"{path}: FAILED\n{error}", flush=True)
            continue
        nbformat.write(nb, out / path.name)
        times[path.name] = round(seconds, 1)
        times_file.write_text(json.dumps(times, indent=1) + "\n")
        print(f"{path}: {seconds:.0f} s -> {out / path.name}", flush=True)
    if failed:
        raise SystemExit(f"chapters that failed: {', '.join(failed)}")


def build_references() -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "labse_lite",
            "reference",
            "--encoder",
            "--quiet",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", type=Path)
    parser.add_argument(
        "--out",
        type=Path,
        help="execute into this folder instead of in place",
    )
    args = parser.parse_args(argv)
    paths = args.chapters or sorted(Path("book").glob("*.ipynb"))
    build_references()
    if args.out:
        execute_to(paths, args.out)
        return 0
    for path in paths:
        print(f"{path}: {execute(path):.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
