"""The training loop: schedule, batches, learning, resume, failures."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from labse_lite.data import ParallelCorpus, load_tatoeba
from labse_lite.runtime import lr_lambda
from labse_lite.train import PairBatcher, TrainConfig, train


def tiny_config(tmp_path, **overrides):
    values = dict(
        output_dir=str(tmp_path),
        model_preset="tiny",
        vocab_size=1500,
        max_length=24,
        batch_size=16,
        max_steps=30,
        warmup_steps=5,
        lr=2e-3,
        checkpoint_every=10,
        eval_languages=["deu", "fra"],
        progress=False,
        threads=1,
    )
    values.update(overrides)
    return TrainConfig(**values)


@pytest.fixture(scope="module")
def bench():
    return load_tatoeba(["deu", "fra", "spa"])


def test_lr_schedule():
    values = [lr_lambda(s, 10, 100) for s in range(100)]
    assert values[0] == pytest.approx(0.1)
    assert values[9] == pytest.approx(1.0)
    assert values[10] == pytest.approx(1.0)
    assert values[99] == pytest.approx(1 / 90)
    assert all(a >= b for a, b in zip(values[9:], values[10:]))


def test_batches_are_deterministic_balanced_and_duplicate_free():
    rng = np.random.default_rng(0)
    n = 3000
    langs = ["big"] * 2900 + ["small"] * 100
    xx = [[0] * int(rng.integers(3, 30)) for _ in range(n)]
    en = [[0] * int(rng.integers(3, 30)) for _ in range(n)]
    en_keys = np.arange(n) % 500  # many repeated English sides
    b1 = PairBatcher(xx, en, langs, 32, alpha=0.3, seed=1, en_keys=en_keys)
    b2 = PairBatcher(xx, en, langs, 32, alpha=0.3, seed=1, en_keys=en_keys)
    seen_small = 0
    for step in (0, 7, 49, 50, 123):
        rows = b1.batch(step)
        assert len(rows) == 32
        assert np.array_equal(rows, b2.batch(step))
        assert len(set(en_keys[rows])) == 32  # no duplicate English
    padding, random_padding = 0, 0
    for step in range(100):
        rows = b1.batch(step)
        seen_small += sum(langs[i] == "small" for i in rows)
        lengths = b1.lengths[rows]
        padding += (lengths.max() - lengths).sum()
        shuffled = b1.lengths[rng.choice(n, size=32, replace=False)]
        random_padding += (shuffled.max() - shuffled).sum()
    # Length bucketing: far less padding than random batches would need.
    assert padding < 0.2 * random_padding
    p_small = b1.language_probabilities()["small"]
    assert p_small == pytest.approx(100**0.3 / (100**0.3 + 2900**0.3))
    assert seen_small / 3200 == pytest.approx(p_small, abs=0.03)
    assert not np.array_equal(
        b1.batch(0),
        PairBatcher(xx, en, langs, 32, 0.3, seed=2, en_keys=en_keys).batch(0),
    )


def test_a_small_corpus_fills_every_batch_without_duplicates():
    """800 pairs, batches of 128: each chunk holds every pair about eight
    times, so the spare draw runs out (chapter 09's bilingual student);
    more pairs are drawn instead of failing, still no pair twice in a
    batch.  A corpus smaller than a batch still fails, clearly."""
    rng = np.random.default_rng(3)
    xx = [[0] * int(rng.integers(3, 30)) for _ in range(800)]
    en = [[0] * int(rng.integers(3, 30)) for _ in range(800)]
    batcher = PairBatcher(xx, en, ["deu"] * 800, 128, alpha=0.5, seed=0)
    for step in range(0, 120, 7):
        rows = batcher.batch(step)
        assert len(rows) == 128 and len(set(rows.tolist())) == 128
    with pytest.raises(RuntimeError, match="not enough distinct pairs"):
        PairBatcher(xx[:100], en[:100], ["deu"] * 100, 128, 0.5, 0).batch(0)


def test_invalid_configs_are_rejected():
    for kwargs, message in (
        (dict(batch_size=1), "at least 2"),
        (dict(margin=-0.3), "margin"),
        (dict(scale=0), "scale"),
        (dict(lr=0), "lr"),
        (dict(pooling="sum"), "pooling"),
        (dict(languages="deu"), "list"),
    ):
        with pytest.raises(ValueError, match=message):
            TrainConfig(**kwargs).validate()


def test_training_learns_and_resumes_to_the_same_result(
    tmp_path, small_corpus, small_tokenizer, bench
):
    # A fixed vocabulary, so that the test is about the loop alone (the
    # vocabulary build is tested for determinism in test_determinism.py).
    small_tokenizer.save_pretrained(str(tmp_path / "tok"))

    def cfg(out):
        return tiny_config(out, tokenizer=str(tmp_path / "tok"), log_every=1)

    # Uninterrupted run.
    full = train(cfg(tmp_path / "a"), small_corpus, benchmark=bench)
    losses = [
        json.loads(l)["loss"] for l in open(tmp_path / "a" / "log.jsonl")
    ]
    assert full["steps"] == 30
    # It learned something: better than chance (1/1000) on Tatoeba deu.
    assert full["eval"]["tatoeba"]["deu"]["xx2en"] > 1.0

    # Interrupted after step 12 (checkpoint at 10), then resumed.
    class Interrupt(Exception):
        pass

    def stop(step, logs):
        if step == 12:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(cfg(tmp_path / "b"), small_corpus, on_step=stop, benchmark=bench)
    resumed = train(cfg(tmp_path / "b"), small_corpus, benchmark=bench)
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert resumed["final_loss"] == pytest.approx(full["final_loss"], abs=1e-6)
    assert len(losses) == 30 and losses[-1] < losses[0]


def test_nan_loss_stops_with_a_clear_error(
    tmp_path, small_corpus, bench, monkeypatch
):
    import labse_lite.distributed as dist_utils

    real = dist_utils.global_batch_loss

    def poisoned(*args, **kwargs):
        return real(*args, **kwargs) * float("nan")

    monkeypatch.setattr(dist_utils, "global_batch_loss", poisoned)
    with pytest.raises(
        FloatingPointError, match="at step 0: training diverged"
    ):
        train(tiny_config(tmp_path), small_corpus, benchmark=bench)


def test_empty_pairs_are_rejected(tmp_path, bench):
    corpus = ParallelCorpus(["deu", "deu"], ["Hallo", " "], ["Hi", "Yes"])
    with pytest.raises(ValueError, match="pair 1: non-English side is empty"):
        train(tiny_config(tmp_path), corpus, benchmark=bench)


@pytest.mark.slow
def test_cli_train_then_eval(tmp_path):
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "labse_lite",
        "train",
        "--output-dir",
        str(out),
        "--languages",
        "deu",
        "fra",
        "--model-preset",
        "tiny",
        "--vocab-size",
        "2000",
        "--max-steps",
        "8",
        "--batch-size",
        "16",
        "--eval-languages",
        "deu",
        "--final-eval-languages",
        "deu",
        "fra",
        "--no-progress",
        "--threads",
        "1",
    ]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["steps"] == 8
    assert set(report["tatoeba_xx2en"]) >= {"all"}
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
            "--encode-length",
            "auto",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert 0.0 <= result["tatoeba"]["deu"]["xx2en"] <= 100.0
    assert result["large_pool"]["pool_size"] > 900
    assert result["encoding"]["truncated_share"] < 0.05


def test_cli_reports_bad_config(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "labse_lite",
            "train",
            "--margin",
            "-1",
            "--output-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2
    assert "margin=-1.0 must be >= 0" in run.stderr
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "labse_lite",
            "eval",
            "--model",
            str(tmp_path / "missing"),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0


def test_checkpoint_keeps_the_loss_scaler_and_cuda_rng(tmp_path, monkeypatch):
    """A resumed mixed-precision GPU run is the same run: the grad scaler's
    state and every device's CUDA RNG state round-trip (issue 13; the CUDA
    calls are recorded, so this runs on CPU)."""
    from labse_lite import train as T

    cuda_state = [torch.arange(8, dtype=torch.uint8)]
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: cuda_state)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", restored.append)

    def parts():
        model = torch.nn.Linear(3, 2)
        opt = torch.optim.AdamW(model.parameters(), lr=0.1)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
        return model, opt, sched, torch.amp.GradScaler("cpu", enabled=True)

    model, opt, sched, scaler = parts()
    no_terms = torch.nn.ModuleList()  # a run without loss parameters
    scaler.load_state_dict(
        {
            "scale": 1024.0,
            "growth_factor": 2.0,
            "backoff_factor": 0.5,
            "growth_interval": 100,
            "_growth_tracker": 37,
        }
    )
    path = tmp_path / "checkpoint.pt"
    T._save_checkpoint(
        path, model, no_terms, opt, sched, scaler, 5, TrainConfig()
    )
    model2, opt2, sched2, scaler2 = parts()
    assert (
        T._load_checkpoint(path, model2, no_terms, opt2, sched2, scaler2) == 5
    )
    assert scaler2.state_dict() == scaler.state_dict()
    assert scaler2.get_scale() == 1024.0
    assert len(restored) == 1 and torch.equal(restored[0][0], cuda_state[0])
    # A checkpoint of an fp32 run (scaler disabled) still loads.
    _, opt3, sched3, _ = parts()
    off = torch.amp.GradScaler("cpu", enabled=False)
    T._save_checkpoint(
        path, model, no_terms, opt3, sched3, off, 6, TrainConfig()
    )
    assert T._load_checkpoint(path, model2, no_terms, opt2, sched2, off) == 6


def test_final_pool_languages_limit_the_large_pool_queries(
    tmp_path, small_corpus, small_tokenizer, bench
):
    small_tokenizer.save_pretrained(str(tmp_path / "tok"))
    summary = train(
        tiny_config(
            tmp_path / "run",
            tokenizer=str(tmp_path / "tok"),
            max_steps=2,
            checkpoint_every=0,
            final_pool_languages=["fra", "xyz"],
        ),
        small_corpus,
        benchmark=bench,
    )
    ev = summary["eval"]
    assert set(ev["tatoeba"]) == {"deu", "fra", "spa"}
    assert set(ev["large_pool"]) == {"pool_size", "fra"}
    from labse_lite.data import normalize_for_overlap

    assert ev["large_pool"]["pool_size"] == len(
        {normalize_for_overlap(e) for e in bench.en}
    )


def test_a_corpus_is_tokenized_once_per_vocabulary(
    small_corpus, small_tokenizer, tiny_model, monkeypatch
):
    """Runs of a sweep that share the corpus and the vocabulary reuse one
    tokenisation; another corpus or vocabulary is tokenised afresh."""
    import labse_lite.train as T
    from labse_lite.model import DualEncoder
    from labse_lite.tokenization import train_wordpiece

    calls = []
    real = T._tokenize_pairs
    monkeypatch.setattr(
        T, "_tokenize_pairs", lambda m, c: calls.append(len(c)) or real(m, c)
    )
    T._TOKENIZED.clear()
    corpus = small_corpus.sample(300, seed=1)
    first = T._tokenize_corpus(tiny_model, corpus)
    assert T._tokenize_corpus(tiny_model, corpus) is first
    assert calls == [300]
    T._tokenize_corpus(tiny_model, small_corpus.sample(200, seed=1))
    assert calls == [300, 200]
    other_vocab = train_wordpiece(
        small_corpus.monolingual_texts(), vocab_size=700
    )
    other = DualEncoder.from_config(
        other_vocab, "tiny", pooling="mean", max_length=24
    )
    again = T._tokenize_corpus(other, small_corpus.sample(200, seed=1))
    assert calls == [300, 200, 200]
    assert again[0] == real(other, small_corpus.sample(200, seed=1))[0]


def test_frozen_word_embeddings_stay_bit_identical(
    tmp_path, small_corpus, small_tokenizer, bench
):
    """English-only tuning freezes the word-embedding table: after training
    it equals the initial one bit for bit, while the layers moved; with
    freeze_layers=1 the lowest layer is fixed and the next one trains."""
    from labse_lite.model import DualEncoder

    small_tokenizer.save_pretrained(str(tmp_path / "tok"))
    start = DualEncoder.from_config(
        small_tokenizer, "tiny", pooling="mean", max_length=24
    )
    start.save_pretrained(tmp_path / "start")
    cfg = tiny_config(
        tmp_path / "frozen",
        init_model=str(tmp_path / "start"),
        max_steps=5,
        checkpoint_every=0,
        final_eval=False,
        freeze_embeddings=True,
        freeze_layers=1,
        lr=1e-2,
    )
    train(cfg, small_corpus, benchmark=bench)
    after = DualEncoder.from_pretrained(tmp_path / "frozen" / "model")
    table = lambda m: m.encoder.get_input_embeddings().weight  # noqa: E731
    assert torch.equal(table(start), table(after))
    layers = lambda m: m.encoder.encoder.layer  # noqa: E731
    for p, q in zip(
        layers(start)[0].parameters(), layers(after)[0].parameters()
    ):
        assert torch.equal(p, q)
    assert any(
        not torch.equal(p, q)
        for p, q in zip(
            layers(start)[1].parameters(), layers(after)[1].parameters()
        )
    )
    assert not torch.equal(
        start.encoder.embeddings.position_embeddings.weight,
        after.encoder.embeddings.position_embeddings.weight,
    )
    with pytest.raises(ValueError, match="freeze_layers=9"):
        train(
            tiny_config(
                tmp_path / "bad",
                freeze_layers=9,
                tokenizer=str(tmp_path / "tok"),
                max_steps=1,
            ),
            small_corpus,
            benchmark=bench,
        )


def test_adamw_is_fused_and_agrees_with_the_per_tensor_update():
    """``adamw`` asks PyTorch for the fused kernel on CPU; 20 of its steps
    land where 20 per-tensor steps do, to float rounding, with weight
    decay on the first group only."""
    import copy

    from labse_lite.runtime import adamw

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Embedding(50, 8), torch.nn.Linear(8, 4))
    other, start = copy.deepcopy(net), copy.deepcopy(net)

    def groups(model):
        return [model[1].weight], [model[0].weight, model[1].bias]

    fused = adamw(*groups(net), lr=1e-2, weight_decay=0.1)
    plain = torch.optim.AdamW(
        [
            {"params": groups(other)[0], "weight_decay": 0.1},
            {"params": groups(other)[1], "weight_decay": 0.0},
        ],
        lr=1e-2,
        foreach=False,
    )
    assert fused.defaults["fused"] is True
    assert [g["weight_decay"] for g in fused.param_groups] == [0.1, 0.0]
    ids = torch.randint(0, 50, (16,))
    for _ in range(20):
        for model, opt in ((net, fused), (other, plain)):
            opt.zero_grad()
            model(ids).square().sum().backward()
            opt.step()
    for a, b in zip(net.parameters(), other.parameters()):
        assert torch.allclose(a, b, atol=1e-5), (a - b).abs().max()
    moved = (net[1].weight - start[1].weight).abs().max()
    assert moved > 1e-2, moved  # the steps did something


def test_bf16_loss_matches_fp32_on_a_fixed_batch(tiny_model, small_corpus):
    """Autocast bf16 (fp32 master weights, loss in fp32) gives the loss of
    fp32 on the same batch to within 2% -- bf16 keeps 8 bits of mantissa,
    about 2-3 significant digits per product -- and gradients pointing the
    same way (cosine > 0.99)."""
    from labse_lite.losses import additive_margin_softmax_loss

    ids = [
        tiny_model.tokenizer(t, truncation=True, max_length=24)["input_ids"]
        for t in small_corpus.xx[:32] + small_corpus.en[:32]
    ]
    input_ids, mask = tiny_model.collate(ids)
    results = {}
    for name, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
        tiny_model.zero_grad()
        with torch.autocast(
            "cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None
        ):
            emb = tiny_model(input_ids, mask)
        emb = emb.float()
        loss = additive_margin_softmax_loss(
            emb[:32], emb[32:], check_normalized=False
        )
        loss.backward()
        grad = torch.cat(
            [
                p.grad.flatten()
                for p in tiny_model.parameters()
                if p.grad is not None
            ]
        )
        results[name] = (loss.item(), grad)
    (l32, g32), (l16, g16) = results["fp32"], results["bf16"]
    assert abs(l16 - l32) <= 0.02 * abs(l32), (l16, l32)
    assert l16 != l32  # bf16 really was used
    cos = torch.nn.functional.cosine_similarity(g32, g16, dim=0)
    assert cos > 0.99, cos


def test_bf16_training_learns(tmp_path, small_corpus, small_tokenizer, bench):
    small_tokenizer.save_pretrained(str(tmp_path / "tok"))
    cfg = tiny_config(
        tmp_path / "bf16",
        tokenizer=str(tmp_path / "tok"),
        precision="bf16",
        checkpoint_every=0,
        log_every=1,
    )
    summary = train(cfg, small_corpus, benchmark=bench)
    losses = [
        json.loads(l)["loss"] for l in open(tmp_path / "bf16" / "log.jsonl")
    ]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert summary["eval"]["tatoeba"]["deu"]["xx2en"] > 1.0


def test_reuse_freed_memory_sets_and_restores_the_allocator(monkeypatch):
    """glibc is told to serve blocks from the heap and not to trim it
    inside the block, and its defaults come back (with a trim) on the way
    out, also after an error; nothing is called for a GPU or off glibc."""
    from labse_lite import runtime

    calls = []

    class FakeLibc:
        def mallopt(self, param, value):
            calls.append((param, value))
            return 1

        def malloc_trim(self, pad):
            calls.append(("trim", pad))
            return 1

    monkeypatch.setattr(runtime, "_glibc", lambda: FakeLibc())
    with pytest.raises(KeyError):
        with runtime.reuse_freed_memory("cpu"):
            assert calls == [(-4, 0), (-1, 2**31 - 1)]
            raise KeyError("inside")
    assert calls[2:] == [(-4, 65536), (-1, 128 * 1024), ("trim", 0)]
    calls.clear()
    with runtime.reuse_freed_memory("cuda"):
        pass
    assert calls == []
    monkeypatch.undo()
    monkeypatch.setenv("LABSE_LITE_KEEP_MALLOC", "1")
    assert runtime._glibc() is None
    monkeypatch.delenv("LABSE_LITE_KEEP_MALLOC")
    monkeypatch.setattr("platform.system", lambda: "Darwin")
    assert runtime._glibc() is None
    monkeypatch.undo()
    with runtime.reuse_freed_memory("cpu"):  # the real one, where it is
        x = torch.zeros(10_000_000)
        del x
