"""Checkers of chapter 05's exercises (retrieval, hubs and margin
scoring), and the toy corpus they share."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from ...evaluate import retrieval_accuracy
from ...mining import SCORINGS, knn, margin_scores, mine
from ..grading import (
    WrongAnswer,
    expect,
    expect_choice,
    expect_close,
    expect_number,
    register,
    wrong_choice,
)

__all__ = ["toy_corpus"]

TOY_K = 2  # neighbours of the margin and of N_k in the exercises


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def toy_corpus() -> tuple[np.ndarray, np.ndarray]:
    """Four source sentences and five English ones, as unit rows in 14
    dimensions: ``(src, tgt)`` of shapes (4, 14) and (5, 14).

    Every sentence shares a topic direction ``t`` (think of text from one
    article); sentence i has its own meaning direction ``u_i``, and every
    sentence adds noise along a private direction.  Source ``x_i``
    translates English ``y_i`` for i < 4; the translation ``y_0`` is a
    noisy one.  ``y_4`` is a generic English sentence: topic and a little
    noise, no meaning of its own."""
    e = np.eye(14)
    t, u, noise = e[0], e[1:5], e[5:14]
    topic_x = np.array([1.0, 0.9, 1.1, 0.8])[:, None]
    noise_x = np.array([0.5, 0.4, 0.6, 0.5])[:, None]
    topic_y = np.array([1.0, 1.0, 0.9, 1.2])[:, None]
    noise_y = np.array([1.7, 0.5, 0.4, 0.6])[:, None]
    src = _unit(u + topic_x * t + noise_x * noise[0:4])  # (4, 14)
    translations = _unit(u + topic_y * t + noise_y * noise[4:8])  # (4, 14)
    generic = _unit(t + 0.3 * noise[8])  # (14,)
    return src, np.vstack([translations, generic])  # (5, 14)


def _call(fn: Callable, *args: Any, what: str) -> Any:
    """``fn(*args)``; an exception other than NotImplementedError becomes
    a :class:`WrongAnswer` that names the call."""
    try:
        return fn(*args)
    except (NotImplementedError, WrongAnswer):
        raise
    except Exception as err:  # noqa: BLE001 - reported to the student
        raise WrongAnswer(
            f"{what} raised {type(err).__name__}: {err}"
        ) from None


def _random_unit(
    rows: int,
    dim: int,
    rng: np.random.Generator,
    shared: np.ndarray | None = None,
) -> np.ndarray:
    v = rng.normal(size=(rows, dim))
    if shared is not None:  # a common direction: cosines > 0
        v = v + 3.0 * shared
    return _unit(v)


@register("5.1")
def precision_at_1(fn) -> str:
    """``fn(scores)``: P@1 of a (queries, candidates) score matrix whose
    gold candidate of query i is column i."""
    expect(callable(fn), "the answer should be the function p_at_1")
    rng = np.random.default_rng(51)
    for rows, cols in [(6, 6), (8, 8), (5, 9), (7, 12)]:
        q = _random_unit(rows, 8, rng)
        c = _random_unit(cols, 8, rng)
        c[:rows] = _unit(c[:rows] + 0.8 * q)  # gold is often, not always
        scores = q @ c.T  # (rows, cols)
        want = retrieval_accuracy(
            torch.from_numpy(q), torch.from_numpy(c), gold=torch.arange(rows)
        )
        got = expect_number(
            _call(fn, scores.copy(), what=f"p_at_1 on a {rows}×{cols} matrix"),
            f"p_at_1 on a {rows}×{cols} matrix",
        )
        hint = (
            "for each row take the column with the highest score "
            "(argmax along axis 1) and count how often it is the "
            "row's own index; divide by the number of rows"
        )
        if rows == cols and abs(want - got) > 1e-9:
            other = float(np.mean(scores.argmax(axis=0) == np.arange(rows)))
            if abs(got - other) < 1e-9:
                hint = (
                    "your value is the P@1 of the other direction: you "
                    "took the argmax down each column (axis 0), so the "
                    "candidates acted as queries"
                )
        if abs(got - 100 * want) < 1e-6 and want > 0:
            hint = "return a fraction in [0, 1], not a percentage"
        expect_close(
            got,
            want,
            f"p_at_1 on a {rows}×{cols} matrix",
            atol=1e-9,
            hint=hint,
        )
    src, tgt = toy_corpus()
    cos = src @ tgt.T  # (4, 5)
    xx2en = float(fn(cos))
    en2xx = float(fn(cos[:, : len(src)].T))
    return (
        f"On the toy corpus xx→en P@1 is {xx2en:.2f} but en→xx is "
        f"{en2xx:.2f}: the generic English sentence y_4 is in the "
        f"English pool and steals x_0's query; in en→xx it is no "
        f"query at all, and the four sources hold no hub.  One "
        f"cosine matrix, two directions, two numbers."
    )


@register("5.2")
def ratio_margin_score(fn) -> str:
    """``fn(cos, i, j, k)``: LASER's ratio margin of the pair (x_i, y_j)
    from the full (n_src, n_tgt) cosine matrix."""
    expect(callable(fn), "the answer should be the function ratio_margin")
    src, tgt = toy_corpus()
    cases = [(src, tgt, TOY_K, [(0, 0), (0, 4), (2, 2), (1, 3)])]
    rng = np.random.default_rng(52)
    shared = _unit(rng.normal(size=12))
    for n_src, n_tgt, k in [(6, 7, 1), (8, 6, 3), (9, 9, 4)]:
        cases.append(
            (
                _random_unit(n_src, 12, rng, shared),
                _random_unit(n_tgt, 12, rng, shared),
                k,
                [(0, 0), (n_src - 1, 1), (2, n_tgt - 1)],
            )
        )
    for s, t, k, pairs in cases:
        cos = s @ t.T  # (n_src, n_tgt)
        margins = margin_scores(s, t, k=k, scoring="ratio", index="exact")
        for i, j in pairs:
            want = cos[i, j] / (
                (margins.src_mean[i] + margins.tgt_mean[j]) / 2
            )
            hit = np.flatnonzero(margins.fwd_index[i] == j)
            if hit.size:  # the package scored this pair itself
                want = float(margins.fwd_score[i, hit[0]])
            what = f"ratio_margin(cos, {i}, {j}, k={k})"
            got = expect_number(
                _call(fn, cos.copy(), i, j, k, what=what), what
            )
            hint = (
                "the denominator averages two means: the mean cosine "
                "of x_i to its k nearest targets (the k largest "
                "entries of row i) and that of y_j to its k nearest "
                "sources (the k largest entries of column j)"
            )
            if abs(got - want / 2) < 1e-4 * abs(want):
                hint = (
                    "your score is half the expected one: the "
                    "denominator is the *average* of the two "
                    "neighbourhood means, (a + b) / 2, not their sum"
                )
            elif abs(got - cos[i, j]) < 1e-6:
                hint = (
                    "that is the plain cosine: divide it by the "
                    "average neighbourhood similarity"
                )
            expect_close(got, want, what, rtol=1e-4, hint=hint)
    return (
        "Your ratio margin matches labse_lite.mining.margin_scores.  "
        "On the toy corpus (x_0, y_0) scores above (x_0, y_4) although "
        "its cosine is lower: y_4's neighbourhood is crowded, so its "
        "denominator is large."
    )


def _n_k(src: np.ndarray, tgt: np.ndarray, k: int) -> np.ndarray:
    _, found = knn(src, tgt, k, index="exact")  # (n_src, k)
    return np.bincount(found.ravel(), minlength=len(tgt))


def _pairs_x0_with_translation(
    src: np.ndarray, tgt: np.ndarray, scoring: str, k: int
) -> bool:
    pairs = mine(src, tgt, k=k, scoring=scoring, mode="forward", index="exact")
    return (0, 0) in pairs.pairs()


@register("5.3")
def hub_and_scoring(n_k, hub, fixed_by) -> str:
    """``n_k``: N_k(y_j) of the toy corpus's English sentences (k = 2);
    ``hub``: the index of the hub; ``fixed_by``: the scorings under which
    forward search pairs x_0 with its translation y_0."""
    src, tgt = toy_corpus()
    want = _n_k(src, tgt, TOY_K)  # (5,)
    try:
        got = (
            None
            if isinstance(n_k, (str, bytes))
            else np.asarray(n_k, dtype=float).ravel()
        )
    except (TypeError, ValueError):
        got = None
    if got is None or got.shape != want.shape:
        raise WrongAnswer(
            f"n_k should hold {len(want)} numbers, one per "
            f"English sentence y_0..y_{len(want) - 1}; got "
            f"{n_k!r:.80}"
        )
    hint = (
        "N_k(y) counts the source sentences x whose k nearest English "
        "sentences include y: take the k largest entries of each ROW "
        "of the cosine matrix and count, per column, how often it is "
        "among them"
    )
    if np.all(got == TOY_K):
        hint = (
            "every entry equals k: you counted each English sentence's "
            "own k neighbours instead of how often it appears among "
            "the neighbours of the source sentences (rows, not "
            "columns)"
        )
    elif got.sum() != want.sum():
        hint += (
            f"; the entries must add up to k × (number of source "
            f"sentences) = {int(want.sum())}"
        )
    expect_close(got, want, "n_k", atol=0, hint=hint)
    expect_choice(hub, range(len(tgt)), "hub")
    if int(hub) != int(np.argmax(want)):
        wrong_choice(
            "hub",
            hub,
            hint=(
                "a hub is the English sentence that appears in the most "
                "neighbour lists: read it off your n_k."
            ),
            answer=(
                f"the sentence with the largest k-occurrence is "
                f"y_{int(np.argmax(want))}."
            ),
        )
    if isinstance(fixed_by, str):
        fixed_by = {fixed_by}
    try:
        chosen = set(fixed_by)
    except TypeError:
        raise WrongAnswer(
            f"fixed_by should be a set of scoring names, got {fixed_by!r:.80}"
        ) from None
    for name in chosen:
        expect_choice(name, SCORINGS, "each name in fixed_by")
    right = {
        s for s in SCORINGS if _pairs_x0_with_translation(src, tgt, s, TOY_K)
    }
    if chosen != right:
        wrong_choice(
            "fixed_by",
            sorted(chosen),
            hint=(
                "by cosine x_0 is closer to the hub than to y_0.  Both "
                "margins compare a pair's cosine with the average of the "
                "two sentences' neighbourhood means; the ratio divides "
                "by it, the distance subtracts it, and the hub's mean is "
                "the largest of all.  Work out score(x_0, y_0) and "
                "score(x_0, y_4) under each rule."
            ),
            answer=f"fixed_by is {sorted(right)}.",
        )
    return (
        f"y_{int(np.argmax(want))} appears in all {int(want.max())} "
        f"neighbour lists; its neighbourhood mean is high, so both "
        f"margins discount it and x_0 gets its real translation, "
        f"which the plain cosine misses."
    )
