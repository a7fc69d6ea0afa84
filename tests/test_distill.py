"""LEALLA distillation: the two losses against float64 references written
here, gradients (W learns, the teacher is a constant), the global-batch
logit loss on 2 gloo ranks, the trainer's distillation and frozen-encoder
options, and the reference-model cache (reused, and invalidated by a
config or data change)."""

import dataclasses
import gzip
import json
import shutil
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from labse_lite.book import reference
from labse_lite.book.grading import unit_rows as _unit
from labse_lite.distill import (
    feature_distillation_loss,
    logit_distillation_loss,
    multilingual_kd_loss,
)
from labse_lite.distributed import all_gather_with_grad
from labse_lite.train import TrainConfig


def test_feature_loss_matches_a_float64_loop():
    student, teacher = _unit(6, 3, 0), _unit(6, 5, 1)
    w = torch.nn.Linear(3, 5).double()
    expected = 0.0
    for i in range(6):
        lifted = [
            sum(w.weight[k, j].item() * student[i, j].item() for j in range(3))
            + w.bias[k].item()
            for k in range(5)
        ]
        expected += sum(
            (lifted[k] - teacher[i, k].item()) ** 2 for k in range(5)
        )
    expected /= 6 * 5
    got = feature_distillation_loss(student, teacher, w).item()
    assert abs(got - expected) < 1e-12


def test_logit_loss_matches_a_float64_loop():
    sx, sy, tx, ty = (
        _unit(4, 3, 2),
        _unit(4, 3, 3),
        _unit(4, 5, 4),
        _unit(4, 5, 5),
    )
    t = 100.0
    expected = 0.0
    for i in range(4):
        for j in range(4):
            s = sum(sx[i, k].item() * sy[j, k].item() for k in range(3)) / t
            r = sum(tx[i, k].item() * ty[j, k].item() for k in range(5)) / t
            expected += (s - r) ** 2
    expected /= 16
    got = logit_distillation_loss(sx, sy, tx, ty, temperature=t).item()
    assert abs(got - expected) < 1e-15
    with pytest.raises(ValueError, match="temperature"):
        logit_distillation_loss(sx, sy, tx, ty, temperature=0.0)


def test_w_learns_and_the_teacher_gets_no_gradient():
    student = _unit(4, 3, 6).requires_grad_()
    teacher = _unit(4, 5, 7).requires_grad_()
    w = torch.nn.Linear(3, 5).double()
    loss = feature_distillation_loss(
        student, teacher, w
    ) + logit_distillation_loss(student, student, teacher, teacher)
    loss.backward()
    assert w.weight.grad is not None and w.weight.grad.abs().sum() > 0
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert teacher.grad is None
    with pytest.raises(ValueError, match="same sentences"):
        feature_distillation_loss(student[:3], teacher, w)


WORLD, B = 2, 3


def _logit_worker(rank, store, out):
    dist.init_process_group(
        "gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD
    )
    sx, sy = _unit(WORLD * B, 4, 8), _unit(WORLD * B, 4, 9)
    tx, ty = _unit(WORLD * B, 6, 10), _unit(WORLD * B, 6, 11)
    rows = slice(rank * B, (rank + 1) * B)
    y_local = sy[rows].clone().requires_grad_()
    loss = logit_distillation_loss(
        sx[rows], all_gather_with_grad(y_local), tx[rows], ty
    )
    loss.backward()
    torch.save((loss.item(), y_local.grad), Path(out) / f"r{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.distributed
def test_logit_loss_on_two_ranks_equals_the_global_batch(tmp_path):
    mp.spawn(
        _logit_worker,
        nprocs=WORLD,
        join=True,
        args=(str(tmp_path / "store"), str(tmp_path)),
    )
    parts = [torch.load(tmp_path / f"r{r}.pt") for r in range(WORLD)]
    sx, sy = _unit(WORLD * B, 4, 8), _unit(WORLD * B, 4, 9)
    tx, ty = _unit(WORLD * B, 6, 10), _unit(WORLD * B, 6, 11)
    sy.requires_grad_()
    full = logit_distillation_loss(sx, sy, tx, ty)
    full.backward()
    assert abs(sum(p[0] for p in parts) / WORLD - full.item()) < 1e-15
    # Each rank's summed gradient for its rows, averaged as DDP does.
    grads = torch.cat([p[1] for p in parts]) / WORLD
    assert torch.allclose(grads, sy.grad, atol=1e-15)


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory, small_corpus):
    """A tiny dual encoder to serve as teacher (D = 64)."""
    from labse_lite.train import train

    out = tmp_path_factory.mktemp("teacher")
    cfg = TrainConfig(
        output_dir=str(out),
        model_preset="tiny",
        vocab_size=1500,
        batch_size=16,
        max_steps=4,
        final_eval=False,
        checkpoint_every=0,
        progress=False,
        threads=1,
    )
    train(cfg, small_corpus)
    return out / "model"


