"""Checks for the book's exercises, graded with ``pytest --nbval``.

Every chapter ends with exercises.  A student fills the cell marked
``# YOUR ANSWER`` (in the shipped, student form it holds :data:`TODO` or a
function that raises :class:`NotImplementedError`), and the cell after it
calls :func:`check` with the exercise's number and the answer::

    from labse_lite.grading import TODO, check
    check("2.1", one_direction)

:func:`check` runs the chapter's checker (``labse_lite/exercises``):

* a right answer prints ``Exercise 2.1: correct`` and what it shows;
* a wrong one raises :class:`WrongAnswer` (an ``AssertionError``) whose
  message says what was expected, what came back, and a hint;
* an answer not yet attempted prints a reminder, so that a student can run
  the whole chapter and the book's own CI, which runs the shipped student
  form under ``pytest --nbval``, passes.  A course grader sets
  ``LABSE_LITE_GRADE=1``: then an unattempted exercise raises
  :class:`NotAttempted` and ``pytest --nbval`` marks its cell failed.

The check cells carry the tag ``nbval-ignore-output`` (their text differs
between the modes); only an exception fails them.

A multiple-choice or set answer (a prediction: "which languages gain?")
is easy to get right by reading the message of a wrong try, so its
checker reports a wrong one with :func:`wrong_choice`: under a grader the
message gives a hint and never the answer; in self-study the first wrong
try gets the hint, and the answer comes only from the second wrong try of
the same answer on (the tries are counted in this process).
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable, Iterable, NoReturn

import numpy as np

__all__ = [
    "TODO",
    "check",
    "strict",
    "WrongAnswer",
    "NotAttempted",
    "expect",
    "expect_close",
    "expect_number",
    "expect_choice",
    "wrong_choice",
    "reset_tries",
    "unit_rows",
    "register",
    "CHECKS",
]

GRADE_ENV = "LABSE_LITE_GRADE"


class _Todo:
    """The placeholder a student replaces with an answer."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "TODO"


TODO = _Todo()


class WrongAnswer(AssertionError):
    """The answer was checked and is wrong; the message says why."""


class NotAttempted(AssertionError):
    """The exercise still holds its placeholder."""


CHECKS: dict[str, Callable[..., str | None]] = {}

# Wrong tries of each (exercise, answer) pair of a choice or set answer
# in this process, and the exercise whose checker runs now.
_WRONG_TRIES: dict[tuple[str, str], int] = {}
_RUNNING: list[str] = []


def register(number: str) -> Callable:
    """Register the checker of exercise ``number`` (e.g. ``"2.1"``).  A
    checker takes the answers passed to :func:`check`, raises
    :class:`WrongAnswer` on a wrong one, and may return a sentence that
    :func:`check` prints on success."""

    def wrap(fn: Callable) -> Callable:
        if number in CHECKS and CHECKS[number] is not fn:
            raise ValueError(f"exercise {number} is registered twice")
        CHECKS[number] = fn
        return fn

    return wrap


def strict() -> bool:
    """True when a course grader runs the book (``LABSE_LITE_GRADE=1``)."""
    return os.environ.get(GRADE_ENV, "").strip().lower() in (
        "1",
        "true",
        "yes",
        "strict",
    )


def _is_todo(answer: Any) -> bool:
    if answer is TODO:
        return True
    if isinstance(answer, (list, tuple)) and len(answer) < 64:
        return any(a is TODO for a in answer)
    if isinstance(answer, dict) and len(answer) < 64:
        return any(a is TODO for a in answer.values())
    return False


def _not_attempted(number: str, why: str) -> None:
    if strict():
        raise NotAttempted(
            f"Exercise {number} is not attempted: {why}. Fill in the cell "
            f"marked '# YOUR ANSWER' above and run it again."
        )
    print(
        f"Exercise {number}: not attempted yet ({why}). Fill in the cell "
        f"marked '# YOUR ANSWER' and run this cell again; a course "
        f"grader ({GRADE_ENV}=1 pytest --nbval) marks it failed."
    )


def check(number: str, *answers: Any, **context: Any) -> bool:
    """Grade exercise ``number``: returns True when it is right, False when
    it is not attempted (outside a grader), and raises
    :class:`WrongAnswer` when it is wrong."""
    from . import exercises  # noqa: F401  (registers the checkers)

    if number not in CHECKS:
        raise KeyError(f"no exercise {number!r}; known: {sorted(CHECKS)}")
    if any(_is_todo(a) for a in answers):
        _not_attempted(number, "an answer is still TODO")
        return False
    _RUNNING.append(number)
    try:
        note = CHECKS[number](*answers, **context)
    except NotAttempted as err:
        _not_attempted(number, str(err))
        return False
    except NotImplementedError:
        _not_attempted(number, "the function still raises NotImplementedError")
        return False
    except WrongAnswer as err:
        raise WrongAnswer(f"Exercise {number}: {err}") from None
    finally:
        _RUNNING.pop()
    print(f"Exercise {number}: correct." + (f" {note}" if note else ""))
    return True


