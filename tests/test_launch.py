"""The one launch path: in-process at one process, torchrun at several.

The 2-process run must give the 1-process result for the same global batch
(the exact-gradient property of cross-device negatives, chapter 04), and a
rank that dies must surface in the caller with that rank's log.
"""

import argparse
import dataclasses
import threading
import time

import psutil
import pytest

from labse_lite.cli import build_parser
from labse_lite.data import load_corpus_file, load_tatoeba
from labse_lite.launch import (
    Launch,
    LaunchError,
    config_to_argv,
    run_training,
    torchrun_command,
    write_corpus,
)
from labse_lite.pretrain import PretrainConfig
from labse_lite.train import TrainConfig


def _parse(command, cls, argv):
    args = build_parser().parse_args([command] + argv)
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in vars(args).items() if k in names})


def test_config_flags_round_trip():
    config = TrainConfig(
        output_dir="runs/x",
        languages=["deu", "fra"],
        exclude_languages=[],
        margin=0.1,
        lr=3e-4,
        projection_dim=None,
        final_eval=False,
        progress=False,
        eval_languages=["deu"],
        final_eval_languages=["deu", "jav"],
        time_limit_minutes=1.5,
        grad_cache_chunk=4,
    )
    assert _parse("train", TrainConfig, config_to_argv(config)) == config
    pre = PretrainConfig(
        output_dir="runs/p",
        stage_steps=[2, 3, 4],
        languages=["deu"],
        tlm_fraction=0.25,
    )
    assert _parse("pretrain", PretrainConfig, config_to_argv(pre)) == pre
    assert config_to_argv(TrainConfig()) == []


def test_every_command_prints_its_help():
    """argparse %-formats help texts, so a field comment with a bare "%"
    (TrainConfig.warmup_steps' "8.3%") broke `labse-lite train --help`."""
    parser = build_parser()
    (commands,) = [
        a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
    ]
    assert {"train", "distill", "pretrain", "eval"} <= set(commands.choices)
    for name, sub in commands.choices.items():
        text = sub.format_help()
        assert "--" in text and "%%" not in text, name


def test_corpus_file_round_trip(tmp_path):
    bench = load_tatoeba(["deu", "kab"])
    assert (
        load_corpus_file(write_corpus(bench, tmp_path / "b.tsv.gz")) == bench
    )


def test_torchrun_command_single_and_multi_node(tmp_path):
    one = torchrun_command(Launch(2), "train", ["--seed", "1"], tmp_path)
    assert "--standalone" in one and "--nproc_per_node=2" in one
    assert one[-4:] == ["labse_lite", "train", "--seed", "1"]
    many = torchrun_command(
        Launch(8, nnodes=4, node_rank=2, rdzv_endpoint="node0:29500"),
        "pretrain",
        [],
        tmp_path,
    )
    assert "--nnodes=4" in many and "--node-rank=2" in many
    assert "--rdzv-endpoint=node0:29500" in many
    assert "--standalone" not in many
    with pytest.raises(ValueError, match="rdzv_endpoint"):
        run_training(TrainConfig(), launch=Launch(2, nnodes=2))
    with pytest.raises(ValueError, match="multiple of 3"):
        run_training(
            TrainConfig(batch_size=16, output_dir=str(tmp_path)), launch=3
        )


@pytest.fixture(scope="module")
def launch_setup(tmp_path_factory, small_corpus, small_tokenizer):
    root = tmp_path_factory.mktemp("launch")
    small_tokenizer.save_pretrained(str(root / "tokenizer"))
    corpus = small_corpus.subset(["deu", "fra"])
    bench = load_tatoeba(["deu", "fra"])
    base = TrainConfig(
        tokenizer=str(root / "tokenizer"),
        model_preset="tiny",
        batch_size=16,
        max_steps=20,
        warmup_steps=2,
        lr=2e-3,
        max_length=24,
        eval_languages=["deu"],
        checkpoint_every=0,
        progress=False,
        threads=1,
        resume=False,
    )
    return root, corpus, bench, base


@pytest.mark.distributed
def test_two_processes_match_one_process(launch_setup):
    """Same global batch of 16: 1 process x 16 pairs vs 2 gloo processes
    x 8 pairs with all-gathered negatives.  Tolerance: final loss within
    1e-4 relative (float32 reductions in another order), Tatoeba accuracy
    per language and direction within 0.5 points."""
    root, corpus, bench, base = launch_setup
    results = {}
    for n in (1, 2):
        config = dataclasses.replace(base, output_dir=str(root / f"n{n}"))
        results[n] = run_training(config, corpus, bench, launch=n)
    one, two = results[1], results[2]
    assert two["world_size"] == 2 and one["world_size"] == 1
    assert two["config"]["batch_size"] == 8  # per rank
    assert two["pairs_seen"] == one["pairs_seen"] == 20 * 16
    assert two["final_loss"] == pytest.approx(one["final_loss"], rel=1e-4)
    for lang in ("deu", "fra"):
        for direction in ("xx2en", "en2xx"):
            a = one["eval"]["tatoeba"][lang][direction]
            b = two["eval"]["tatoeba"][lang][direction]
            assert abs(a - b) <= 0.5, (lang, direction, a, b)
    assert (root / "n2" / "launch" / "logs").is_dir()


def _rank_processes(output_dir):
    found = {}
    for proc in psutil.process_iter(["cmdline"]):
        try:
            cmd = proc.info["cmdline"] or []
            if str(
                output_dir
            ) in cmd and "torch.distributed.run" not in " ".join(cmd):
                found[int(proc.environ().get("LOCAL_RANK", -1))] = proc
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


@pytest.mark.distributed
def test_a_killed_rank_raises_in_the_caller_with_its_log(launch_setup):
    root, corpus, bench, base = launch_setup
    out = root / "killed"
    config = dataclasses.replace(
        base,
        output_dir=str(out),
        max_steps=100_000,
        log_every=1,
        dist_timeout_seconds=30,
    )
    caught = []

    def target():
        try:
            run_training(config, corpus, bench, launch=2)
        except Exception as err:  # noqa: BLE001 -- examined below
            caught.append(err)

    thread = threading.Thread(target=target)
    thread.start()
    deadline = time.time() + 300
    log = out / "log.jsonl"
    while not (log.is_file() and log.stat().st_size > 0):
        assert time.time() < deadline, "training never started"
        assert thread.is_alive(), caught
        time.sleep(0.5)
    ranks = _rank_processes(out)
    assert set(ranks) == {0, 1}, ranks
    ranks[1].kill()
    thread.join(timeout=120)
    assert not thread.is_alive(), "the launcher hung after a rank died"
    assert len(caught) == 1 and isinstance(caught[0], LaunchError), caught
    message = str(caught[0])
    assert "rank 1 failed first" in message, message
    assert "--- rank 1 log" in message and "--- rank 0 log" in message
