"""Data parallelism with cross-device negatives (Feng et al., 2022, §3.3).

Each worker (rank) encodes its own B pairs; the embeddings of all ranks are
all-gathered, and every rank scores its B queries against the *global*
batch of ``world × B`` candidates, positives at ``rank × B + i``.  The
gather must carry gradients back to the rank that produced each row
(:func:`all_gather_with_grad`); gathering without gradient gives the same
loss and a wrong gradient (:func:`all_gather_without_grad`, kept for the
book and the tests).

Gradient bookkeeping: rank r's loss is the mean over its own queries, so
the global loss is the mean over ranks.  The backward of the gather sums,
over all ranks, the gradients with respect to rank r's rows; DDP then
*averages* parameter gradients over ranks, which gives exactly the gradient
of the global-batch loss -- no extra factor of the world size.

World size 1 is the degenerate case of every function here, so the trainer
has a single code path.

Two timeouts.  The collectives of a training step (gathers, DDP's
all-reduce) wait at most ``timeout_seconds`` for a peer, so a dead or hung
rank ends the job quickly.  Work that rank 0 does alone -- evaluation,
saving, training the vocabulary -- can take many minutes for a large model,
so the other ranks wait for it in :func:`barrier`, on a second (gloo)
process group whose timeout is ``wait_timeout_seconds`` (default 1 hour).
Every collective's tensors live on the process group's device
(``DistContext.device``: the rank's GPU under NCCL, the CPU under gloo).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .losses import additive_margin_softmax_loss

__all__ = [
    "DistContext",
    "setup",
    "cleanup",
    "barrier",
    "any_rank",
    "average_gradients",
    "mean_over_ranks",
    "wrap_model",
    "global_batch_loss",
    "all_gather_with_grad",
    "all_gather_without_grad",
    "check_equal_batch_sizes",
]


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    initialized_here: bool = False
    wait_group: object = None  # long-timeout group for rank-0 work


def setup(
    device: str = "auto",
    timeout_seconds: float = 60.0,
    wait_timeout_seconds: float = 3600.0,
) -> DistContext:
    """Join the process group if launched by ``torchrun`` (``WORLD_SIZE``
    > 1): ``nccl`` on GPUs, ``gloo`` on CPU.

    ``timeout_seconds`` bounds how long a collective waits for a peer, so a
    dead rank ends the job with an error instead of a silent hang;
    ``wait_timeout_seconds`` bounds how long :func:`barrier` waits for
    rank 0's evaluation or saving (module docstring).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return DistContext()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device != "cpu"
    if use_cuda:
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    initialized_here = False
    if not dist.is_initialized():
        try:
            dist.init_process_group(
                "nccl" if use_cuda else "gloo",
                timeout=datetime.timedelta(seconds=timeout_seconds),
            )
        except Exception as err:  # the store is unreachable, etc.
            raise RuntimeError(
                f"rank {rank}: could not join the process group at "
                f"{os.environ.get('MASTER_ADDR')}:"
                f"{os.environ.get('MASTER_PORT')} within "
                f"{timeout_seconds:.0f}s: {err}"
            ) from err
        initialized_here = True
    # A CPU (gloo) group with its own, longer timeout for waiting on rank 0.
    wait_group = dist.new_group(
        backend="gloo",
        timeout=datetime.timedelta(
            seconds=max(wait_timeout_seconds, timeout_seconds)
        ),
    )
    return DistContext(
        rank, world, local_rank, dev, initialized_here, wait_group
    )


def cleanup(ctx: DistContext) -> None:
    if ctx.initialized_here and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    """Wait until every rank gets here -- typically while rank 0 evaluates
    or saves -- under the long ``wait_timeout_seconds`` of :func:`setup`."""
    if ctx.world_size > 1:
        dist.barrier(group=ctx.wait_group)


