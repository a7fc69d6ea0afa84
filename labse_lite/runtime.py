"""What every training entry point shares: threads and device, the start of
a run, the optimiser and its schedule, files and caches.

:func:`labse_lite.train.train` and :func:`labse_lite.pretrain.pretrain`
both begin with :func:`start_run` and optimise with :func:`make_optimizer`
(AdamW over :func:`parameter_groups`) under :func:`make_scheduler` (linear
warm-up, then linear decay).  This module sits below both of them, so that
neither reaches into the other, nor up into process launching or the
book's caches.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
from pathlib import Path

import torch

__all__ = [
    "cpu_threads",
    "pick_device",
    "start_run",
    "lr_lambda",
    "parameter_groups",
    "adamw",
    "make_optimizer",
    "make_scheduler",
    "file_sha256",
    "cache_root",
    "machine_fingerprint",
    "provenance",
    "quiet_truncation",
    "quiet_hub_progress",
    "ProcessCache",
    "reuse_freed_memory",
]


def cpu_threads(requested: int | None) -> int | None:
    """The CPU threads a process should use: ``requested`` (None: torch's
    default), capped by ``$LABSE_LITE_MAX_THREADS`` when that is set.

    On a shared machine -- a course server, or ``make test``'s two workers
    on 2 cores -- the cap keeps every process that sets its threads (a
    training run, a chapter) on its share of the cores instead of several
    processes each spinning all of them, which measured 3x slower than
    running them one after the other."""
    cap = os.environ.get("LABSE_LITE_MAX_THREADS")
    if not cap:
        return requested
    if not cap.isdigit() or int(cap) < 1:
        raise ValueError(
            f"LABSE_LITE_MAX_THREADS must be a positive integer, got {cap!r}"
        )
    return min(requested, int(cap)) if requested else int(cap)


def pick_device(name: str) -> torch.device:
    """``"auto"``: CUDA when available, else the CPU; anything else as
    given (``"cpu"``, ``"cuda:1"``)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def start_run(config):
    """What every training entry point (``train``, ``pretrain``) does first:
    validate the config, set CPU threads, join the process group when
    launched by ``torchrun``, pick the device, create ``output_dir``.
    Returns ``(DistContext, device, output_dir)``."""
    from . import distributed as dist_utils

    config.validate()
    threads = cpu_threads(config.threads)
    if threads:
        torch.set_num_threads(threads)
    ctx = dist_utils.setup(
        config.device,
        config.dist_timeout_seconds,
        config.dist_wait_timeout_seconds,
    )
    device = ctx.device if ctx.world_size > 1 else pick_device(config.device)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    return ctx, device, out


# glibc's mallopt parameters (malloc.h) and their defaults
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_DEFAULT_TRIM_THRESHOLD, _DEFAULT_MMAP_MAX = 128 * 1024, 65536


def _glibc():
    """glibc as a ctypes library, or None (another C library, another
    system, or ``$LABSE_LITE_KEEP_MALLOC`` set to ask for none of this)."""
    import ctypes
    import platform

    if os.environ.get("LABSE_LITE_KEEP_MALLOC"):
        return None
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


@contextlib.contextmanager
def reuse_freed_memory(device: torch.device | str = "cpu"):
    """Within the block, glibc's allocator keeps the memory a CPU training
    step frees for the next step instead of handing it back to the system.

    Every step allocates a dense gradient for each embedding table and
    frees it again in ``zero_grad``.  glibc serves a block above its mmap
    threshold with ``mmap`` and returns it with ``munmap``; the threshold
    adapts upwards to blocks freed before, but never past 32 MiB.  The
    word table of the default vocabulary (66,273 rows of 128 floats,
    33.9 MB) is just over it, so each step paid to unmap the old block
    and page-fault the new one in while zero-filling it: 9 of the 45 ms
    of a 1-layer laptop step on 2 cores (``aten::fill_`` and
    ``zero_grad`` in ``torch.profiler``).  Serving every block from the
    heap (no ``mmap``) and never trimming it removes that cost; the
    weights are bit-identical (``tests/test_determinism.py`` trains with
    and without it), only the process keeps its peak memory while the
    block runs.  On leaving, glibc's default limits are set
    again (its adaptive mmap threshold stays off for the process) and the
    heap is trimmed.  A no-op off glibc, on a GPU, or with
    ``$LABSE_LITE_KEEP_MALLOC`` set."""
    libc = _glibc() if torch.device(device).type == "cpu" else None
    if libc is None:
        yield
        return
    libc.mallopt(_M_MMAP_MAX, 0)
    libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    try:
        yield
    finally:
        libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
        libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
        libc.malloc_trim(0)


