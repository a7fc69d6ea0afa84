"""The BUCC-style benchmark and the `labse-lite mine` command."""

import json
import subprocess
import sys

import numpy as np
import pytest

from labse_lite.bucc import SPLITS, build_bucc_benchmark
from labse_lite.data import load_flores


def test_gold_pairs_are_translations_and_only_they_are():
    flores = load_flores(["fra_Latn", "eng_Latn"])
    bench = build_bucc_benchmark("fra_Latn", "test", n_distractors=300)
    fra_id = {s: i for i, s in enumerate(flores["fra_Latn"])}
    eng_id = {s: i for i, s in enumerate(flores["eng_Latn"])}
    for s, t in bench.gold:
        assert fra_id[bench.src[s]] == eng_id[bench.tgt[t]]
    # Every other source sentence has no translation on the English side.
    gold_src = {s for s, _ in bench.gold}
    english_ids = {eng_id[t] for t in bench.tgt if t in eng_id}
    for s, sentence in enumerate(bench.src):
        if s not in gold_src:
            assert fra_id[sentence] not in english_ids
    assert len(bench.gold) == 252 and len(bench.src) == 379
    assert len(bench.tgt) == 252 + 127 + 300


def test_splits_are_disjoint_and_deterministic():
    assert not set(SPLITS["tune"]) & set(SPLITS["test"])
    a = build_bucc_benchmark("deu_Latn", "tune", seed=3)
    b = build_bucc_benchmark("deu_Latn", "tune", seed=3)
    assert a.src == b.src and a.tgt == b.tgt and a.gold == b.gold
    test = build_bucc_benchmark("deu_Latn", "test", seed=3)
    assert not set(a.src) & set(test.src)
    with pytest.raises(ValueError, match="split"):
        build_bucc_benchmark("deu_Latn", "dev")


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "labse_lite", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_mine_cli_on_embeddings(tmp_path):
    rng = np.random.default_rng(0)
    src = rng.normal(size=(200, 16)).astype(np.float32)
    src /= np.linalg.norm(src, axis=1, keepdims=True)
    perm = rng.permutation(200)
    tgt = src[perm] + 0.05 * rng.normal(size=(200, 16)).astype(np.float32)
    tgt /= np.linalg.norm(tgt, axis=1, keepdims=True)
    np.save(tmp_path / "src.npy", src)
    np.save(tmp_path / "tgt.npy", tgt)
    run = _run(
        "mine",
        str(tmp_path / "src.npy"),
        str(tmp_path / "tgt.npy"),
        "--output",
        str(tmp_path / "out.tsv"),
        "--quiet",
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["pairs"] == 200
    rows = [
        line.split("\t")
        for line in (tmp_path / "out.tsv").read_text().splitlines()
    ]
    found = {(int(s), int(t)) for _, s, t in rows}
    truth = {(int(p), j) for j, p in enumerate(perm)}
    assert len(found & truth) >= 195


def test_mine_cli_text_input_and_errors(tmp_path, tiny_model):
    tiny_model.save_pretrained(tmp_path / "model")
    (tmp_path / "a.txt").write_text("Hallo Welt.\nGuten Morgen.\n")
    (tmp_path / "b.txt").write_text("Good morning.\nHello world.\n")
    run = _run(
        "mine",
        str(tmp_path / "a.txt"),
        str(tmp_path / "b.txt"),
        "--model",
        str(tmp_path / "model"),
        "--k",
        "1",
        "--output",
        str(tmp_path / "o.tsv"),
        "--quiet",
    )
    assert run.returncode == 0, run.stderr
    assert len((tmp_path / "o.tsv").read_text().splitlines()) == 2
    (tmp_path / "empty.txt").write_text("eins\n\nzwei\n")
    run = _run(
        "mine",
        str(tmp_path / "empty.txt"),
        str(tmp_path / "b.txt"),
        "--model",
        str(tmp_path / "model"),
    )
    assert run.returncode == 2 and "empty.txt:2: empty line" in run.stderr
    run = _run("mine", str(tmp_path / "a.txt"), str(tmp_path / "b.txt"))
    assert run.returncode == 2 and "needs --model" in run.stderr
    (tmp_path / "latin1.txt").write_bytes("ok\nna\xefve\n".encode("latin-1"))
    run = _run(
        "mine",
        str(tmp_path / "latin1.txt"),
        str(tmp_path / "b.txt"),
        "--model",
        str(tmp_path / "model"),
    )
    assert (
        run.returncode == 2 and "latin1.txt:2: not valid UTF-8" in run.stderr
    )


def test_mine_cli_names_a_missing_model_in_one_line(
    tmp_path, capsys, monkeypatch
):
    """A --model that is no model ends in one line naming the path and what
    is missing, exit code 2, not a Hugging Face traceback."""
    from labse_lite import st_format
    from labse_lite.cli import main

    (tmp_path / "a.txt").write_text("Hallo Welt.\n")
    files = [str(tmp_path / "a.txt")] * 2 + [
        "--output",
        str(tmp_path / "o.tsv"),
    ]

    def error(model: str) -> str:
        assert main(["mine", *files, "--model", model]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "Traceback" not in err
        assert err.startswith("labse-lite mine: error: ")
        return err

    missing = tmp_path / "nonexistent"
    assert error(str(missing)).endswith(
        f"no model at {missing}: no such folder"
    )
    run = tmp_path / "run"  # a training run's folder, not its model
    (run / "model").mkdir(parents=True)
    (run / "model" / "config.json").write_text("{}")
    (run / "summary.json").write_text("{}")
    err = error(str(run))
    assert f"{run} holds no model: no config.json, modules.json" in err
    assert f"did you mean {run / 'model'}?" in err
    err = error(str(run / "model"))  # config.json only
    assert "no tokenizer" in err and "no weights" in err
    assert "is a file" in error(str(tmp_path / "a.txt"))

    # A name that could be a hub id goes to the hub; offline, one line too.
    def offline(*args, **kwargs):
        raise OSError(
            "We couldn't connect to 'https://huggingface.co' to "
            "load the files.\nCheck your internet connection."
        )

    monkeypatch.setattr(st_format, "hub_snapshot", lambda name: name)
    monkeypatch.setattr("transformers.AutoTokenizer.from_pretrained", offline)
    monkeypatch.chdir(tmp_path)
    err = error("nobody/no-such-model")
    assert (
        "no model at nobody/no-such-model: not a local folder, and the "
        "Hugging Face hub did not provide it (We couldn't connect" in err
    )
