"""The book's exercises: the checks pass on the solutions and fail on the
shipped (blank) answer cells and on a plausible wrong answer; outside a
grader, a blank is reported, not raised, so the book's own CI passes."""

import json
from pathlib import Path

import pytest

from labse_lite.book import course, grading

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
CHAPTERS = sorted(BOOK.glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(autouse=True)
def _headless(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")


def _nb(path):
    return json.loads(path.read_text())


def _forms(path, kind):
    return {n: f[kind] for n, f in
            course.load_solutions(course.solutions_path(path)).items()}


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem[:2])
def test_chapter_has_graded_exercises(path):
    nb = _nb(path)
    start, stop = course.exercise_section(nb)
    answers = course.answer_cells(nb)
    assert 2 <= len(answers) <= 4, (path.name, sorted(answers))
    assert all(start < i < stop for i in answers.values()), path.name
    checks = [c for c in nb["cells"][start:stop]
              if "exercise-check" in c["metadata"].get("tags", [])]
    assert sorted(c["metadata"]["exercise"] for c in checks) \
        == sorted(answers), path.name
    for c in checks:
        assert "nbval-ignore-output" in c["metadata"]["tags"], path.name
    for number, i in answers.items():
        src = "".join(nb["cells"][i]["source"])
        assert "# YOUR ANSWER" in src, (path.name, number)
        assert "TODO" in src or "NotImplementedError" in src, \
            (path.name, number, "the shipped form must be blank")
    sol = course.load_solutions(course.solutions_path(path))
    assert set(sol) == set(answers), path.name
    for number, forms in sol.items():
        assert set(forms) == {"solution", "wrong"}, (path.name, number)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem[:2])
def test_checks_pass_on_solutions_and_fail_on_blank_and_wrong(path):
    nb = _nb(path)
    numbers = sorted(course.answer_cells(nb))

    solved = course.run_exercises(course.fill(nb, _forms(path, "solution")),
                                  BOOK, strict=True)
    assert not solved.errors, solved.errors
    assert solved.status == {n: "correct" for n in numbers}, solved.messages

    blank = course.run_exercises(nb, BOOK, strict=True)
    assert not blank.errors, blank.errors
    assert blank.status == {n: "not attempted" for n in numbers}, \
        blank.messages
    for n in numbers:
        assert "not attempted" in blank.messages[n]

    # Outside a grader the shipped form runs without an exception.
    relaxed = course.run_exercises(nb, BOOK, strict=False)
    assert not relaxed.errors and set(relaxed.status.values()) \
        == {"not attempted"}, relaxed.messages

    wrong = course.run_exercises(course.fill(nb, _forms(path, "wrong")),
                                 BOOK, strict=True)
    assert wrong.status == {n: "wrong" for n in numbers}, wrong.messages
    for n in numbers:    # the message is the grader's, not a crash
        assert wrong.messages[n].startswith(f"Exercise {n}:"), \
            (n, wrong.messages[n])


def test_check_reports_blank_raises_under_grader(monkeypatch, capsys):
    monkeypatch.delenv(grading.GRADE_ENV, raising=False)
    assert grading.check("2.1", grading.TODO) is False
    assert "not attempted" in capsys.readouterr().out
    monkeypatch.setenv(grading.GRADE_ENV, "1")
    with pytest.raises(grading.NotAttempted, match="Exercise 2.1"):
        grading.check("2.1", grading.TODO)
    with pytest.raises(KeyError, match="no exercise"):
        grading.check("99.9", 1)


def test_instructor_copy_fills_every_answer(tmp_path):
    written = course.instructor_copy(BOOK, tmp_path)
    assert {p.name for p in written} == {p.name for p in CHAPTERS}
    for path in written:
        nb = _nb(path)
        for number, i in course.answer_cells(nb).items():
            src = "".join(nb["cells"][i]["source"])
            assert "NotImplementedError" not in src, (path.name, number)


def test_the_checkers_ship_with_the_package():
    """``labse_lite.book.exercises`` is listed in pyproject's packages, so a
    wheel (not only the editable install) can grade."""
    tomllib = pytest.importorskip("tomllib")     # Python >= 3.11

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = set(meta["tool"]["setuptools"]["packages"])
    found = {str(p.parent.relative_to(ROOT)).replace("/", ".")
             for p in (ROOT / "labse_lite").rglob("__init__.py")}
    assert found <= packages, found - packages
