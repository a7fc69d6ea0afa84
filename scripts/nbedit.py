#!/usr/bin/env python
"""Small helpers for editing the book's notebooks from Python (used while
writing chapters; not needed to run the book).

    from scripts.nbedit import load, save, md, code, find
    nb = load("book/02_dual_encoder.ipynb")
    i = find(nb, "## Measured and published")
    nb["cells"][i:i] = [md("## A new section ..."), code("x = 1")]
    save(nb, "book/02_dual_encoder.ipynb")
"""

from __future__ import annotations

from pathlib import Path

import nbformat


def load(path: str | Path):
    return nbformat.read(str(path), as_version=4)


def save(nb, path: str | Path) -> None:
    nbformat.write(nb, str(path))


def md(text: str):
    return nbformat.v4.new_markdown_cell(text.strip("\n"))


def code(
    text: str,
    tags: list[str] | None = None,
    exercise: str | None = None,
    check: bool = False,
):
    """A code cell.  ``exercise="2.1"`` makes it the answer cell of exercise
    2.1 (tag ``exercise``); with ``check=True`` its check cell (tags
    ``exercise-check`` and ``nbval-ignore-output``)."""
    cell = nbformat.v4.new_code_cell(text.strip("\n"))
    tags = list(tags or [])
    if exercise:
        cell.metadata["exercise"] = exercise
        tags += (
            ["exercise-check", "nbval-ignore-output"]
            if check
            else ["exercise"]
        )
    if tags:
        cell.metadata["tags"] = tags
    return cell


def find(nb, text: str, start: int = 0) -> int:
    """Index of the first cell at or after ``start`` containing ``text``."""
    for i in range(start, len(nb.cells)):
        if text in nb.cells[i].source:
            return i
    raise ValueError(f"no cell contains {text!r}")
