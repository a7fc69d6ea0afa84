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

import datetime
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

RUN_TIME = re.compile(r"^\*Laptop run time:.*$", re.M)


def run_time_line(seconds: float) -> str:
    shown = f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"
    return (
        f"*Laptop run time: {shown} on {os.cpu_count()} CPU cores, "
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


def execute(path: Path, timeout: int = 900) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    seconds = time.perf_counter() - start
    current = nbformat.read(path, as_version=4)
    merge_outputs(nb, current)
    stamp(current, seconds)
    nbformat.write(current, path)
    return seconds


def main(argv: list[str]) -> int:
    paths = [Path(p) for p in argv] or sorted(Path("book").glob("*.ipynb"))
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
    for path in paths:
        print(f"{path}: {execute(path):.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