def test_trainer_distills_a_student_and_caches_teacher_embeddings(
    tmp_path, teacher_dir, small_corpus, monkeypatch
):
    from labse_lite.model import DualEncoder
    from labse_lite.train import train

    monkeypatch.setenv("LABSE_LITE_CACHE", str(tmp_path / "cache"))
    cfg = TrainConfig(
        output_dir=str(tmp_path / "student"),
        tokenizer=str(teacher_dir),
        model_preset="tiny",
        hidden_size=32,
        num_heads=2,
        ffn_size=64,
        batch_size=16,
        max_steps=3,
        final_eval=False,
        checkpoint_every=0,
        progress=False,
        threads=1,
        teacher=str(teacher_dir),
        feature_weight=1e3,
        logit_weight=1e-2,
        log_every=1,
    )
    summary = train(cfg, small_corpus)
    assert summary["final_loss"] > 0
    # The log keeps each term unweighted; the total is their weighted sum.
    last = json.loads(
        (tmp_path / "student" / "log.jsonl").read_text().splitlines()[-1]
    )
    assert last["loss"] == pytest.approx(
        last["loss_ams"]
        + 1e3 * last["loss_feature"]
        + 1e-2 * last["loss_logit"],
        rel=1e-5,
    )
    cached = list((tmp_path / "cache" / "teacher_embeddings").glob("*.pt"))
    assert len(cached) == 2  # both sides of the pairs
    state = torch.load(
        tmp_path / "student" / "checkpoint.pt", weights_only=False
    )
    # W belongs to the feature loss, not to the saved student
    assert state["objective"]["terms.1.feature_map.weight"].shape == (
        64,
        32,
    )  # d=32 → D=64
    assert not any("feature_map" in k for k in state["model"])
    assert (
        DualEncoder.from_pretrained(
            tmp_path / "student" / "model"
        ).embedding_dim
        == 32
    )


def test_dimension_reduction_trains_only_the_projection(
    tmp_path, teacher_dir, small_corpus
):
    from labse_lite.model import DualEncoder
    from labse_lite.train import train

    cfg = TrainConfig(
        output_dir=str(tmp_path / "reduced"),
        init_model=str(teacher_dir),
        projection_dim=16,
        freeze_encoder=True,
        batch_size=16,
        max_steps=3,
        final_eval=False,
        checkpoint_every=0,
        progress=False,
        threads=1,
        lr=1e-2,
    )
    train(cfg, small_corpus)
    before = DualEncoder.from_pretrained(teacher_dir)
    after = DualEncoder.from_pretrained(tmp_path / "reduced" / "model")
    assert after.embedding_dim == 16
    for (name, p), q in zip(
        before.encoder.named_parameters(), after.encoder.parameters()
    ):
        assert torch.equal(p, q), name
    with pytest.raises(ValueError, match="projection_dim"):
        TrainConfig(freeze_encoder=True).validate()