# --- building blocks for checkers ---------------------------------------


def expect(condition: bool, message: str) -> None:
    """Raise :class:`WrongAnswer` with ``message`` unless ``condition``."""
    if not condition:
        raise WrongAnswer(message)


def _as_array(value: Any, what: str) -> np.ndarray:
    if value is None:
        raise WrongAnswer(
            f"{what} is None: did the function forget to `return` its result?"
        )
    if _is_todo(value):
        raise NotAttempted(f"{what} is still TODO")
    try:
        import torch

        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().double().numpy()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise WrongAnswer(
            f"{what} should be a number or an array of "
            f"numbers, got {type(value).__name__}: "
            f"{value!r:.80}"
        ) from None


def expect_close(
    got: Any,
    want: Any,
    what: str,
    *,
    rtol: float = 1e-4,
    atol: float = 1e-6,
    hint: str = "",
) -> None:
    """Raise :class:`WrongAnswer` unless ``got`` matches ``want`` (numbers,
    arrays or tensors) within the tolerances."""
    g, w = _as_array(got, what), _as_array(want, "the expected value")
    if g.shape != w.shape and g.size == w.size == 1:
        g, w = g.reshape(()), w.reshape(())
    if g.shape != w.shape:
        raise WrongAnswer(
            f"{what} has shape {g.shape}, expected "
            f"{w.shape}." + (f" Hint: {hint}" if hint else "")
        )
    if not np.all(np.isfinite(g)):
        raise WrongAnswer(
            f"{what} contains NaN or infinity."
            + (f" Hint: {hint}" if hint else "")
        )
    if not np.allclose(g, w, rtol=rtol, atol=atol):
        diff = float(np.max(np.abs(g - w)))
        if g.size != 1:
            shown = f"largest difference {diff:.3g}"
        elif strict():  # a grader's report must not hand out the value
            shown = (
                f"got {float(g):.6g} (a graded run does not show the answer)"
            )
        else:
            shown = f"got {float(g):.6g}, expected {float(w):.6g}"
        raise WrongAnswer(
            f"{what} is off: {shown}." + (f" Hint: {hint}" if hint else "")
        )


def expect_number(got: Any, what: str) -> float:
    """``got`` as a finite float, or :class:`WrongAnswer`."""
    value = _as_array(got, what)
    if value.size != 1 or not math.isfinite(float(value.reshape(-1)[0])):
        raise WrongAnswer(
            f"{what} should be one finite number, got {got!r:.80}"
        )
    return float(value.reshape(-1)[0])


def unit_rows(rows: int, dim: int, seed: int):
    """``rows`` random unit vectors of dimension ``dim`` (float64, seeded):
    the checkers' test inputs."""
    import torch

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, dim, generator=g, dtype=torch.float64)
    return x / x.norm(dim=-1, keepdim=True)


def expect_choice(got: Any, options: Iterable[Any], what: str) -> None:
    """Raise unless ``got`` is one of ``options`` (for multiple choice)."""
    options = list(options)
    if _is_todo(got):
        raise NotAttempted(f"{what} is still TODO")
    if got not in options:
        raise WrongAnswer(f"{what} must be one of {options}, got {got!r}")


def reset_tries() -> None:
    """Forget the wrong tries counted by :func:`wrong_choice`."""
    _WRONG_TRIES.clear()


def wrong_choice(what: str, got: Any, *, hint: str, answer: str) -> NoReturn:
    """Raise :class:`WrongAnswer` for a wrong choice or set answer ``what``
    without giving the answer away: under a grader the message holds the
    hint only; in self-study the first wrong try of ``what`` gets the
    hint, and the second and later ones the hint and ``answer`` (the
    right answer, with what shows it).  The hint must not contain the
    answer."""
    number = _RUNNING[-1] if _RUNNING else "?"
    key = (number, what)
    tries = _WRONG_TRIES[key] = _WRONG_TRIES.get(key, 0) + 1
    message = f"{what}: {got!r:.80} is not right. Hint: {hint}"
    if strict():
        message += " (A graded run does not show the answer.)"
    elif tries < 2:
        message += (
            " Think it through and try again; the answer is shown "
            "after a second wrong try."
        )
    else:
        message += f" The answer: {answer}"
    raise WrongAnswer(message)
