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
    return {
        n: f[kind]
        for n, f in course.load_solutions(course.solutions_path(path)).items()
    }


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem[:2])
def test_chapter_has_graded_exercises(path):
    nb = _nb(path)
    start, stop = course.exercise_section(nb)
    answers = course.answer_cells(nb)
    assert 2 <= len(answers) <= 4, (path.name, sorted(answers))
    assert all(start < i < stop for i in answers.values()), path.name
    checks = [
        c
        for c in nb["cells"][start:stop]
        if "exercise-check" in c["metadata"].get("tags", [])
    ]
    assert sorted(c["metadata"]["exercise"] for c in checks) == sorted(
        answers
    ), path.name
    for c in checks:
        assert "nbval-ignore-output" in c["metadata"]["tags"], path.name
    for number, i in answers.items():
        src = "".join(nb["cells"][i]["source"])
        assert "# YOUR ANSWER" in src, (path.name, number)
        assert "TODO" in src or "NotImplementedError" in src, (
            path.name,
            number,
            "the shipped form must be blank",
        )
    sol = course.load_solutions(course.solutions_path(path))
    assert set(sol) == set(answers), path.name
    for number, forms in sol.items():
        assert set(forms) == {"solution", "wrong"}, (path.name, number)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem[:2])
def test_checks_pass_on_solutions_and_fail_on_blank_and_wrong(path):
    nb = _nb(path)
    numbers = sorted(course.answer_cells(nb))

    solved = course.run_exercises(
        course.fill(nb, _forms(path, "solution")), BOOK, strict=True
    )
    assert not solved.errors, solved.errors
    assert solved.status == {n: "correct" for n in numbers}, solved.messages

    blank = course.run_exercises(nb, BOOK, strict=True)
    assert not blank.errors, blank.errors
    assert blank.status == {n: "not attempted" for n in numbers}, (
        blank.messages
    )
    for n in numbers:
        assert "not attempted" in blank.messages[n]

    # Outside a grader the shipped form runs without an exception.
    relaxed = course.run_exercises(nb, BOOK, strict=False)
    assert not relaxed.errors and set(relaxed.status.values()) == {
        "not attempted"
    }, relaxed.messages

    wrong = course.run_exercises(
        course.fill(nb, _forms(path, "wrong")), BOOK, strict=True
    )
    assert wrong.status == {n: "wrong" for n in numbers}, wrong.messages
    for n in numbers:  # the message is the grader's, not a crash
        assert wrong.messages[n].startswith(f"Exercise {n}:"), (
            n,
            wrong.messages[n],
        )


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
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = set(meta["tool"]["setuptools"]["packages"])
    found = {
        str(p.parent.relative_to(ROOT)).replace("/", ".")
        for p in (ROOT / "labse_lite").rglob("__init__.py")
    }
    assert found <= packages, found - packages


# --- choice and set answers: a hint first, the answer only later --------


def _solution_namespace(chapter: str, number: str) -> dict:
    """The names the solution cell of exercise ``number`` defines."""
    import math

    path = BOOK / "solutions" / f"{chapter}.py"
    namespace = {"math": math}
    exec(course.load_solutions(path)[number]["solution"], namespace)
    return namespace


