"""One way to run a training, whatever the number of processes.

A chapter describes a run as if one process did it -- a
:class:`~labse_lite.train.TrainConfig` whose ``batch_size`` is the *global*
batch -- and says how many processes should share it.  With one process
:func:`run_training` simply calls :func:`labse_lite.train.train`.  With more
it launches::

    torchrun --standalone --nproc_per_node=N -m labse_lite train <flags>

(``--nnodes/--node-rank/--rdzv-endpoint`` for several machines), each rank
training on ``batch_size / N`` pairs of every global batch and scoring them
against the all-gathered global batch (cross-device negatives, §3.3), so
the run computes the same gradients as one process would.  The settings
travel as the CLI's own flags (:func:`config_to_argv`), a custom corpus or
benchmark as TSV files; the summary is read back from ``output_dir``; a
failing rank raises :class:`LaunchError` with the tail of that rank's log.
:func:`run_pretraining` does the same for ``labse-lite pretrain``.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
import shlex
import shutil
import subprocess
import sys
import typing
from pathlib import Path

from .data import ParallelCorpus

__all__ = [
    "LaunchError",
    "Launch",
    "run_training",
    "run_pretraining",
    "config_to_argv",
    "write_corpus",
    "torchrun_command",
    "per_rank_config",
]


class LaunchError(RuntimeError):
    """A multi-process job failed; the message holds each rank's log tail."""


@dataclasses.dataclass
class Launch:
    """How many processes run a job, and where (one machine by default).

    Several machines: torchrun runs on every node with the same
    ``rdzv_endpoint`` (``host:port`` of one of them), which assigns the
    ranks.  Either ``prefix`` starts it everywhere from this one process
    (under SLURM: ``"srun --nodes=4 --ntasks-per-node=1"``; ``output_dir``
    must then be on a file system all nodes share), or each node runs the
    job itself with its own ``node_rank``.
    """

    nproc_per_node: int = 1  # processes (GPUs) per machine
    nnodes: int = 1  # machines
    node_rank: int | None = None  # this machine's index; None: rendezvous
    rdzv_endpoint: str | None = None  # host:port of node 0 (nnodes > 1)
    prefix: str = ""  # e.g. "srun --nodes=4 --ntasks-per-node=1"
    log_tail_lines: int = 40  # lines of a failed rank's log shown

    @property
    def world_size(self) -> int:
        return self.nproc_per_node * self.nnodes

    def validate(self) -> None:
        if self.nproc_per_node < 1 or self.nnodes < 1:
            raise ValueError(
                f"nproc_per_node={self.nproc_per_node} and "
                f"nnodes={self.nnodes} must be >= 1"
            )
        if self.nnodes > 1 and not self.rdzv_endpoint:
            raise ValueError(
                "several nodes need rdzv_endpoint='host:port' "
                "(node 0's address)"
            )


def _as_launch(launch: Launch | int | None) -> Launch:
    if launch is None:
        return Launch()
    if isinstance(launch, int):
        return Launch(nproc_per_node=launch)
    return launch


def config_to_argv(config) -> list[str]:
    """The CLI flags that rebuild ``config`` (every field that differs from
    its default), e.g. ``["--margin", "0.1", "--languages", "deu", "fra"]``.
    ``labse-lite train|pretrain`` parses them back into an equal config."""
    hints = typing.get_type_hints(type(config))
    argv: list[str] = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        default = (
            f.default
            if f.default is not dataclasses.MISSING
            else f.default_factory()
        )
        if value == default:
            continue
        flag = "--" + f.name.replace("_", "-")
        if hints[f.name] is bool:
            argv.append(flag if value else "--no-" + f.name.replace("_", "-"))
        elif isinstance(value, (list, tuple)):
            argv += [flag] + [str(v) for v in value]
        elif value is None:
            argv += [flag, "none"]
        else:
            argv += [
                flag,
                repr(value) if isinstance(value, float) else str(value),
            ]
    return argv


def write_corpus(corpus: ParallelCorpus, path: str | Path) -> Path:
    """Write ``lang  xx  en`` rows (gzip TSV), readable by
    :func:`labse_lite.data.load_corpus_file` and ``--pairs-file``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for row in zip(corpus.langs, corpus.xx, corpus.en):
            if any("\t" in c or "\n" in c for c in row):
                raise ValueError(
                    f"a sentence contains a tab or newline: {row!r}"
                )
            handle.write("\t".join(row) + "\n")
    return path


def torchrun_command(
    launch: Launch, command: str, argv: list[str], log_dir: Path
) -> list[str]:
    """``python -m torch.distributed.run ... -m labse_lite COMMAND ARGV``;
    each rank's stdout/stderr go to files under ``log_dir``."""
    cmd = shlex.split(launch.prefix) + [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={launch.nproc_per_node}",
        f"--log-dir={log_dir}",
        "--redirects=3",
    ]
    if launch.nnodes == 1:
        cmd.append("--standalone")
    else:
        cmd += [
            f"--nnodes={launch.nnodes}",
            "--rdzv-backend=c10d",
            f"--rdzv-endpoint={launch.rdzv_endpoint}",
        ]
        if launch.node_rank is not None:
            cmd.append(f"--node-rank={launch.node_rank}")
    return cmd + ["-m", "labse_lite", command] + argv


