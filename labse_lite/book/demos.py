"""Book demonstrations of cross-device negatives (chapter 04).

:func:`simulate_global_batch` runs the all-gather loss of
:mod:`labse_lite.distributed` on W gloo processes (a small float64 MLP as
the "encoder") and compares it with one process on the concatenated global
batch -- the numerical check behind chapter 04's derivation.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from ..distributed import (
    DistContext,
    all_gather_with_grad,
    all_gather_without_grad,
    global_batch_loss,
)
from ..losses import additive_margin_softmax_loss

__all__ = ["simulate_global_batch"]


def _demo_model(d_in: int, d_out: int, seed: int):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(d_in, 16), torch.nn.Tanh(), torch.nn.Linear(16, d_out)
    ).double()


def _demo_inputs(n: int, d_in: int, seed: int):
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(n, d_in, generator=g, dtype=torch.float64)
    y = x + 0.3 * torch.randn(n, d_in, generator=g, dtype=torch.float64)
    return x, y


def _demo_worker(
    rank: int,
    world: int,
    local_batch: int,
    margin: float,
    store: str,
    out: str,
    seed: int,
) -> None:
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group(
        "gloo", init_method=f"file://{store}", rank=rank, world_size=world
    )
    ctx = DistContext(rank=rank, world_size=world)
    x_all, y_all = _demo_inputs(world * local_batch, 8, seed)
    rows = slice(rank * local_batch, (rank + 1) * local_batch)
    result = {}
    for name, gather in (
        ("with_grad", all_gather_with_grad),
        ("without_grad", all_gather_without_grad),
    ):
        model = DistributedDataParallel(_demo_model(8, 6, seed))
        x = F.normalize(model(x_all[rows]), dim=-1)
        y = F.normalize(model(y_all[rows]), dim=-1)
        loss = global_batch_loss(x, y, ctx, gather=gather, margin=margin)
        loss.backward()
        result[name] = (
            loss.item(),
            [p.grad.clone() for p in model.parameters()],
        )
    torch.save(result, os.path.join(out, f"rank{rank}.pt"))
    dist.destroy_process_group()


def simulate_global_batch(
    world_size: int = 2,
    local_batch: int = 4,
    margin: float = 0.3,
    seed: int = 0,
) -> dict:
    """Run the all-gather loss on ``world_size`` gloo processes (float64, a
    small MLP as the "encoder") and compare with one process on the
    concatenated global batch.

    Returns per-rank losses, the single-process loss and its per-row
    terms (row i: its x→y plus its y→x cross-entropy, so a rank's loss is
    the mean of its rows'), and the largest absolute gradient difference
    of DDP's averaged gradient from the single-process gradient, for
    gathering with and without gradient.
    """
    import tempfile

    import torch.multiprocessing as mp
    import torch.nn.functional as F

    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(
            _demo_worker,
            nprocs=world_size,
            join=True,
            args=(
                world_size,
                local_batch,
                margin,
                os.path.join(tmp, "store"),
                tmp,
                seed,
            ),
        )
        ranks = [
            torch.load(os.path.join(tmp, f"rank{r}.pt"), weights_only=False)
            for r in range(world_size)
        ]
    x_all, y_all = _demo_inputs(world_size * local_batch, 8, seed)
    model = _demo_model(8, 6, seed)
    x = F.normalize(model(x_all), dim=-1)
    y = F.normalize(model(y_all), dim=-1)
    loss = additive_margin_softmax_loss(x, y, margin=margin)
    loss.backward()
    ref = [p.grad for p in model.parameters()]
    with torch.no_grad():
        eye = torch.eye(len(x), dtype=x.dtype)
        target = torch.arange(len(x))
        rows = F.cross_entropy(
            10.0 * (x @ y.T - margin * eye), target, reduction="none"
        ) + F.cross_entropy(
            10.0 * (y @ x.T - margin * eye), target, reduction="none"
        )

    def max_diff(grads):
        return max((g - r).abs().max().item() for g, r in zip(grads, ref))

    return {
        "single_process_loss": loss.item(),
        "single_process_row_losses": rows.tolist(),
        "rank_losses": [r["with_grad"][0] for r in ranks],
        "rank_losses_without_grad": [r["without_grad"][0] for r in ranks],
        "max_grad_diff_with_grad": max(
            max_diff(r["with_grad"][1]) for r in ranks
        ),
        "max_grad_diff_without_grad": max(
            max_diff(r["without_grad"][1]) for r in ranks
        ),
    }
