"""Data parallelism with cross-device negatives (Feng et al., 2022, §3.3).

World size 1 is the degenerate case of every function here, so the trainer
has a single code path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .losses import additive_margin_softmax_loss

__all__ = ["DistContext", "setup", "cleanup", "barrier", "wrap_model",
           "global_batch_loss", "all_gather_with_grad"]


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    initialized_here: bool = False


def setup(device: str = "auto") -> DistContext:
    """Initialise ``torch.distributed`` if launched by ``torchrun``."""
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
        dist.init_process_group("nccl" if use_cuda else "gloo")
        initialized_here = True
    return DistContext(rank, world, local_rank, dev, initialized_here)


def cleanup(ctx: DistContext) -> None:
    if ctx.initialized_here and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.world_size > 1:
        dist.barrier()


def wrap_model(model, ctx: DistContext):
    if ctx.world_size == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [ctx.local_rank] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


class _AllGatherWithGrad(torch.autograd.Function):
    """All-gather whose backward sends each rank the gradient of its rows."""

    @staticmethod
    def forward(ctx, tensor):
        tensor = tensor.contiguous()
        out = [torch.empty_like(tensor)
               for _ in range(dist.get_world_size())]
        dist.all_gather(out, tensor)
        return torch.cat(out, dim=0)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous()
        # Every rank computed a loss on the gathered batch: sum their
        # gradients with respect to each rank's rows, then keep our own.
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        rows = grad.shape[0] // dist.get_world_size()
        start = dist.get_rank() * rows
        return grad[start:start + rows]


def all_gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """(B, D) on each rank → (world × B, D), differentiable; no-op at world
    size 1."""
    if not (dist.is_available() and dist.is_initialized()) \
            or dist.get_world_size() == 1:
        return tensor
    return _AllGatherWithGrad.apply(tensor)


def global_batch_loss(x: torch.Tensor, y: torch.Tensor, ctx: DistContext,
                      **loss_kwargs) -> torch.Tensor:
    """AMS loss of the local queries against the global batch (labels at
    ``rank × B + i``)."""
    if ctx.world_size == 1:
        return additive_margin_softmax_loss(x, y, **loss_kwargs)
    x_all = all_gather_with_grad(x)
    y_all = all_gather_with_grad(y)
    return additive_margin_softmax_loss(
        x, y, x_candidates=x_all, y_candidates=y_all,
        offset=ctx.rank * x.shape[0], **loss_kwargs)
