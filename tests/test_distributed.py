"""Cross-device negatives on 2 gloo processes, GradCache, torchrun, failure.

The equivalence test runs in float64: each of 2 ranks embeds its half of a
global batch with a shared DDP-wrapped model, all-gathers, and computes the
AMS loss of its queries against the global batch.  Per-rank losses and
DDP-averaged gradients must equal a single process's loss and gradient on
the concatenated batch to 1e-10 -- and gathering *without* gradient must
not, or the test could not fail.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from labse_lite.distributed import (
    DistContext,
    all_gather_with_grad,
    check_equal_batch_sizes,
    global_batch_loss,
)
from labse_lite.gradcache import cached_gradient_step
from labse_lite.losses import additive_margin_softmax_loss

WORLD, LOCAL_B, D_IN, D = 2, 4, 6, 5


def make_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(D_IN, 8), torch.nn.Tanh(), torch.nn.Linear(8, D)
    ).double()


def make_inputs():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(WORLD * LOCAL_B, D_IN, generator=g, dtype=torch.float64)
    y = x + 0.3 * torch.randn(
        WORLD * LOCAL_B, D_IN, generator=g, dtype=torch.float64
    )
    return x, y


def _mismatch_worker(rank, store_path, out_dir):
    dist.init_process_group(
        "gloo", init_method=f"file://{store_path}", rank=rank, world_size=WORLD
    )
    ctx = DistContext(rank=rank, world_size=WORLD)
    try:
        check_equal_batch_sizes(LOCAL_B + rank, ctx)
        message = None
    except RuntimeError as err:
        message = str(err)
    (Path(out_dir) / f"rank{rank}.txt").write_text(message or "")
    dist.destroy_process_group()


@pytest.mark.distributed
def test_all_gather_matches_single_process_in_float64():
    """The book's demonstration (labse_lite.book.demos) on 2 gloo
    processes: per-rank losses are the single process's per-row losses of
    the rank's rows, DDP-averaged gradients equal the single-process
    gradient to 1e-10, and gathering without gradient gives the same loss
    but wrong gradients (so the test can fail)."""
    from labse_lite.book.demos import simulate_global_batch

    for margin in (0.0, 0.3):
        r = simulate_global_batch(
            world_size=WORLD, local_batch=LOCAL_B, margin=margin, seed=0
        )
        per_row = r["single_process_row_losses"]
        for rank, rank_loss in enumerate(r["rank_losses"]):
            mine = per_row[rank * LOCAL_B : (rank + 1) * LOCAL_B]
            assert abs(rank_loss - sum(mine) / LOCAL_B) <= 1e-10
        assert r["max_grad_diff_with_grad"] <= 1e-10
        for wrong, right in zip(
            r["rank_losses_without_grad"], r["rank_losses"]
        ):
            assert abs(wrong - right) <= 1e-10
        assert r["max_grad_diff_without_grad"] > 1e-4
        assert (
            abs(sum(r["rank_losses"]) / WORLD - r["single_process_loss"])
            <= 1e-10
        )


@pytest.mark.distributed
def test_unequal_local_batches_are_refused(tmp_path):
    mp.spawn(
        _mismatch_worker,
        args=(str(tmp_path / "store"), str(tmp_path)),
        nprocs=WORLD,
        join=True,
    )
    for rank in range(WORLD):
        assert (
            "local batch sizes differ across ranks: [4, 5]"
            in (tmp_path / f"rank{rank}.txt").read_text()
        )


HARD = 2  # hard negatives per pair in the test below


def _hard_negative_worker(rank, store_path, out_dir):
    dist.init_process_group(
        "gloo", init_method=f"file://{store_path}", rank=rank, world_size=WORLD
    )
    from torch.nn.parallel import DistributedDataParallel

    ctx = DistContext(rank=rank, world_size=WORLD)
    x_all, y_all = make_inputs()
    negs_all = hard_negative_inputs()
    rows = slice(rank * LOCAL_B, (rank + 1) * LOCAL_B)
    neg_rows = slice(rank * LOCAL_B * HARD, (rank + 1) * LOCAL_B * HARD)
    model = DistributedDataParallel(make_model())
    x = F.normalize(model(x_all[rows]), dim=-1)
    y = F.normalize(model(y_all[rows]), dim=-1)
    n = F.normalize(model(negs_all[neg_rows]), dim=-1)
    loss = global_batch_loss(
        x, y, ctx, extra_candidates=n, margin=0.3, scale=10.0
    )
    loss.backward()
    torch.save(
        (loss.item(), [p.grad.clone() for p in model.parameters()]),
        Path(out_dir) / f"hard{rank}.pt",
    )
    dist.destroy_process_group()


def hard_negative_inputs():
    g = torch.Generator().manual_seed(2)
    return torch.randn(
        WORLD * LOCAL_B * HARD, D_IN, generator=g, dtype=torch.float64
    )


@pytest.mark.distributed
def test_hard_negatives_keep_labels_and_offsets_across_ranks(tmp_path):
    """Each rank's mined negatives are gathered and appended after the
    global batch's targets: the positives keep their rows rank × B + i,
    and the per-rank losses and DDP gradients equal one process's on the
    whole batch with every rank's negatives, to 1e-10."""
    mp.spawn(
        _hard_negative_worker,
        args=(str(tmp_path / "store"), str(tmp_path)),
        nprocs=WORLD,
        join=True,
    )
    x_all, y_all = make_inputs()
    model = make_model()
    x = F.normalize(model(x_all), dim=-1)
    y = F.normalize(model(y_all), dim=-1)
    n = F.normalize(model(hard_negative_inputs()), dim=-1)
    total = len(x)
    eye = torch.eye(total, dtype=torch.float64)
    fwd = F.cross_entropy(
        10 * (x @ torch.cat([y, n]).T - 0.3 * F.pad(eye, (0, len(n)))),
        torch.arange(total),
        reduction="none",
    )
    bwd = F.cross_entropy(
        10 * (y @ x.T - 0.3 * eye), torch.arange(total), reduction="none"
    )
    (fwd + bwd).mean().backward()
    grads = [p.grad for p in model.parameters()]
    per_row = (fwd + bwd).detach()
    for r in range(WORLD):
        got, got_grads = torch.load(
            tmp_path / f"hard{r}.pt", weights_only=False
        )
        want = per_row[r * LOCAL_B : (r + 1) * LOCAL_B].mean().item()
        assert abs(got - want) <= 1e-10
        for g, ref in zip(got_grads, grads):
            assert (g - ref).abs().max().item() <= 1e-10
    # The negatives matter: without them the losses differ.
    plain = additive_margin_softmax_loss(x, y, margin=0.3, scale=10.0)
    assert plain.item() < (fwd + bwd).mean().item() - 1e-3


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_cached_gradients_equal_full_batch(
    small_tokenizer, small_corpus, dropout
):
    from labse_lite.model import DualEncoder

    torch.manual_seed(0)
    model = DualEncoder.from_config(
        small_tokenizer, "tiny", pooling="mean", max_length=24, dropout=dropout
    )
    model.train()
    n, chunk = 16, 4
    xx, en = small_corpus.xx[:n], small_corpus.en[:n]
    chunks = [
        model.collate(
            model.tokenize(xx[i : i + chunk])
            + model.tokenize(en[i : i + chunk])
        )
        for i in range(0, n, chunk)
    ]
    loss_fn = lambda x, y: additive_margin_softmax_loss(  # noqa: E731
        x, y, margin=0.3, scale=10.0
    )

    # Reference: one graph over the whole batch (chunk by chunk, so that
    # with dropout the masks come from the same random stream).
    torch.manual_seed(123)
    xs, ys = [], []
    for ids, mask in chunks:
        emb = model(ids, mask)
        xs.append(emb[:chunk])
        ys.append(emb[chunk:])
    ref_loss = loss_fn(torch.cat(xs), torch.cat(ys))
    ref_loss.backward()
    ref = {k: p.grad.clone() for k, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)

    torch.manual_seed(123)
    loss = cached_gradient_step(model, chunks, loss_fn)
    assert len(chunks) >= 4
    assert abs(loss.item() - ref_loss.item()) < 1e-5
    for k, p in model.named_parameters():
        assert torch.allclose(p.grad, ref[k], atol=1e-6, rtol=1e-4), k


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