def per_rank_config(config, launch: Launch):
    """The config each rank runs: ``batch_size / world`` pairs (the global
    batch split evenly), and this machine's CPU threads shared among its
    processes."""
    world = launch.world_size
    if config.batch_size % world:
        raise ValueError(
            f"the global batch of {config.batch_size} does not split evenly "
            f"over {world} processes; choose a multiple of {world}"
        )
    threads = config.threads and max(
        1, config.threads // launch.nproc_per_node
    )
    return dataclasses.replace(
        config, batch_size=config.batch_size // world, threads=threads
    )


def _rank_logs(log_dir: Path) -> dict[int, Path]:
    """Each local rank's combined log file under torchrun's ``log_dir``."""
    logs = {}
    for path in sorted(log_dir.rglob("stderr.log")):
        if path.parent.name.isdigit():
            logs[int(path.parent.name)] = path
    return logs


def _tail(path: Path, lines: int) -> str:
    text = path.read_text(errors="replace") if path.is_file() else ""
    out = [l for l in text.splitlines() if l.strip()][-lines:]
    return "\n".join(out) if out else "(empty)"


def _failure_message(
    rc: int, launcher_log: str, log_dir: Path, lines: int
) -> str:
    """Which rank failed first and how (from torchrun's report), then the
    tail of every rank's log, the failed rank first."""
    root = re.search(
        r"Root Cause.*?rank\s*:\s*(\d+).*?exitcode\s*:\s*"
        r"(-?\d+)(.*?)\n",
        launcher_log,
        re.S,
    )
    failed = int(root.group(1)) if root else None
    head = (
        f"rank {failed} failed first (exit code {root.group(2)}"
        f"{root.group(3).strip() and ', ' + root.group(3).strip()})"
        if root
        else "a rank failed"
    )
    parts = [f"the torchrun job ended with exit code {rc}: {head}."]
    logs = _rank_logs(log_dir)
    order = sorted(logs, key=lambda r: (r != failed, r))
    for rank in order:
        parts.append(
            f"--- rank {rank} log (last {lines} lines): "
            f"{logs[rank]}\n{_tail(logs[rank], lines)}"
        )
    if not logs:
        parts.append(
            "--- launcher output\n"
            + "\n".join(launcher_log.splitlines()[-lines:])
        )
    return "\n".join(parts)


def _launch(
    command: str,
    config,
    launch: Launch,
    files: dict[str, ParallelCorpus | None],
) -> dict:
    """Run ``labse-lite COMMAND`` under torchrun and return its
    ``summary.json``."""
    out = Path(config.output_dir)
    work = out / "launch"
    work.mkdir(parents=True, exist_ok=True)
    argv = config_to_argv(per_rank_config(config, launch))
    for flag, corpus in files.items():
        if corpus is not None:
            name = flag.strip("-").replace("-", "_") + ".tsv.gz"
            argv += [flag, str(write_corpus(corpus, work / name))]
    log_dir = work / "logs"
    shutil.rmtree(log_dir, ignore_errors=True)  # only this job's logs
    cmd = torchrun_command(launch, command, argv, log_dir)
    (work / "command.json").write_text(json.dumps(cmd, indent=1))
    summary_path = out / "summary.json"
    summary_path.unlink(missing_ok=True)
    print(
        f"labse-lite {command}: torchrun, {launch.world_size} processes; "
        f"each rank's log is under {log_dir}",
        file=sys.stderr,
        flush=True,
    )
    run = subprocess.run(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    (work / "launcher.log").write_text(run.stdout)
    if run.returncode != 0:
        raise LaunchError(
            _failure_message(
                run.returncode, run.stdout, log_dir, launch.log_tail_lines
            )
        )
    if not summary_path.is_file():
        if launch.nnodes > 1 and not launch.prefix:
            return {}  # another node holds rank 0, which writes it
        raise LaunchError(f"the job ended without writing {summary_path}")
    return json.loads(summary_path.read_text())


def run_training(
    config,
    corpus: ParallelCorpus | None = None,
    benchmark: ParallelCorpus | None = None,
    launch: Launch | int | None = None,
) -> dict:
    """Train ``config`` (its ``batch_size`` is the global batch) on
    ``launch`` processes -- an int is ``nproc_per_node`` -- and return the
    summary that :func:`labse_lite.train.train` returns."""
    from .train import train

    launch = _as_launch(launch)
    launch.validate()
    if launch.world_size == 1:
        return train(config, corpus, benchmark=benchmark)
    config.validate()
    return _launch(
        "train",
        config,
        launch,
        {"--pairs-file": corpus, "--benchmark-file": benchmark},
    )


def run_pretraining(
    config,
    corpus: ParallelCorpus | None = None,
    launch: Launch | int | None = None,
) -> dict:
    """:func:`labse_lite.pretrain.pretrain` on ``launch`` processes, its
    ``batch_size`` the global batch."""
    from .pretrain import pretrain

    launch = _as_launch(launch)
    launch.validate()
    if launch.world_size == 1:
        return pretrain(config, corpus)
    config.validate()
    return _launch("pretrain", config, launch, {"--pairs-file": corpus})