def test_reference_model_is_cached_and_invalidated(tmp_path, monkeypatch):
    """Trained on the first call, reused on the second; a changed config
    or a changed data file gives a new key and a new training run."""
    import labse_lite.train as T

    calls = []
    real_train = T.train

    def counting(config, *args, **kwargs):
        calls.append(config.output_dir)
        return real_train(config, *args, **kwargs)

    monkeypatch.setattr(T, "train", counting)
    cfg = TrainConfig(
        languages=["afr"],
        model_preset="tiny",
        vocab_size=500,
        batch_size=8,
        max_steps=2,
        final_eval=False,
        checkpoint_every=0,
        threads=1,
    )
    root = tmp_path / "cache"
    first = reference.reference_teacher(cfg, progress=False, root=root)
    assert (first / "model.safetensors").is_file() and len(calls) == 1
    assert (
        reference.reference_teacher(cfg, progress=False, root=root) == first
        and len(calls) == 1
    )
    other = reference.reference_teacher(
        dataclasses.replace(cfg, seed=1), progress=False, root=root
    )
    assert other != first and len(calls) == 2
    # The same config on changed data: a copy of data/ with one more pair.
    data = tmp_path / "data"
    shutil.copytree(reference.data_dir(), data)
    with gzip.open(data / "train.tsv.gz", "at", encoding="utf-8") as f:
        f.write("afr\tLatn\tDit is 'n nuwe sin.\tThis is a new sentence.\n")
    monkeypatch.setenv("LABSE_LITE_DATA", str(data))
    changed = reference.reference_teacher(cfg, progress=False, root=root)
    assert changed not in (first, other) and len(calls) == 3
    assert not list(root.glob("*.partial-*"))


def test_cached_training_ignores_how_a_run_is_carried_out(
    tmp_path, monkeypatch
):
    """Threads, output folder, progress and checkpointing are not part of
    the key: a config that differs only in them gets the cached model."""
    import labse_lite.train as T

    calls = []
    real_train = T.train
    monkeypatch.setattr(
        T,
        "train",
        lambda config, *a, **k: (calls.append(1), real_train(config, *a, **k))[
            1
        ],
    )
    cfg = TrainConfig(
        languages=["afr"],
        model_preset="tiny",
        vocab_size=500,
        batch_size=8,
        max_steps=2,
        final_eval=False,
        checkpoint_every=0,
        threads=1,
    )
    root = tmp_path / "cache"
    first = reference.cached_training(cfg, progress=False, root=root)
    again = reference.cached_training(
        dataclasses.replace(
            cfg,
            threads=2,
            output_dir=str(tmp_path / "elsewhere"),
            checkpoint_every=100,
            progress=True,
        ),
        progress=False,
        root=root,
    )
    assert again == first and len(calls) == 1


def test_chapter07_main_run_is_the_reference_model():
    """Chapter 07 reuses the cached reference model only while its laptop
    main run has exactly the reference config (else it trains its own,
    silently costing CI minutes): the config built as the chapter builds
    it must have the reference model's key."""
    from labse_lite.book import presets
    from labse_lite.languages import ZERO_SHOT_LABELLED

    s = presets.settings("zero_shot", "laptop")
    config = TrainConfig(
        output_dir="x",
        exclude_languages=list(ZERO_SHOT_LABELLED),
        init_model=s["init_model"],
        model_preset=s["model_preset"],
        vocab_size=s["vocab_size"] or 32000,
        pooling=s["pooling"],
        max_length=s["max_length"],
        batch_size=s["batch_size"],
        max_steps=s["max_steps"],
        lr=s["lr"],
        warmup_steps=s["max_steps"] // 12,
        threads=s["threads"],
        precision=s["precision"],
        checkpoint_every=0,
        progress=False,
    )
    ref = reference.reference_config()
    assert reference.cache_key(config) == reference.cache_key(ref)
    assert set(ref.exclude_languages) == set(ZERO_SHOT_LABELLED)
    source = (
        Path(__file__).parents[1] / "book" / "07_zero_shot.ipynb"
    ).read_text()
    assert "cache_key(config) == cache_key(reference_config())" in source


