"""The book as a course: exercise sections, solutions, instructor copies.

Each chapter ends with a section headed ``## Exercises``.  Its code cells
run on their own, top to bottom, in a fresh kernel (a setup cell first
imports and builds what the exercises need), so a grader can run them
without re-running the chapter.  Two kinds of cells carry metadata:

* an *answer cell*: tag ``exercise``, metadata ``"exercise": "2.1"``.  The
  shipped notebooks hold its student form, marked ``# YOUR ANSWER``;
* a *check cell*: tags ``exercise-check`` and ``nbval-ignore-output``,
  metadata ``"exercise": "2.1"``; it calls :func:`labse_lite.grading.check`.

The solutions live beside the book, one file per chapter
(``book/solutions/02_dual_encoder.py``), in cells headed ``# %% 2.1``.  A
cell headed ``# %% 2.1 wrong: <why>`` holds a plausible wrong answer, which
the book's tests use to prove that the check fails on it.

``labse-lite course instructor OUT`` writes the chapters with the solutions
filled in; ``labse-lite course grade NOTEBOOK...`` runs only the exercise
sections of (students') notebooks and prints a score.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from . import grading

__all__ = [
    "exercise_section",
    "load_solutions",
    "fill",
    "run_exercises",
    "instructor_copy",
    "Outcome",
]

_HEADER = re.compile(r"^# %% (\d+\.\d+)(?:\s+(wrong))?\b.*$", re.M)
_SECTION = re.compile(r"^##\s+Exercises\s*$", re.M)
_NEXT = re.compile(r"^##\s+\S", re.M)


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return src if isinstance(src, str) else "".join(src)


def _number(cell: dict) -> str | None:
    return cell.get("metadata", {}).get("exercise")


def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def exercise_section(nb: dict) -> tuple[int, int]:
    """``(start, stop)`` cell indices of the chapter's exercise section:
    from the ``## Exercises`` heading to the next ``##`` heading."""
    cells = nb["cells"]
    start = next(
        (
            i
            for i, c in enumerate(cells)
            if c["cell_type"] == "markdown" and _SECTION.search(_source(c))
        ),
        None,
    )
    if start is None:
        raise ValueError("the chapter has no '## Exercises' section")
    stop = next(
        (
            i
            for i in range(start + 1, len(cells))
            if cells[i]["cell_type"] == "markdown"
            and _NEXT.search(_source(cells[i]))
        ),
        len(cells),
    )
    return start, stop


def answer_cells(nb: dict) -> dict[str, int]:
    """Exercise number -> index of its answer cell."""
    out = {}
    for i, c in enumerate(nb["cells"]):
        if "exercise" in _tags(c):
            number = _number(c)
            if not number:
                raise ValueError(f"answer cell {i} has no 'exercise' metadata")
            out[number] = i
    return out


def load_solutions(path: str | Path) -> dict[str, dict[str, str]]:
    """``{"2.1": {"solution": src, "wrong": src}, ...}`` from a solutions
    file."""
    text = Path(path).read_text()
    marks = list(_HEADER.finditer(text))
    out: dict[str, dict[str, str]] = {}
    for mark, nxt in zip(marks, marks[1:] + [None]):
        body = text[mark.end() : nxt.start() if nxt else len(text)]
        kind = "wrong" if mark.group(2) else "solution"
        forms = out.setdefault(mark.group(1), {})
        if kind in forms:
            raise ValueError(
                f"{path}: exercise {mark.group(1)} has two {kind} cells"
            )
        forms[kind] = body.strip("\n") + "\n"
    return out


def solutions_path(notebook: str | Path) -> Path:
    notebook = Path(notebook)
    return notebook.parent / "solutions" / f"{notebook.stem}.py"


def fill(nb: dict, forms: dict[str, str]) -> dict:
    """A copy of ``nb`` whose answer cells hold ``forms[number]`` (source
    text) where given; other answer cells keep their source."""
    nb = json.loads(json.dumps(nb))
    for number, index in answer_cells(nb).items():
        if number in forms:
            nb["cells"][index]["source"] = forms[number]
            nb["cells"][index]["outputs"] = []
            nb["cells"][index]["execution_count"] = None
    return nb