def _choice_cases():
    """(exercise, answers with one wrong choice, strings that give the
    right answer away)."""
    from labse_lite.book.exercises import ch05
    from labse_lite.tokenization import language_sampling_probs

    counts = {"A": 10000, "B": 6000, "C": 2000, "D": 100, "E": 10}
    flat = language_sampling_probs(counts, 1.0)
    smooth = language_sampling_probs(counts, 0.3)
    gainers = sorted(k for k in counts if smooth[k] > flat[k])
    min_scale = _solution_namespace("02_dual_encoder", "2.3")["min_scale"]
    src, tgt = ch05.toy_corpus()
    n_k = ch05._n_k(src, tgt, ch05.TOY_K)
    hub = int(n_k.argmax())
    fixed_by = {
        s
        for s in ch05.SCORINGS
        if ch05._pairs_x0_with_translation(src, tgt, s, ch05.TOY_K)
    }
    other_hub = (hub + 1) % len(n_k)
    return {
        "1.2": (({"D", "E"}, counts, 0.3), [str(gainers), "Measured"]),
        "2.3": ((min_scale, "c"), ["'b'", "log(2)/2", "measured from"]),
        "3.3": (("0.3", "0.3"), ["'same'", "mean gap after"]),
        "5.3 hub": ((n_k, other_hub, fixed_by), [f"y_{hub}"]),
        "5.3 fixed_by": ((n_k, hub, {"ratio"}), [str(sorted(fixed_by))]),
        # 10.3: one read row ('sat') left out of the set.
        "10.3": ((["cat", "the"],), ["'sat'", "['cat', 'sat', 'the']"]),
    }


# Keyword arguments of a checker beyond the student's answers.
CHOICE_KWARGS = {
    "10.3": dict(
        vocab=["[PAD]", "the", "cat", "sat", "der", "Katze"],
        ids=[[1, 2, 3], [1, 2, 0]],
        mask=[[1, 1, 1], [1, 1, 0]],
        german_ids=[4, 5, 2],
    ),
}
CHOICE_CASES = ["1.2", "2.3", "3.3", "5.3 hub", "5.3 fixed_by", "10.3"]


def _wrong_message(case: str) -> str:
    answers, _ = _choice_cases()[case]
    number = case.split()[0]
    with pytest.raises(grading.WrongAnswer) as err:
        grading.check(number, *answers, **CHOICE_KWARGS.get(number, {}))
    return str(err.value)


@pytest.mark.parametrize("case", CHOICE_CASES)
def test_choice_checkers_never_show_the_answer_under_a_grader(
    monkeypatch, case
):
    monkeypatch.setenv(grading.GRADE_ENV, "1")
    grading.reset_tries()
    _, give_away = _choice_cases()[case]
    for _ in range(3):  # however often it is tried
        message = _wrong_message(case)
        assert "Hint:" in message, message
        assert "The answer" not in message, message
        for text in give_away:
            assert text not in message, (text, message)


@pytest.mark.parametrize("case", CHOICE_CASES)
def test_choice_checkers_give_a_hint_first_and_the_answer_second(
    monkeypatch, case
):
    monkeypatch.setenv(grading.GRADE_ENV, "0")
    grading.reset_tries()
    _, give_away = _choice_cases()[case]
    first = _wrong_message(case)
    assert "Hint:" in first and "second wrong try" in first, first
    for text in give_away:
        assert text not in first, (text, first)
    second = _wrong_message(case)
    assert "The answer:" in second, second
    for text in give_away:
        assert text in second, (text, second)
    grading.reset_tries()  # counted per process
    assert "The answer" not in _wrong_message(case)


def test_tries_are_counted_per_exercise_and_answer(monkeypatch):
    monkeypatch.setenv(grading.GRADE_ENV, "0")
    grading.reset_tries()
    _wrong_message("5.3 hub")
    first_fixed_by = _wrong_message("5.3 fixed_by")
    assert "The answer" not in first_fixed_by, first_fixed_by
    assert "The answer:" in _wrong_message("5.3 hub")
    grading.reset_tries()


def test_a_number_checker_shows_the_expected_value_only_outside_a_grader(
    monkeypatch,
):
    monkeypatch.setenv(grading.GRADE_ENV, "1")
    with pytest.raises(grading.WrongAnswer) as graded:
        grading.expect_close(1.25, 2.5, "the scale")
    assert "1.25" in str(graded.value) and "2.5" not in str(graded.value)
    monkeypatch.setenv(grading.GRADE_ENV, "0")
    with pytest.raises(grading.WrongAnswer) as self_study:
        grading.expect_close(1.25, 2.5, "the scale")
    assert "expected 2.5" in str(self_study.value)