@pytest.mark.slow
def test_reference_cli_builds_once_and_reports(tmp_path, monkeypatch, capsys):
    """``labse-lite reference``: builds the (here: tiny) reference model
    into $LABSE_LITE_CACHE, prints its folder and key as JSON; a second
    call reuses it; a bad --threads is an error."""
    from labse_lite import cli

    tiny = TrainConfig(
        languages=["afr"],
        model_preset="tiny",
        vocab_size=500,
        batch_size=8,
        max_steps=2,
        final_eval_languages=["afr"],
        final_pool_languages=["afr"],
        checkpoint_every=0,
    )
    monkeypatch.setattr(reference, "reference_config", lambda: tiny)
    monkeypatch.setenv("LABSE_LITE_CACHE", str(tmp_path / "cache"))
    assert cli.main(["reference", "--quiet", "--threads", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["key"] == reference.cache_key(tiny)
    assert Path(out["teacher"]).parent.parent == tmp_path / "cache"
    assert (Path(out["teacher"]) / "model.safetensors").is_file()
    assert cli.main(["reference", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["teacher"] == out["teacher"]
    assert cli.main(["reference", "--threads", "0"]) == 2
    assert "--threads must be >= 1" in capsys.readouterr().err


@pytest.mark.distributed
def test_distillation_under_two_processes_matches_one(
    tmp_path, teacher_dir, small_corpus, monkeypatch
):
    """W lives outside the encoder's forward; DDP must still average its
    gradient, so 2 processes x 8 pairs end where 1 x 16 does."""
    from labse_lite.launch import run_training

    monkeypatch.setenv("LABSE_LITE_CACHE", str(tmp_path / "cache"))
    base = TrainConfig(
        tokenizer=str(teacher_dir),
        model_preset="tiny",
        hidden_size=32,
        num_heads=2,
        ffn_size=64,
        batch_size=16,
        max_steps=6,
        final_eval=False,
        checkpoint_every=0,
        progress=False,
        threads=2,
        teacher=str(teacher_dir),
        languages=["deu", "fra"],
    )
    corpus = small_corpus.subset(["deu", "fra"])
    losses = [
        run_training(
            dataclasses.replace(base, output_dir=str(tmp_path / f"n{n}")),
            corpus,
            launch=n,
        )["final_loss"]
        for n in (1, 2)
    ]
    assert losses[1] == pytest.approx(losses[0], rel=1e-4)


def test_cli_distill_needs_a_teacher(tmp_path, capsys):
    from labse_lite.cli import main

    assert main(["distill", "--output-dir", str(tmp_path)]) == 2
    assert "--teacher is required" in capsys.readouterr().err
    assert (
        main(
            [
                "distill",
                "--teacher",
                "x",
                "--ams-weight",
                "0",
                "--feature-weight",
                "0",
                "--logit-weight",
                "0",
                "--output-dir",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "nothing to train" in capsys.readouterr().err


def test_frozen_features_with_a_head_equal_the_full_model(
    tmp_path, teacher_dir, small_corpus
):
    """The dimension-reduction evaluation shortcut is exact: pooled teacher
    outputs computed once, then a head and normalisation, equal the full
    dual encoder with that projection (to float rounding)."""
    from labse_lite.distill import FrozenFeatures
    from labse_lite.model import DualEncoder

    torch.manual_seed(3)
    full = DualEncoder.from_pretrained(teacher_dir, projection_dim=8).eval()
    features = FrozenFeatures(DualEncoder.from_pretrained(teacher_dir).eval())
    texts = small_corpus.xx[:40] + small_corpus.xx[:10]  # with repeats
    got = features.with_head(full.projection).encode(texts)
    want = full.encode(texts)
    assert got.shape == (50, 8)
    assert (got - want).abs().max() < 1e-5
    assert len(features._rows) == 40  # each sentence encoded once
    plain = features.with_head(None).encode(texts[:5])
    teacher = DualEncoder.from_pretrained(teacher_dir).eval()
    assert (plain - teacher.encode(texts[:5])).abs().max() < 1e-5


def test_non_embedding_parameters_count_by_the_shape(small_tokenizer):
    """12·h² + 13·h per layer (Q, K, V, O, FFN with 4h, biases, two
    LayerNorms) plus the embedding LayerNorm, for a BERT without pooler."""
    from labse_lite.distill import non_embedding_parameters
    from labse_lite.model import DualEncoder

    for layers, h in ((4, 64), (1, 128)):
        model = DualEncoder.from_config(
            small_tokenizer,
            None,
            pooling="mean",
            num_hidden_layers=layers,
            hidden_size=h,
            num_attention_heads=2,
            intermediate_size=4 * h,
        )
        per_layer = (
            4 * (h * h + h) + (h * 4 * h + 4 * h) + (4 * h * h + h) + 2 * 2 * h
        )
        assert non_embedding_parameters(model) == layers * per_layer + 2 * h


def test_encode_speed_is_a_rate(tiny_model, small_corpus):
    from labse_lite.distill import encode_speed

    rate = encode_speed(
        tiny_model, small_corpus.xx[:64], batch_size=32, repeats=1
    )
    assert rate > 0
    with pytest.raises(ValueError, match="repeats"):
        encode_speed(tiny_model, small_corpus.xx[:4], repeats=0)


def test_reduce_dimensions_rows_and_frozen_teacher(
    tmp_path, teacher_dir, small_corpus
):
    from labse_lite.dimensions import reduce_dimensions
    from labse_lite.evaluate import evaluate_all
    from labse_lite.model import DualEncoder

    bench = small_corpus.subset(["deu", "fra"])
    base = TrainConfig(
        batch_size=16, max_steps=3, checkpoint_every=0, threads=1, lr=1e-2
    )
    rows = reduce_dimensions(
        teacher_dir,
        [16, 8],
        base,
        small_corpus,
        bench,
        launch=1,
        output_root=tmp_path,
        progress=False,
    )
    assert [r["dim"] for r in rows] == [64, 16, 8]
    # Row 0 is the teacher as it is; the others equal a full evaluation of
    # the saved reduced model.
    teacher = DualEncoder.from_pretrained(teacher_dir).eval()
    ev = evaluate_all(teacher, bench, show_progress_bar=False)
    assert rows[0]["tatoeba_xx2en"] == ev["tatoeba_avg_xx2en"]["all"]
    reduced = DualEncoder.from_pretrained(tmp_path / "dim_8" / "model")
    ev8 = evaluate_all(reduced.eval(), bench, show_progress_bar=False)
    assert rows[2]["tatoeba_xx2en"] == pytest.approx(
        ev8["tatoeba_avg_xx2en"]["all"], abs=0.11
    )
    assert reduced.embedding_dim == 8


def test_multilingual_kd_loss_matches_a_float64_loop():
    s_en, s_xx, t_en = _unit(5, 4, 20), _unit(5, 4, 21), _unit(5, 4, 22)
    expected = 0.0
    for student in (s_en, s_xx):  # the paper sums the two MSEs
        expected += (
            sum(
                (student[i, k].item() - t_en[i, k].item()) ** 2
                for i in range(5)
                for k in range(4)
            )
            / 20
        )
    got = multilingual_kd_loss(s_en, s_xx, t_en).item()
    assert abs(got - expected) < 1e-12
    with pytest.raises(ValueError, match="projection"):
        multilingual_kd_loss(s_en[:, :3], s_xx[:, :3], t_en)


def test_trainer_kd_regresses_both_sides_onto_the_english_teacher(
    tmp_path, teacher_dir, small_corpus, monkeypatch
):
    """KD alone (no AMS): the log's total is δ·KD, only the English side
    is embedded by the teacher, and the student's dimension must match."""
    from labse_lite.train import train

    monkeypatch.setenv("LABSE_LITE_CACHE", str(tmp_path / "cache"))
    cfg = TrainConfig(
        output_dir=str(tmp_path / "kd"),
        model_preset="tiny",
        vocab_size=1500,
        projection_dim=64,
        batch_size=16,
        max_steps=4,
        warmup_steps=1,
        final_eval=False,
        checkpoint_every=0,
        progress=False,
        threads=1,
        log_every=1,
        teacher=str(teacher_dir),
        ams_weight=0.0,
        feature_weight=0.0,
        logit_weight=0.0,
        kd_weight=2.0,
    )
    train(cfg, small_corpus)
    logs = [
        json.loads(l)
        for l in (tmp_path / "kd" / "log.jsonl").read_text().splitlines()
    ]
    assert set(logs[-1]) >= {"loss", "loss_kd"} and "loss_ams" not in logs[-1]
    assert logs[-1]["loss"] == pytest.approx(2.0 * logs[-1]["loss_kd"])
    assert logs[-1]["loss_kd"] < logs[0]["loss_kd"]  # it learns
    cached = list((tmp_path / "cache" / "teacher_embeddings").glob("*.pt"))
    assert len(cached) == 1  # T(en) only, not T(xx)
    with pytest.raises(ValueError, match="projection_dim=64"):
        train(
            dataclasses.replace(
                cfg, projection_dim=32, output_dir=str(tmp_path / "bad")
            ),
            small_corpus,
        )


def test_an_option_left_off_keeps_the_reference_key():
    """Options added later enter the cache key only when set: adding one
    must not silently retrain every cached model.  (If a default that
    shapes the model changes, this literal must change with it; it last
    changed with the deterministic vocabulary, reference._BUILDER = 2.)"""
    assert (
        reference.cache_key(TrainConfig(), data="fixed") == "0b0cd4037f5acd1b"
    )
    assert (
        reference.cache_key(TrainConfig(kd_weight=1.0), data="fixed")
        != "0b0cd4037f5acd1b"
    )


def test_reference_encoder_is_pretrained_once(tmp_path, monkeypatch):
    """The MLM-only encoder (chapter 10) is cached like the teacher: built
    on the first call, reused on the second, without resumable stages."""
    import labse_lite.pretrain as P
    from labse_lite.pretrain import PretrainConfig

    calls = []
    real = P.pretrain
    monkeypatch.setattr(
        P,
        "pretrain",
        lambda c, *a, **k: calls.append(c.tlm_fraction) or real(c, *a, **k),
    )
    cfg = PretrainConfig(
        languages=["afr"],
        model_preset="tiny",
        num_layers=4,
        stacking=True,
        vocab_size=500,
        max_steps=6,
        batch_size=8,
        heldout_pairs=20,
        tlm_fraction=0.0,
        threads=1,
    )
    root = tmp_path / "cache"
    first = reference.reference_encoder(cfg, progress=False, root=root)
    assert (first / "config.json").is_file() and calls == [0.0]
    assert reference.reference_encoder(
        cfg, progress=False, root=root
    ) == first and calls == [0.0]
    assert not list(first.parent.glob("stage_*"))
    saved = json.loads((first.parent / "cache_key.json").read_text())
    assert saved["kind"] == "PretrainConfig"
    assert saved["config"]["tlm_fraction"] == 0.0


def test_a_kd_student_starts_from_a_pretrained_encoder(
    tmp_path, teacher_dir, small_corpus, monkeypatch
):
    """KD from a pre-training checkpoint (``init_model``, as chapter 09's
    colab preset starts from mBERT): the student reads the encoder's
    weights and vocabulary, and learns.  With the table frozen, its word
    embeddings are the encoder's, bit for bit."""
    from labse_lite.model import DualEncoder
    from labse_lite.pretrain import PretrainConfig, pretrain
    from labse_lite.train import train

    monkeypatch.setenv("LABSE_LITE_CACHE", str(tmp_path / "cache"))
    pretrain(
        PretrainConfig(
            output_dir=str(tmp_path / "mlm"),
            model_preset="tiny",
            num_layers=2,
            stacking=False,
            tlm_fraction=0.0,
            vocab_size=1500,
            max_steps=4,
            batch_size=8,
            heldout_pairs=20,
            threads=1,
            progress=False,
        ),
        small_corpus,
    )
    encoder = DualEncoder.from_pretrained(str(tmp_path / "mlm" / "model"))
    cfg = TrainConfig(
        output_dir=str(tmp_path / "kd"),
        init_model=str(tmp_path / "mlm" / "model"),
        projection_dim=64,
        batch_size=16,
        max_steps=6,
        final_eval=False,
        checkpoint_every=0,
        progress=False,
        threads=1,
        log_every=1,
        teacher=str(teacher_dir),
        ams_weight=0.0,
        feature_weight=0.0,
        logit_weight=0.0,
        kd_weight=1.0,
        freeze_embeddings=True,
        lr=1e-2,
    )
    train(cfg, small_corpus)
    student = DualEncoder.from_pretrained(str(tmp_path / "kd" / "model"))
    assert student.tokenizer.get_vocab() == encoder.tokenizer.get_vocab()
    assert torch.equal(
        student.encoder.get_input_embeddings().weight,
        encoder.encoder.get_input_embeddings().weight,
    )
    logs = [
        json.loads(l)
        for l in (tmp_path / "kd" / "log.jsonl").read_text().splitlines()
    ]
    assert logs[-1]["loss_kd"] < logs[0]["loss_kd"]
