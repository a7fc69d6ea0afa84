"""Checkers of chapter 09's exercises (multilingual knowledge
distillation: the typical error of a similarity, inherited similarity,
aligning a rotated student)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from scipy.stats import spearmanr

from ...distill import multilingual_kd_loss
from ...losses import additive_margin_softmax_loss
from ..grading import expect, expect_close, expect_number, register
from ..grading import unit_rows as _unit


def _rotation(dim: int, seed: int) -> torch.Tensor:
    """A random orthogonal (dim, dim) matrix (QR of a Gaussian matrix)."""
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(
        torch.randn(dim, dim, generator=g, dtype=torch.float64)
    )
    return q * torch.sign(torch.diagonal(r))


def _gram(t: torch.Tensor) -> torch.Tensor:
    """t·tᵀ, made exactly symmetric (so that its ties are exact)."""
    g = t @ t.T
    return (g + g.T) / 2


def _measured_error(
    sigma: float, dim: int, n: int = 4000, seed: int = 0
) -> tuple[float, float]:
    """RMS of S(x_i)ᵀS(e_j) - T(e_i)ᵀT(e_j) over ``n`` draws of unit
    teacher vectors and isotropic Gaussian errors with E||error||² =
    sigma², and the mean Cauchy-Schwarz bound."""
    g = torch.Generator().manual_seed(seed)

    def draw(shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    t_i = F.normalize(draw((n, dim)), dim=-1)
    t_j = F.normalize(draw((n, dim)), dim=-1)
    eps = draw((n, dim)) * sigma / dim**0.5
    eta = draw((n, dim)) * sigma / dim**0.5
    diff = ((t_i + eps) * (t_j + eta)).sum(-1) - (t_i * t_j).sum(-1)
    a, b = eps.norm(dim=-1), eta.norm(dim=-1)
    return (float(diff.pow(2).mean().sqrt()), float((a + b + a * b).mean()))


@register("9.1")
def similarity_error_checker(fn) -> str:
    """``fn(sigma, dim)`` is the RMS error of a cross-lingual similarity,
    sqrt((2 sigma² + sigma⁴) / D), for isotropic errors of mean squared
    length sigma² on unit teacher vectors."""
    expect(callable(fn), "the answer should be the function similarity_error")
    for sigma, dim in [
        (0.5, 8),
        (1.0, 16),
        (0.2, 384),
        (2.0, 32),
        (0.05, 768),
    ]:
        want = ((2 * sigma**2 + sigma**4) / dim) ** 0.5
        what = f"similarity_error({sigma}, {dim})"
        value = expect_number(fn(sigma, dim), what)
        hint = (
            "expand (T_i + ε)ᵀ(T_j + η) - T_iᵀT_j into three terms; "
            "their cross products have mean zero, and for an "
            "isotropic error E[(εᵀu)²] = σ²/D for any unit u"
        )
        if abs(value - (2 * sigma**2 / dim) ** 0.5) < 1e-9:
            hint = (
                "you kept εᵀT_j and T_iᵀη but dropped εᵀη: its mean "
                "square is D · (σ²/D)² = σ⁴/D, small only when σ is"
            )
        elif abs(value - (2 * sigma + sigma**2)) < 1e-9:
            hint = (
                "that is the Cauchy-Schwarz bound with ||ε|| = ||η|| "
                "= σ, the worst case: it needs ε aligned with T_j. "
                "The question asks for the typical size (the root "
                "mean square) of random, isotropic errors"
            )
        elif abs(value - want**2) < 1e-9:
            hint = "that is the mean square: take its square root"
        expect_close(value, want, what, rtol=1e-6, atol=1e-12, hint=hint)
    rows = []
    for sigma, dim in [(0.5, 8), (0.2, 384)]:
        measured, bound = _measured_error(sigma, dim)
        rows.append(
            f"σ = {sigma}, D = {dim}: yours {fn(sigma, dim):.4f}, "
            f"measured {measured:.4f}, Cauchy-Schwarz bound "
            f"{bound:.3f} on average"
        )
    loss = 2 * 0.2**2 / 384
    return (
        "Measured on 4,000 random pairs: " + "; ".join(rows) + ". The "
        "worst-case bound is about √D times the typical error: errors "
        "in random directions are nearly orthogonal to every teacher "
        f"vector.  With L_KD ≈ 2σ²/D (here {loss:.1e} for σ = 0.2, "
        f"D = 384) the typical error is √(L_KD + D·L_KD²/4)."
    )


@register("9.2")
def inherited_similarity_checker(fn) -> str:
    """``fn(student_sims, teacher_sims)`` is Spearman's rho over the
    off-diagonal entries of two (n, n) similarity matrices."""
    expect(
        callable(fn), "the answer should be the function inherited_similarity"
    )
    off_rho = full_rho = pearson = None
    for seed, (n, noise) in enumerate([(6, 0.3), (9, 1.0), (12, 0.6)]):
        t_e = _unit(n, 16, seed)
        s_e = F.normalize(t_e + noise * _unit(n, 16, 30 + seed), dim=-1)
        s_x = F.normalize(t_e + noise * _unit(n, 16, 60 + seed), dim=-1)
        student, teacher = s_x @ s_e.T, _gram(t_e)  # (n, n)
        off = ~torch.eye(n, dtype=torch.bool)
        off_rho = spearmanr(
            student[off].numpy(), teacher[off].numpy()
        ).statistic
        full_rho = spearmanr(
            student.flatten().numpy(), teacher.flatten().numpy()
        ).statistic
        pearson = torch.corrcoef(torch.stack([student[off], teacher[off]]))[
            0, 1
        ].item()
        value = expect_number(
            fn(student, teacher), f"inherited_similarity on {n} pairs"
        )
        hint = (
            "rank the n(n-1) off-diagonal entries of each matrix "
            "(tied values share their average rank: the teacher's "
            "matrix is symmetric, so each of its values appears "
            "twice), then take Pearson's correlation of the ranks"
        )
        if abs(value - full_rho) < 1e-3:
            hint = (
                "you kept the diagonal: S(x_i)·S(e_i) scores the "
                "translation pairs, which every good model puts on "
                "top; the chapter's question is about the i != j "
                "entries"
            )
        elif abs(value - pearson) < 1e-3:
            hint = (
                "that is Pearson's correlation of the scores; "
                "Spearman's rho correlates their ranks"
            )
        expect_close(
            value,
            off_rho,
            f"inherited_similarity on {n} pairs",
            rtol=1e-6,
            atol=1e-6,
            hint=hint,
        )
    # Ranks only: an increasing function of the teacher's scores is a
    # perfect student.
    teacher = _gram(_unit(7, 16, 7))
    expect_close(
        fn(torch.exp(3 * teacher), teacher),
        1.0,
        "inherited_similarity of exp(3·teacher) against teacher",
        rtol=1e-6,
        atol=1e-6,
        hint="any increasing function of the scores keeps their "
        "order, so rho must be 1",
    )
    return (
        f"Rho only sees the order of the scores: an increasing "
        f"function of the teacher's similarities scores 1. On the "
        f"last batch, keeping the diagonal would have given "
        f"{full_rho:.3f} instead of {off_rho:.3f}."
    )


def _procrustes(student: torch.Tensor, teacher: torch.Tensor):
    u, _, vt = torch.linalg.svd(student.T @ teacher)
    return u @ vt


@register("9.3")
def procrustes_checker(fn, *, teacher_en=None) -> str:
    """``fn(student, teacher)`` is the orthogonal Q that minimises
    ||student Q - teacher|| (orthogonal Procrustes)."""
    expect(callable(fn), "the answer should be the function align")
    for seed, (n, dim, noise) in enumerate(
        [(20, 8, 0.1), (30, 5, 0.5), (12, 6, 2.0)]
    ):
        teacher = _unit(n, dim, seed)
        student = teacher @ _rotation(dim, 10 + seed).T + noise * _unit(
            n, dim, 20 + seed
        )
        what = f"align on {n} vectors in {dim} dimensions (noise {noise})"
        got = fn(student.clone(), teacher.clone())
        expect(
            got is not None,
            f"{what} returned None: did it forget to `return` Q?",
        )
        q = torch.as_tensor(got, dtype=torch.float64)
        expect(
            tuple(q.shape) == (dim, dim),
            f"{what}: Q should be ({dim}, {dim}), got {tuple(q.shape)}",
        )
        off = float(
            (q.T @ q - torch.eye(dim, dtype=torch.float64)).abs().max()
        )
        expect(
            off < 1e-8,
            f"{what}: Q is not orthogonal (QᵀQ differs from I by up to "
            f"{off:.2g}). Hint: an unconstrained least-squares map "
            f"fits better but may stretch and shear the student's "
            f"space; a rotation keeps every length and angle: take "
            f"the SVD U Σ Vᵀ of studentᵀ teacher and drop Σ",
        )
        best = float(
            (student @ _procrustes(student, teacher) - teacher).norm()
        )
        value = float((student @ q - teacher).norm())
        hint = "with U Σ Vᵀ = studentᵀ teacher (in that order), Q = U Vᵀ"
        if (
            abs(
                value
                - float(
                    (
                        student @ _procrustes(student, teacher).T - teacher
                    ).norm()
                )
            )
            < 1e-9
        ):
            hint = (
                "you returned the transpose of Q: student @ Q must "
                "land on the teacher, so decompose studentᵀ teacher, "
                "not teacherᵀ student"
            )
        expect(
            value <= best * (1 + 1e-8) + 1e-10,
            f"{what}: ||student Q - teacher|| is {value:.6g}, the best "
            f"rotation reaches {best:.6g}. Hint: {hint}",
        )
    t = (
        _unit(6, 8, 0)
        if teacher_en is None
        else torch.as_tensor(teacher_en, dtype=torch.float64)
    )
    dim = t.shape[1]
    turned = t @ _rotation(dim, 5)  # a rotated copy
    q = torch.as_tensor(fn(turned.clone(), t.clone()), dtype=torch.float64)
    back = turned @ q
    return (
        f"A copy of the teacher seen in a rotated frame has an AMS "
        f"loss of {additive_margin_softmax_loss(turned, turned):.4f} "
        f"and a KD loss of "
        f"{multilingual_kd_loss(turned, turned, t):.4f}; after your "
        f"rotation the AMS loss is "
        f"{additive_margin_softmax_loss(back, back):.4f} (no ranking "
        f"changes) and the KD loss "
        f"{multilingual_kd_loss(back, back, t):.1e}.  The KD loss "
        f"measures the frame as well as the geometry; one orthogonal "
        f"map, fitted on the pairs themselves, removes the frame."
    )
