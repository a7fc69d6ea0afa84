"""The AMS loss against an independent float64 reference and gradcheck."""

import math

import pytest
import torch
import torch.nn.functional as F

from labse_lite.losses import additive_margin_softmax_loss


def reference_loss(x, y, margin, scale, bidirectional):
    """Eqs. 2-4 of Feng et al. written out with Python loops."""

    def one_way(q, c):
        total = 0.0
        n = q.shape[0]
        for i in range(n):
            scores = [
                scale * (float(q[i] @ c[j]) - (margin if i == j else 0.0))
                for j in range(c.shape[0])
            ]
            log_z = math.log(sum(math.exp(s) for s in scores))
            total += -(scores[i] - log_z)
        return total / n

    loss = one_way(x, y)
    if bidirectional:
        loss += one_way(y, x)
    return loss


def unit(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(
        torch.randn(*shape, generator=g, dtype=torch.float64), dim=-1
    )


@pytest.mark.parametrize("margin", [0.0, 0.3])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_matches_float64_reference(margin, bidirectional):
    x, y = unit(7, 5, seed=1), unit(7, 5, seed=2)
    got = additive_margin_softmax_loss(
        x, y, margin=margin, scale=10.0, bidirectional=bidirectional
    )
    want = reference_loss(x, y, margin, 10.0, bidirectional)
    assert abs(got.item() - want) < 1e-10


def test_bidirectional_is_sum_not_mean():
    x, y = unit(6, 4, seed=3), unit(6, 4, seed=4)
    one = additive_margin_softmax_loss(x, y, bidirectional=False)
    other = additive_margin_softmax_loss(y, x, bidirectional=False)
    both = additive_margin_softmax_loss(x, y, bidirectional=True)
    assert torch.allclose(both, one + other, atol=1e-12)


def test_margin_raises_loss_on_positives():
    x, y = unit(8, 4, seed=5), unit(8, 4, seed=6)
    assert additive_margin_softmax_loss(
        x, y, margin=0.3
    ) > additive_margin_softmax_loss(x, y, margin=0.0)


@pytest.mark.parametrize("margin", [0.0, 0.3])
def test_gradcheck(margin):
    x = unit(5, 4, seed=7).requires_grad_()
    y = unit(5, 4, seed=8).requires_grad_()
    # check_normalized would trip on gradcheck's finite-difference probes
    fn = lambda a, b: additive_margin_softmax_loss(  # noqa: E731
        a, b, margin=margin, check_normalized=False
    )
    assert torch.autograd.gradcheck(fn, (x, y), eps=1e-6, atol=1e-7)


def test_candidates_larger_than_queries_match_global_batch():
    """Rows 3..6 of a 9-row global batch scored against all 9 rows give the
    same per-query terms as the full-batch loss restricted to those rows."""
    x_all, y_all = unit(9, 4, seed=9), unit(9, 4, seed=10)
    lo, hi = 3, 6
    part = additive_margin_softmax_loss(
        x_all[lo:hi],
        y_all[lo:hi],
        margin=0.3,
        x_candidates=x_all,
        y_candidates=y_all,
        offset=lo,
    )
    # Reference: per-row cross entropies of the full matrix.
    s = 10.0
    fwd = s * (x_all @ y_all.T - 0.3 * torch.eye(9, dtype=torch.float64))
    bwd = s * (y_all @ x_all.T - 0.3 * torch.eye(9, dtype=torch.float64))
    rows = torch.arange(lo, hi)
    want = F.cross_entropy(fwd[rows], rows) + F.cross_entropy(bwd[rows], rows)
    assert torch.allclose(part, want, atol=1e-12)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(margin=-0.1), "margin"),
        (dict(margin=float("nan")), "margin"),
        (dict(scale=0.0), "scale"),
        (dict(scale=-1.0), "scale"),
    ],
)
def test_invalid_hyper_parameters(kwargs, message):
    x, y = unit(4, 3), unit(4, 3, seed=1)
    with pytest.raises(ValueError, match=message):
        additive_margin_softmax_loss(x, y, **kwargs)


def test_batch_size_one_is_an_error():
    x, y = unit(1, 3), unit(1, 3, seed=1)
    with pytest.raises(ValueError, match="at least 2"):
        additive_margin_softmax_loss(x, y)


def test_shape_mismatch_and_nan_and_unnormalised():
    with pytest.raises(ValueError, match="same shape"):
        additive_margin_softmax_loss(unit(4, 3), unit(5, 3))
    with pytest.raises(ValueError, match="batch, dim"):
        additive_margin_softmax_loss(unit(4), unit(4))
    bad = unit(4, 3).clone()
    bad[1, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="NaN"):
        additive_margin_softmax_loss(bad, unit(4, 3))
    with pytest.raises(ValueError, match="normalised"):
        additive_margin_softmax_loss(3 * unit(4, 3), unit(4, 3))
    with pytest.raises(ValueError, match="offset"):
        additive_margin_softmax_loss(
            unit(4, 3),
            unit(4, 3),
            x_candidates=unit(6, 3),
            y_candidates=unit(6, 3),
            offset=3,
        )
