"""Checkers of chapter 09's exercises (multilingual knowledge
distillation: the KD loss, inherited similarity, positions vs rankings)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from scipy.stats import spearmanr

from ...distill import multilingual_kd_loss
from ..grading import unit_rows as _unit
from ..grading import (expect, expect_choice, expect_close, expect_number,
                       register)
from ...losses import additive_margin_softmax_loss


def _rotation(dim: int, seed: int) -> torch.Tensor:
    """A random orthogonal (dim, dim) matrix (QR of a Gaussian matrix)."""
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(dim, dim, generator=g,
                                       dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))


def _gram(t: torch.Tensor) -> torch.Tensor:
    """t·tᵀ, made exactly symmetric (so that its ties are exact)."""
    g = t @ t.T
    return (g + g.T) / 2


@register("9.1")
def kd_loss_checker(fn) -> str:
    """``fn(s_en, s_xx, t_en)`` is MSE(S(e), T(e)) + MSE(S(x), T(e)),
    each averaged over rows and dimensions."""
    expect(callable(fn), "the answer should be the function kd_loss")
    for seed, (rows, dim) in enumerate([(4, 8), (16, 384), (7, 5)]):
        t_en = _unit(rows, dim, seed)
        s_en = F.normalize(t_en + 0.5 * _unit(rows, dim, 10 + seed), dim=-1)
        s_xx = _unit(rows, dim, 20 + seed)     # far from its target
        want = multilingual_kd_loss(s_en, s_xx, t_en)
        got = fn(s_en, s_xx, t_en)
        value = expect_number(got, f"kd_loss on a ({rows}, {dim}) batch")
        halves = (F.mse_loss(s_en, t_en) + F.mse_loss(s_xx, t_en)).item()
        per_row = halves * dim
        own = (F.mse_loss(s_en, t_en) + F.mse_loss(s_xx, s_en)).item()
        hint = ("sum two mean squared errors, each averaged over the B "
                "rows and the D coordinates")
        if abs(value - halves / 2) < 1e-6 * max(1.0, halves):
            hint = ("your value is half the expected one: you averaged "
                    "the two terms (sentence-transformers' MSELoss); the "
                    "chapter and the paper sum them")
        elif abs(value - per_row) < 1e-6 * max(1.0, per_row):
            hint = (f"your value is D = {dim} times the expected one: "
                    f"average over the coordinates too (the chapter's "
                    f"1/(BD)), not only over the rows")
        elif abs(value - own) < 1e-6 * max(1.0, own):
            hint = ("the translation's target is the teacher's English "
                    "vector T(e), not the student's own S(e): the teacher "
                    "is the only target")
        expect_close(value, want, f"kd_loss on a ({rows}, {dim}) batch",
                     rtol=1e-5, hint=hint)
    t_en = _unit(5, 12, 99)
    expect_close(fn(t_en.clone(), t_en.clone(), t_en), 0.0,
                 "kd_loss of a student equal to the teacher", atol=1e-9,
                 hint="a perfect student must have zero loss")
    return ("Your loss equals labse_lite.distill.multilingual_kd_loss on "
            "three batches and is zero for a student that copies the "
            "teacher on both sides.")


@register("9.2")
def inherited_similarity_checker(fn) -> str:
    """``fn(student_sims, teacher_sims)`` is Spearman's rho over the
    off-diagonal entries of two (n, n) similarity matrices."""
    expect(callable(fn),
           "the answer should be the function inherited_similarity")
    off_rho = full_rho = pearson = None
    for seed, (n, noise) in enumerate([(6, 0.3), (9, 1.0), (12, 0.6)]):
        t_e = _unit(n, 16, seed)
        s_e = F.normalize(t_e + noise * _unit(n, 16, 30 + seed), dim=-1)
        s_x = F.normalize(t_e + noise * _unit(n, 16, 60 + seed), dim=-1)
        student, teacher = s_x @ s_e.T, _gram(t_e)            # (n, n)
        off = ~torch.eye(n, dtype=torch.bool)
        off_rho = spearmanr(student[off].numpy(),
                            teacher[off].numpy()).statistic
        full_rho = spearmanr(student.flatten().numpy(),
                             teacher.flatten().numpy()).statistic
        pearson = torch.corrcoef(torch.stack(
            [student[off], teacher[off]]))[0, 1].item()
        value = expect_number(fn(student, teacher),
                              f"inherited_similarity on {n} pairs")
        hint = ("rank the n(n-1) off-diagonal entries of each matrix "
                "(tied values share their average rank: the teacher's "
                "matrix is symmetric, so each of its values appears "
                "twice), then take Pearson's correlation of the ranks")
        if abs(value - full_rho) < 1e-3:
            hint = ("you kept the diagonal: S(x_i)·S(e_i) scores the "
                    "translation pairs, which every good model puts on "
                    "top; the chapter's question is about the i != j "
                    "entries")
        elif abs(value - pearson) < 1e-3:
            hint = ("that is Pearson's correlation of the scores; "
                    "Spearman's rho correlates their ranks")
        expect_close(value, off_rho, f"inherited_similarity on {n} pairs",
                     rtol=1e-6, atol=1e-6, hint=hint)
    # Ranks only: an increasing function of the teacher's scores is a
    # perfect student.
    teacher = _gram(_unit(7, 16, 7))
    expect_close(fn(torch.exp(3 * teacher), teacher), 1.0,
                 "inherited_similarity of exp(3·teacher) against teacher",
                 rtol=1e-6, atol=1e-6,
                 hint="any increasing function of the scores keeps their "
                      "order, so rho must be 1")
    return (f"Rho only sees the order of the scores: an increasing "
            f"function of the teacher's similarities scores 1. On the "
            f"last batch, keeping the diagonal would have given "
            f"{full_rho:.3f} instead of {off_rho:.3f}.")


@register("9.3")
def position_vs_ranking_checker(kd_copy, kd_flipped, ams_unchanged, *,
                                teacher_en) -> str:
    """A student equal to the teacher, and one equal to minus the teacher
    (a rotation by 180 degrees when D is even): KD and AMS losses."""
    t = torch.as_tensor(teacher_en, dtype=torch.float64)
    dim = t.shape[1]
    copy = multilingual_kd_loss(t, t, t).item()
    flipped = multilingual_kd_loss(-t, -t, t).item()
    expect_close(expect_number(kd_copy, "kd_copy"), copy, "kd_copy",
                 atol=1e-9, hint="a student that returns the teacher's "
                 "vector on both sides has nothing left to regress")
    value = expect_number(kd_flipped, "kd_flipped")
    hint = (f"each coordinate is off by 2·t, so each MSE is "
            f"4·mean(t²) = 4/D for unit rows; the loss sums two of them "
            f"(D = {dim})")
    if abs(value - flipped / 2) < 1e-9:
        hint = ("that is one of the two MSEs (or their average); the "
                "chapter's loss sums the English and the translation "
                "terms")
    expect_close(value, flipped, "kd_flipped", rtol=1e-6, hint=hint)
    expect_choice(ams_unchanged, [True, False], "ams_unchanged")
    ams_copy = additive_margin_softmax_loss(t, t).item()
    ams_flip = additive_margin_softmax_loss(-t, -t).item()
    q = _rotation(dim, 0)
    ams_rot = additive_margin_softmax_loss(t @ q, t @ q).item()
    kd_rot = multilingual_kd_loss(t @ q, t @ q, t).item()
    expect(ams_unchanged is True,
           f"ams_unchanged: the AMS loss sees only the score matrix, and "
           f"(-x)·(-y) = x·y: it is {ams_flip:.6f} for the flipped "
           f"student and {ams_copy:.6f} for the copy")
    return (f"KD measures positions, AMS only the scores between them: "
            f"a random rotation Q of the copy leaves the AMS loss at "
            f"{ams_rot:.6f} (copy: {ams_copy:.6f}) but raises the KD loss "
            f"from 0 to {kd_rot:.4f} (the most it can be is "
            f"{flipped:.4f}, for -T).")