TRAIN_ARGS = [
    "--languages",
    "deu",
    "fra",
    "--model-preset",
    "tiny",
    "--vocab-size",
    "2000",
    "--batch-size",
    "8",
    "--eval-languages",
    "deu",
    "--final-eval-languages",
    "deu",
    "fra",
    "--no-progress",
    "--threads",
    "1",
]


@pytest.mark.distributed
def test_torchrun_two_processes_end_to_end(tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={_free_port()}",
        "-m",
        "labse_lite",
        "train",
        "--output-dir",
        str(out),
        "--max-steps",
        "6",
        "--checkpoint-every",
        "3",
        "--grad-cache-chunk",
        "4",
    ] + TRAIN_ARGS
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 6
    assert summary["pairs_seen"] == 6 * 2 * 8
    assert (out / "checkpoint.pt").is_file()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "labse_lite",
            "eval",
            "--model",
            str(out / "model"),
            "--languages",
            "deu",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "deu" in json.loads(run.stdout)["tatoeba"]


@pytest.mark.distributed
def test_a_killed_rank_ends_the_other_with_an_error(tmp_path):
    port = _free_port()
    procs = []
    for rank in range(2):
        env = dict(
            os.environ,
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE="2",
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
        )
        cmd = [
            sys.executable,
            "-m",
            "labse_lite",
            "train",
            "--output-dir",
            str(tmp_path / "run"),
            "--max-steps",
            "100000",
            "--checkpoint-every",
            "0",
            "--dist-timeout-seconds",
            "30",
        ] + TRAIN_ARGS
        procs.append(
            subprocess.Popen(
                cmd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    log = tmp_path / "run" / "log.jsonl"
    deadline = time.time() + 300
    while not (log.is_file() and log.stat().st_size > 0):
        assert time.time() < deadline, "training never started"
        assert procs[0].poll() is None, procs[0].communicate()[1][-3000:]
        time.sleep(0.5)
    procs[1].send_signal(signal.SIGKILL)
    killed_at = time.time()
    try:
        _, err = procs[0].communicate(timeout=60)
    except subprocess.TimeoutExpired:
        procs[0].kill()
        pytest.fail("the surviving rank hung for 60 s after its peer died")
    assert time.time() - killed_at < 60
    assert procs[0].returncode != 0
    assert "lost contact with another rank" in err, err[-3000:]


class _Recorded(Exception):
    pass


def test_collectives_use_the_process_groups_device_under_nccl(monkeypatch):
    """NCCL moves only CUDA tensors: with a CUDA context, every tensor
    handed to a collective must be on that device.  Fake CUDA tensors
    (torch's FakeTensorMode) and a recording ``dist`` make this testable
    without a GPU (issue 13: the batch-size check gathered CPU tensors)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    import labse_lite.distributed as D

    devices = []

    def record(*tensors):
        for t in tensors:
            for u in t if isinstance(t, list) else [t]:
                devices.append(u.device)
        raise _Recorded

    monkeypatch.setattr(
        D.dist, "all_gather", lambda out, t, **k: record(out, t)
    )
    monkeypatch.setattr(D.dist, "all_reduce", lambda t, **k: record(t))
    monkeypatch.setattr(D, "_world", lambda: 2)
    cuda = torch.device("cuda", 0)
    ctx = DistContext(rank=0, world_size=2, device=cuda)
    with FakeTensorMode():
        x = torch.randn(4, 8, device=cuda)
        for call in (
            lambda: check_equal_batch_sizes(4, ctx),
            lambda: D.any_rank(True, ctx),
            lambda: D.mean_over_ranks(torch.tensor(2.0), ctx),
            lambda: all_gather_with_grad(x),
            lambda: global_batch_loss(x, x, ctx),
        ):
            devices.clear()
            with pytest.raises(_Recorded):
                call()
            assert devices and all(d == cuda for d in devices), devices


def _any_rank_worker(rank, store_path, out_dir):
    from labse_lite.distributed import any_rank

    dist.init_process_group(
        "gloo", init_method=f"file://{store_path}", rank=rank, world_size=WORLD
    )
    ctx = DistContext(rank=rank, world_size=WORLD)
    result = [
        any_rank(rank == 0, ctx),
        any_rank(False, ctx),
        any_rank(rank == 1, ctx),
    ]
    torch.save(result, Path(out_dir) / f"rank{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.distributed
def test_a_stop_decision_is_taken_by_all_ranks_together(tmp_path):
    """The time limit used to be checked on each rank's own clock, so one
    rank could stop while another went on into the next collective (a
    hang).  ``any_rank`` makes it one decision."""
    mp.spawn(
        _any_rank_worker,
        nprocs=WORLD,
        join=True,
        args=(str(tmp_path / "store"), str(tmp_path)),
    )
    for rank in range(WORLD):
        assert torch.load(tmp_path / f"rank{rank}.pt") == [True, False, True]


@pytest.mark.distributed
def test_slow_rank0_evaluation_outlives_the_collective_timeout(tmp_path):
    """Rank 0's evaluations (each made 9 s slow by a test hook: one
    periodic, one final) are longer than the 5 s collective timeout; the
    other rank waits for them in the long-timeout barrier instead of
    failing (issue 13)."""
    out = tmp_path / "slow"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={_free_port()}",
        "-m",
        "labse_lite",
        "train",
        "--output-dir",
        str(out),
        "--max-steps",
        "3",
        "--eval-every",
        "2",
        "--checkpoint-every",
        "0",
        "--dist-timeout-seconds",
        "5",
    ] + TRAIN_ARGS
    env = dict(os.environ, LABSE_LITE_TEST_EVAL_DELAY="9")
    run = subprocess.run(
        cmd, capture_output=True, text=True, timeout=600, env=env
    )
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 3 and "eval" in summary
    logged = [
        json.loads(line)
        for line in (out / "log.jsonl").read_text().splitlines()
    ]
    assert any("tatoeba_xx2en" in row for row in logged)