def any_rank(flag: bool, ctx: DistContext) -> bool:
    """True on every rank if ``flag`` is true on any rank (a decision such
    as "stop now" that all ranks must take together)."""
    if ctx.world_size == 1:
        return flag
    value = torch.tensor([int(flag)], device=ctx.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def average_gradients(params, ctx: DistContext) -> None:
    """Average the gradients of ``params`` over the ranks, as DDP does for
    the model's: for parameters that live outside the wrapped model (a
    loss term's own, such as LEALLA's feature map W)."""
    if ctx.world_size == 1:
        return
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad.div_(ctx.world_size)


def wrap_model(model, ctx: DistContext):
    """DistributedDataParallel at world size > 1, the model itself at 1."""
    if ctx.world_size == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [ctx.local_rank] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def _world() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


class _AllGatherWithGrad(torch.autograd.Function):
    """All-gather whose backward returns to each rank the summed gradient
    (over all ranks' losses) of the rows it contributed."""

    @staticmethod
    def forward(ctx, tensor):
        tensor = tensor.contiguous()  # gloo/nccl need contiguous buffers
        parts = [torch.empty_like(tensor) for _ in range(_world())]
        dist.all_gather(parts, tensor)
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        rows = grad.shape[0] // _world()
        start = dist.get_rank() * rows
        return grad[start : start + rows]


def all_gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """(B, D) on each rank → (world × B, D), differentiable; no-op at world
    size 1.  All ranks must pass the same shape."""
    if _world() == 1:
        return tensor
    return _AllGatherWithGrad.apply(tensor)


def all_gather_without_grad(tensor: torch.Tensor) -> torch.Tensor:
    """The common mistake, for comparison: gather detached copies and put
    the local (differentiable) rows back in place.  The loss is identical;
    the gradient misses every other rank's loss terms."""
    if _world() == 1:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(_world())]
    dist.all_gather(parts, tensor.detach().contiguous())
    parts[dist.get_rank()] = tensor
    return torch.cat(parts, dim=0)


def mean_over_ranks(value: torch.Tensor, ctx: DistContext) -> float:
    """The mean over ranks of a scalar (e.g. each rank's loss: their mean
    is the loss of the global batch)."""
    if ctx.world_size == 1:
        return value.item()
    value = value.detach().reshape(1).to(ctx.device, torch.float64)
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value.item() / ctx.world_size


def check_equal_batch_sizes(batch: int, ctx: DistContext) -> None:
    """Raise if ranks disagree on the local batch size (the gather and the
    label offsets ``rank × B`` assume one B)."""
    if ctx.world_size == 1:
        return
    # On the group's device: NCCL only moves CUDA tensors.
    mine = torch.tensor([batch], dtype=torch.long, device=ctx.device)
    sizes = [torch.zeros_like(mine) for _ in range(ctx.world_size)]
    dist.all_gather(sizes, mine)
    sizes = [int(s.item()) for s in sizes]
    if len(set(sizes)) != 1:
        raise RuntimeError(
            f"local batch sizes differ across ranks: {sizes} "
            f"(rank {ctx.rank} has {batch}); cross-device "
            f"negatives need the same batch on every rank"
        )


def global_batch_loss(
    x: torch.Tensor,
    y: torch.Tensor,
    ctx: DistContext,
    gather=all_gather_with_grad,
    check_sizes: bool = True,
    extra_candidates: torch.Tensor | None = None,
    **loss_kwargs,
) -> torch.Tensor:
    """AMS loss of this rank's (B, D) queries against the global batch,
    positives at ``rank × B + i``, both directions (eqs. 2–4, §3.3).

    ``extra_candidates`` (E, D), e.g. this rank's mined hard negatives
    (LaBSE App. B), are gathered like the batch and appended after the
    global batch's targets: they are candidates of the x→y direction only
    (they are targets, not queries), so every positive keeps its row.
    """
    if check_sizes and ctx.world_size > 1:
        check_equal_batch_sizes(x.shape[0], ctx)
    if ctx.world_size == 1:
        x_all, y_all, offset = x, y, 0
    else:
        x_all = gather(x)  # (W·B, D)
        y_all = gather(y)  # (W·B, D)
        offset = ctx.rank * x.shape[0]
    if extra_candidates is not None:
        if ctx.world_size > 1:
            if check_sizes:
                check_equal_batch_sizes(extra_candidates.shape[0], ctx)
            extra_candidates = gather(extra_candidates)  # (W·E, D)
        y_all = torch.cat([y_all, extra_candidates])  # (W·B + W·E, D)
    return additive_margin_softmax_loss(
        x,
        y,
        x_candidates=x_all,
        y_candidates=y_all,
        offset=offset,
        **loss_kwargs,
    )