@dataclass
class Outcome:
    """What running an exercise section gave, per exercise number:
    ``"correct"``, ``"not attempted"`` or ``"wrong"`` (with messages)."""

    status: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # non-check cells

    @property
    def score(self) -> tuple[int, int]:
        return (
            sum(s == "correct" for s in self.status.values()),
            len(self.status),
        )


@contextlib.contextmanager
def _environment(cwd: Path, strict: bool) -> Iterator[None]:
    old_cwd, old_env = os.getcwd(), os.environ.get(grading.GRADE_ENV)
    os.chdir(cwd)
    os.environ[grading.GRADE_ENV] = "1" if strict else "0"
    try:
        yield
    finally:
        os.chdir(old_cwd)
        if old_env is None:
            os.environ.pop(grading.GRADE_ENV, None)
        else:
            os.environ[grading.GRADE_ENV] = old_env


def run_exercises(
    nb: dict, cwd: str | Path, *, strict: bool = True, echo: bool = False
) -> Outcome:
    """Run the exercise section of ``nb`` in a fresh namespace (in this
    process, from ``cwd``) and report each exercise's outcome.  A failing
    check does not stop the later exercises."""
    start, stop = exercise_section(nb)
    outcome = Outcome()
    namespace: dict = {"__name__": "__main__"}
    with _environment(Path(cwd), strict):
        for i in range(start, stop):
            cell = nb["cells"][i]
            if cell["cell_type"] != "code":
                continue
            number = _number(cell)
            is_check = "exercise-check" in _tags(cell)
            buffer = io.StringIO()
            try:
                with contextlib.redirect_stdout(buffer):
                    exec(
                        compile(_source(cell), f"<cell {i}>", "exec"),
                        namespace,
                    )
            except grading.NotAttempted as err:
                outcome.status[number] = "not attempted"
                outcome.messages[number] = str(err)
            except AssertionError as err:  # WrongAnswer and claims
                if is_check:
                    outcome.status[number] = "wrong"
                    outcome.messages[number] = str(err)
                else:
                    outcome.errors.append(f"cell {i}: {err!r}")
            except Exception:  # noqa: BLE001 - reported, not hidden
                message = traceback.format_exc(limit=-3)
                if is_check:
                    outcome.status[number] = "wrong"
                    outcome.messages[number] = message
                else:
                    outcome.errors.append(f"cell {i}: {message}")
            else:
                if is_check:
                    text = buffer.getvalue()
                    outcome.status[number] = (
                        "correct"
                        if f"Exercise {number}: correct" in text
                        else "not attempted"
                    )
                    outcome.messages[number] = text.strip()
            if echo and buffer.getvalue():
                print(buffer.getvalue(), end="")
    return outcome


def instructor_copy(book: str | Path, out: str | Path) -> list[Path]:
    """Write every chapter of ``book`` with its solutions filled in to
    ``out``; they find the data through the installed package, so they
    run from any folder."""
    book, out = Path(book), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(book.glob("*.ipynb")):
        nb = json.loads(path.read_text())
        sol = solutions_path(path)
        if not sol.exists():
            continue
        forms = {
            n: f["solution"]
            for n, f in load_solutions(sol).items()
            if "solution" in f
        }
        target = out / path.name
        target.write_text(
            json.dumps(fill(nb, forms), indent=1, ensure_ascii=False) + "\n"
        )
        written.append(target)
    return written


def grade(paths: list[str | Path], strict: bool = True) -> int:
    """Print each notebook's exercise score; 0 when all are correct."""
    failed = 0
    for path in paths:
        path = Path(path)
        outcome = run_exercises(
            json.loads(path.read_text()), path.parent, strict=strict
        )
        right, total = outcome.score
        print(f"{path}: {right}/{total} exercises correct")
        for number, status in sorted(outcome.status.items()):
            print(f"  {number}: {status}")
            if status != "correct":
                print(
                    "    "
                    + outcome.messages[number].strip().replace("\n", "\n    ")
                )
        for error in outcome.errors:
            print(f"  setup error: {error}")
        failed += (right < total) or bool(outcome.errors)
    return 1 if failed else 0
