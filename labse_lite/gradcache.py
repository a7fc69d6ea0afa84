"""Big contrastive batches in small memory: cached embedding gradients.

A batch of N pairs needs activations for all 2N sentences at once if it is
back-propagated in one pass.  The loss, though, only touches the N×N score
matrix of the *embeddings*.  Gao et al. (2021, "Scaling Deep Contrastive
Learning Batch Size under Memory Limited Setup") split the step in two:

1. embed the batch in mini-batches **without** a graph, compute the loss on
   the full (N, D) embeddings, and back-propagate it only as far as the
   embeddings: this gives ∂L/∂e for every sentence, a small (2N, D) cache;
2. re-run each mini-batch **with** a graph and back-propagate the cached
   gradient through it (``(e · ∂L/∂e).sum().backward()``), accumulating
   parameter gradients.

The parameter gradient equals the one-pass gradient exactly (up to float
rounding): memory is that of one mini-batch plus the (2N, D) cache, compute
is one extra forward pass.  Random state (dropout) is replayed so that the
two forward passes of a mini-batch see the same masks.  Works with the
all-gather loss too: the loss in step 1 is just the global-batch loss.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Sequence

import torch

__all__ = ["cached_gradient_step"]


class _RandomState:
    """Capture the CPU (and current CUDA device's) RNG state; replay it."""

    def __init__(self, device: torch.device):
        self.cpu = torch.get_rng_state()
        self.cuda = (
            torch.cuda.get_rng_state(device) if device.type == "cuda" else None
        )
        self.device = device

    @contextlib.contextmanager
    def replay(self):
        cpu_now = torch.get_rng_state()
        cuda_now = (
            torch.cuda.get_rng_state(self.device)
            if self.cuda is not None
            else None
        )
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state(self.cuda, self.device)
        try:
            yield
        finally:
            torch.set_rng_state(cpu_now)
            if cuda_now is not None:
                torch.cuda.set_rng_state(cuda_now, self.device)


def cached_gradient_step(
    encode: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    chunks: Sequence[tuple[torch.Tensor, torch.Tensor]],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    no_sync: Callable[[], contextlib.AbstractContextManager] | None = None,
    check_loss: Callable[[torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """Accumulate the full-batch gradient of ``loss_fn`` chunk by chunk.

    Args:
        encode: ``(input_ids, mask) -> (2m, D)`` embeddings; a chunk holds
            the m non-English sentences first, then their m translations.
        chunks: ``(input_ids, attention_mask)`` per mini-batch, in order.
        loss_fn: ``(x, y) -> scalar`` on the full (N, D) embeddings.
        no_sync: DDP's ``model.no_sync``; gradients are then all-reduced
            only in the last chunk's backward.
        check_loss: called on the loss before any backward (e.g. to raise
            on NaN).

    Returns the (detached) loss; parameter ``.grad`` hold its gradient.
    """
    if not chunks:
        raise ValueError("cached_gradient_step needs at least one chunk")
    device = chunks[0][0].device
    states, xs, ys = [], [], []
    with torch.no_grad():  # pass 1: no graph
        for input_ids, mask in chunks:
            states.append(_RandomState(device))
            emb = encode(input_ids, mask)  # (2m, D)
            m = emb.shape[0] // 2
            xs.append(emb[:m])
            ys.append(emb[m:])
    x = torch.cat(xs).requires_grad_()  # (N, D)
    y = torch.cat(ys).requires_grad_()  # (N, D)
    loss = loss_fn(x, y)
    if check_loss is not None:
        check_loss(loss)
    loss.backward()  # only down to x and y
    grad_x, grad_y = x.grad, y.grad  # the cache, (N, D) each
    start = 0
    for k, ((input_ids, mask), state) in enumerate(zip(chunks, states)):
        m = input_ids.shape[0] // 2
        cached = torch.cat(
            [grad_x[start : start + m], grad_y[start : start + m]]
        )  # (2m, D)
        start += m
        last = k == len(chunks) - 1
        sync = (
            contextlib.nullcontext()
            if (no_sync is None or last)
            else no_sync()
        )
        with sync, state.replay():  # pass 2: with graph
            emb = encode(input_ids, mask)
            torch.sum(emb * cached).backward()
    return loss.detach()
