#!/usr/bin/env python
"""Re-execute book chapters in place, so their committed outputs match the
code (``make book-execute``; one chapter: ``python scripts/execute_notebooks.py
book/03_margin.ipynb``).  Each notebook runs in its own folder, as
jupyter-book and nbval run it."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute(path: Path, timeout: int = 900) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}
                   ).execute()
    nbformat.write(nb, path)
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    paths = [Path(p) for p in argv] or sorted(Path("book").glob("*.ipynb"))
    for path in paths:
        print(f"{path}: {execute(path):.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