def lr_lambda(step: int, warmup_steps: int, max_steps: int) -> float:
    """Linear warm-up to 1 over ``warmup_steps``, then linear decay to 0."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return max(0.0, (max_steps - step) / max(1, max_steps - warmup_steps))


def parameter_groups(named_parameters) -> tuple[list, list]:
    """``(decay, no_decay)``: the trainable weight matrices, and the biases,
    LayerNorm parameters and embedding tables that weight decay leaves
    alone (BERT's convention)."""
    decay, no_decay = [], []
    for name, param in named_parameters:
        if not param.requires_grad:
            continue
        (
            no_decay
            if param.dim() < 2 or "LayerNorm" in name or "embeddings" in name
            else decay
        ).append(param)
    return decay, no_decay


def adamw(
    decay: list, no_decay: list, lr: float, weight_decay: float
) -> torch.optim.AdamW:
    """AdamW over two groups (decayed weights; biases, LayerNorms and
    embeddings undecayed) with PyTorch's fused kernel where the parameters
    allow it (CPU or CUDA floating-point tensors), else the multi-tensor
    one.  PyTorch's default on CPU updates one tensor at a time: 40.7 ms
    per step for the laptop model's 4.8M parameters against 6.0 ms fused,
    beside 476 ms of forward and backward for 128 pairs on one thread
    (``benchmarks/optimizer_step.py``).  Fused updates agree with the
    per-tensor ones to float rounding (~1e-6), not bit for bit."""
    params = decay + no_decay
    fused = bool(params) and all(
        p.device.type in ("cpu", "cuda") and p.is_floating_point()
        for p in params
    )
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=lr,
        fused=True if fused else None,
        foreach=None if fused else True,
    )


def make_optimizer(modules, config) -> torch.optim.AdamW:
    """AdamW (``config.lr``, ``config.weight_decay``) over the trainable
    parameters of ``modules`` (one module or several, e.g. a model and the
    loss terms that own parameters)."""
    if isinstance(modules, torch.nn.Module):
        modules = [modules]
    named = [item for m in modules for item in m.named_parameters()]
    decay, no_decay = parameter_groups(named)
    return adamw(decay, no_decay, config.lr, config.weight_decay)


def make_scheduler(optimizer, warmup_steps: int, max_steps: int):
    """:func:`lr_lambda` as a ``LambdaLR`` schedule."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_lambda(s, warmup_steps, max_steps)
    )


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_root() -> Path:
    """Where built models and embeddings are cached: ``$LABSE_LITE_CACHE``,
    else ``labse-lite`` under the user's cache directory
    (``$XDG_CACHE_HOME``, default ``~/.cache``) -- never inside the
    installed package."""
    env = os.environ.get("LABSE_LITE_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "labse-lite"


def machine_fingerprint() -> dict:
    """What a float result can depend on besides the seed: torch's thread
    count and version, and the CPU's vector instruction sets (the kernels
    a reduction uses, so its rounding, follow them)."""
    import platform

    flags = set()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    wanted = ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16")
    return {
        "threads": torch.get_num_threads(),
        "torch": torch.__version__.split("+")[0],
        "machine": platform.machine(),
        "cpu_flags": [f for f in wanted if f in flags],
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def _git_commit(cwd: Path, written: Path | None = None) -> str | None:
    """The checkout's commit (short), ``-dirty`` when tracked files other
    than ``written`` (the result file being stored, which a resumable
    script rewrites after every run) have uncommitted changes; None outside
    a git checkout."""
    import subprocess

    def git(*args):
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True
        )

    head = git("rev-parse", "--short", "HEAD")
    if head.returncode:
        return None
    exclude = []
    if written is not None:
        exclude = ["--", ".", f":(exclude){Path(written).resolve()}"]
    dirty = git("status", "--porcelain", "--untracked-files=no", *exclude)
    dirty = dirty.stdout
    return head.stdout.strip() + ("-dirty" if dirty.strip() else "")


def provenance(
    script: str | os.PathLike,
    argv: list[str],
    written: str | os.PathLike | None = None,
) -> dict:
    """Where a result file comes from, for its caption: the command that
    wrote it, the commit (``-dirty`` when tracked files other than the
    result file ``written`` have changes), the date and the machine
    (:func:`machine_fingerprint`, the core count and CPU model)."""
    import datetime
    import shlex
    import sys

    script = Path(script).resolve()
    root = script.parent.parent
    try:
        shown = script.relative_to(root)
    except ValueError:
        shown = script
    return {
        "command": shlex.join(["python", str(shown), *argv]),
        "commit": _git_commit(root, written),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"
        ),
        "machine": {
            **machine_fingerprint(),
            "cpus": os.cpu_count(),
            "cpu_model": _cpu_model(),
            "python": sys.version.split()[0],
        },
    }


@contextlib.contextmanager
def quiet_truncation():
    """Silence :meth:`~labse_lite.model.DualEncoder.tokenize`'s warning
    that sentences were truncated, where truncating is intended (embedding
    at the training length)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*were truncated")
        yield


@contextlib.contextmanager
def quiet_hub_progress():
    """No Hugging Face progress bars inside (saving or loading one small
    file), restored afterwards."""
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    if shown:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            hf_logging.enable_progress_bar()


class ProcessCache:
    """The last ``entries`` values computed in this process, by key; the
    oldest is dropped first.  For work that a sweep of runs repeats on the
    same input (tokenising the same corpus or benchmark with the same
    vocabulary): ``cache.get(key, compute)``."""

    def __init__(self, entries: int):
        if entries < 1:
            raise ValueError(f"entries must be >= 1, got {entries}")
        self.entries = entries
        self._items: dict = {}

    def get(self, key, compute):
        if key not in self._items:
            while len(self._items) >= self.entries:
                self._items.pop(next(iter(self._items)))
            self._items[key] = compute()
        return self._items[key]

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
