"""Checkers of chapter 04's exercises (cross-device negatives and cached
gradients), all simulated in one process."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ...losses import additive_margin_softmax_loss
from ..grading import WrongAnswer, _as_array, expect, expect_close, register

_F64 = torch.float64


def _close(got, want, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    """True when ``got`` has ``want``'s shape and values (no exception)."""
    try:
        g, w = _as_array(got, "the answer"), _as_array(want, "expected")
    except WrongAnswer:
        return False
    return g.shape == w.shape and bool(np.allclose(g, w, rtol=rtol, atol=atol))


def _encode(inputs: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """The setup cell's tiny linear encoder: unit rows of ``inputs @ W``."""
    return F.normalize(inputs @ W, dim=-1)


# --- 4.1 ---------------------------------------------------------------


def _gathered_losses(ranks: int, batch: int, dim: int, seed: int):
    """R rank losses of fixed queries against one gathered (R·B, D)
    candidate matrix; returns the per-rank parts (leaves), the gathered
    matrix and the losses."""
    g = torch.Generator().manual_seed(seed)
    parts = [
        torch.randn(batch, dim, generator=g, dtype=_F64, requires_grad=True)
        for _ in range(ranks)
    ]
    gathered = torch.cat(parts)  # (R·B, D)
    queries = F.normalize(
        torch.randn(ranks, batch, dim, generator=g, dtype=_F64), dim=-1
    )
    candidates = F.normalize(gathered, dim=-1)
    losses = []
    for r in range(ranks):
        logits = 10.0 * queries[r] @ candidates.T  # (B, R·B)
        labels = torch.arange(batch) + r * batch  # positives
        losses.append(F.cross_entropy(logits, labels))
    return parts, gathered, losses


@register("4.1")
def all_gather_backward(fn) -> str:
    """``fn(grads)``: grads[r] = ∂L_r/∂V (R·B, D) → the (B, D) gradient
    that rank t receives for its rows, Σ_r grads[r][block t]."""
    expect(
        callable(fn), "the answer should be the function all_gather_backward"
    )
    for ranks, batch, dim, seed in ((2, 3, 4, 0), (3, 2, 5, 1), (4, 2, 3, 2)):
        parts, gathered, losses = _gathered_losses(ranks, batch, dim, seed)
        grads = [
            torch.autograd.grad(loss, gathered, retain_graph=True)[0]
            for loss in losses
        ]  # R × (R·B, D)
        want = torch.autograd.grad(sum(losses), parts)  # R × (B, D)
        got = fn([G.clone() for G in grads])
        what = f"all_gather_backward with R={ranks} ranks of B={batch}"
        expect(
            isinstance(got, (list, tuple)) and len(got) == ranks,
            f"{what} should return a list of R={ranks} tensors, one "
            f"per rank, got {type(got).__name__}"
            + (f" of length {len(got)}" if hasattr(got, "__len__") else ""),
        )
        rows = [slice(s * batch, (s + 1) * batch) for s in range(ranks)]
        own = [grads[s][rows[s]] for s in range(ranks)]
        if all(_close(got[s], own[s]) for s in range(ranks)):
            raise WrongAnswer(
                f"{what}: each rank got only the gradient of its OWN loss "
                f"for its rows, grads[t][block t].  That is what a gather "
                f"without gradients gives: every other rank's loss also "
                f"depends on rank t's rows (they are its negatives), so "
                f"rank t must receive the SUM over r of grads[r][block t]."
            )
        if all(_close(got[s], want[s] / ranks) for s in range(ranks)):
            raise WrongAnswer(
                f"{what}: your gradients are R={ranks} times too small: "
                f"did you average over ranks?  The backward of the gather "
                f"sums; the division by R happens later, when DDP "
                f"averages the parameter gradients."
            )
        for s in range(ranks):
            expect_close(
                got[s],
                want[s],
                f"the gradient of rank {s} ({what})",
                rtol=1e-6,
                atol=1e-9,
                hint="add up grads[r] over all ranks r, then give "
                "rank t rows t·B … t·B + B − 1 of the sum",
            )
    return (
        "Summing every rank's gradient and handing each rank its own "
        "slice is a reduce-scatter, the adjoint of the all-gather; "
        "labse_lite.distributed does it as an all-reduce plus a slice."
    )


# --- 4.2 ---------------------------------------------------------------


def _ddp_inputs(ranks: int, batch: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(6, 8, generator=g, dtype=_F64)
    xs = [torch.randn(batch, 6, generator=g, dtype=_F64) for _ in range(ranks)]
    ys = [x + 0.3 * torch.randn(batch, 6, generator=g, dtype=_F64) for x in xs]
    return W, xs, ys


def _single_process_gradient(W, xs, ys) -> torch.Tensor:
    W = W.clone().requires_grad_()
    loss = additive_margin_softmax_loss(
        _encode(torch.cat(xs), W), _encode(torch.cat(ys), W)
    )
    return torch.autograd.grad(loss, W)[0]


def _without_grad_average(W, xs, ys) -> torch.Tensor:
    """DDP's average when each rank detaches the other ranks' rows."""
    ranks = len(xs)
    replicas = [W.clone().requires_grad_() for _ in range(ranks)]
    x = [_encode(xs[r], replicas[r]) for r in range(ranks)]
    y = [_encode(ys[r], replicas[r]) for r in range(ranks)]
    total = 0
    for r in range(ranks):
        x_all = torch.cat(
            [x[q] if q == r else x[q].detach() for q in range(ranks)]
        )
        y_all = torch.cat(
            [y[q] if q == r else y[q].detach() for q in range(ranks)]
        )
        total = total + additive_margin_softmax_loss(
            x[r],
            y[r],
            x_candidates=x_all,
            y_candidates=y_all,
            offset=r * len(xs[r]),
        )
    total.backward()
    return sum(w.grad for w in replicas) / ranks


@register("4.2")
def ddp_average(fn) -> str:
    """``fn(W, xs, ys)`` simulates R replicas with an all-gather with
    gradients and returns DDP's averaged gradient, which must equal the
    single-process gradient of the global-batch loss."""
    expect(callable(fn), "the answer should be the function ddp_gradient")
    for ranks, batch, seed in ((4, 2, 0), (3, 2, 1), (2, 3, 2)):
        W, xs, ys = _ddp_inputs(ranks, batch, seed)
        want = _single_process_gradient(W, xs, ys)
        got = fn(W.clone(), [x.clone() for x in xs], [y.clone() for y in ys])
        what = f"ddp_gradient with R={ranks} ranks of B={batch} pairs"
        if _close(got, ranks * want):
            raise WrongAnswer(
                f"{what} is R={ranks} times the single-process gradient: "
                f"you summed the replicas' gradients.  Each replica already "
                f"holds the gradient of the SUM of all R rank losses, R "
                f"times the global (mean) loss; DDP divides by R."
            )
        if ranks != 4 and _close(got, want * ranks / 4):
            raise WrongAnswer(
                f"{what} is {ranks}/4 of the single-process gradient: "
                f"the function divides by the setup's R = 4, not by the "
                f"number of ranks it was given; take it from len(xs)."
            )
        if _close(got, want / ranks):
            raise WrongAnswer(
                f"{what} is R={ranks} times too small: the factor 1/R was "
                f"applied twice (DDP's average already divides once; each "
                f"rank's loss must stay a mean over its own B queries)."
            )
        if _close(got, _without_grad_average(W, xs, ys)):
            raise WrongAnswer(
                f"{what} is what a gather WITHOUT gradients gives: the "
                f"other ranks' embeddings were detached, so a replica "
                f"never learns how its rows change the other ranks' "
                f"losses.  Concatenate the embeddings themselves "
                f"(torch.cat keeps the graph)."
            )
        hint = (
            "give each rank a replica W.detach().clone()"
            ".requires_grad_(), concatenate all ranks' embeddings, "
            "backpropagate the sum of rank_loss(r, ...) over r, and "
            "average the replicas' .grad"
        )
        if ranks != 4:
            hint += "; take the number of ranks from len(xs)"
        expect_close(got, want, what, rtol=1e-6, atol=1e-9, hint=hint)
    return (
        "Each replica receives the gradient of the sum of the R rank "
        "losses (R times the global mean loss); DDP's average divides "
        "by R, so the result is the single-process gradient exactly: "
        "no learning-rate correction for the world size is needed."
    )


# --- 4.3 ---------------------------------------------------------------


def _recording_embed(p: float, calls: list):
    def embed(W, chunk):
        calls.append(torch.is_grad_enabled())
        return F.normalize(F.dropout(chunk @ W, p=p, training=p > 0), dim=-1)

    return embed


def _one_pass_gradient(W, chunks, embed, seed: int) -> torch.Tensor:
    """The full-batch gradient with one graph for all chunks, the dropout
    masks drawn chunk by chunk from ``seed``."""
    W = W.clone().requires_grad_()
    torch.manual_seed(seed)
    embs = [embed(W, c) for c in chunks]  # K × (2m, D)
    half = [len(c) // 2 for c in chunks]
    x = torch.cat([e[:m] for e, m in zip(embs, half)])  # (N, D)
    y = torch.cat([e[m:] for e, m in zip(embs, half)])  # (N, D)
    loss = additive_margin_softmax_loss(x, y)
    return torch.autograd.grad(loss, W)[0]


def _student_gradient(fn, W, chunks, embed, seed: int):
    torch.manual_seed(seed)
    return fn(
        W.clone().requires_grad_(),
        [c.clone() for c in chunks],
        embed,
        additive_margin_softmax_loss,
    )


@register("4.3")
def cached_gradient(fn) -> str:
    """``fn(W, chunks, embed, loss_fn)`` computes the full-batch gradient
    in two passes: pass 1 without a graph, pass 2 chunk by chunk with the
    random state of pass 1 replayed."""
    expect(callable(fn), "the answer should be the function cached_gradient")
    with torch.random.fork_rng(devices=[]):  # leave the reader's RNG be
        for seed, (chunk_count, m) in enumerate([(3, 2), (2, 3)]):
            g = torch.Generator().manual_seed(seed)
            W = torch.randn(6, 8, generator=g, dtype=_F64)
            chunks = [
                torch.randn(2 * m, 6, generator=g, dtype=_F64)
                for _ in range(chunk_count)
            ]
            what = f"cached_gradient with {chunk_count} chunks of {m} pairs"
            # Without dropout: are the two passes right?
            calls: list = []
            want = _one_pass_gradient(
                W, chunks, _recording_embed(0.0, []), seed
            )
            got = _student_gradient(
                fn, W, chunks, _recording_embed(0.0, calls), seed
            )
            expect_close(
                got,
                want,
                f"{what}, without dropout",
                rtol=1e-6,
                atol=1e-9,
                hint="pass 1 gives the cache g = dL/de for the "
                "concatenated x rows (first half of every chunk) and "
                "y rows (second half); pass 2 re-embeds each chunk "
                "and back-propagates (e * g).sum() with g fixed, "
                "accumulating into W.grad over the chunks",
            )
            k = chunk_count
            expect(
                len(calls) == 2 * k and not any(calls[:k]) and all(calls[k:]),
                f"{what}: the gradient is right, but embed was called "
                f"{len(calls)} times, with a graph at calls "
                f"{[i for i, c in enumerate(calls) if c]}; the "
                f"two-pass method calls it {k} times under "
                f"torch.no_grad() (pass 1), then {k} times with a graph "
                f"(pass 2, one chunk at a time).  A graph for every "
                f"chunk at once is the memory that cached gradients "
                f"save.",
            )
            # With dropout: is the random state replayed?
            dropout = _recording_embed(0.1, [])
            want = _one_pass_gradient(W, chunks, dropout, seed)
            got = _student_gradient(fn, W, chunks, dropout, seed)
            expect_close(
                got,
                want,
                f"{what}, with dropout",
                rtol=1e-6,
                atol=1e-9,
                hint="without dropout your gradient is right, so pass 2 "
                "draws different dropout masks than pass 1: save "
                "torch.get_rng_state() before embedding each chunk "
                "in pass 1 and torch.set_rng_state(...) it before "
                "re-embedding that chunk in pass 2",
            )
    return (
        "Two passes and a (2N, D) cache give the one-graph gradient "
        "exactly, with one chunk's activations in memory at a time, "
        "provided pass 2 replays pass 1's random masks."
    )
