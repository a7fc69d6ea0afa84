"""Pre-training: masking, TLM sequences, progressive stacking, the saved
checkpoint as the dual encoder's initialisation, resume, CLI, torchrun."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from labse_lite.model import pad_batch
from labse_lite.pretrain import (
    PretrainConfig,
    PretrainingData,
    encoder_layers,
    mask_tokens,
    mlm_loss,
    pretrain,
    stack_layers,
    stage_plan,
)


def _mlm_model(tokenizer, layers, seed=0):
    from transformers import BertForMaskedLM

    from labse_lite.model import bert_config

    torch.manual_seed(seed)
    config = bert_config(
        len(tokenizer), "tiny", num_hidden_layers=layers, dropout=0.0
    )
    return BertForMaskedLM(config)


# ------------------------------------------------------------------ stacking
@pytest.mark.parametrize("depth,factor", [(2, 2), (1, 4), (3, 2)])
def test_stacking_copies_layer_i_mod_depth_exactly(
    small_tokenizer, depth, factor
):
    old = _mlm_model(small_tokenizer, depth)
    before = {k: v.clone() for k, v in old.state_dict().items()}
    new = stack_layers(old, factor)
    assert new.config.num_hidden_layers == depth * factor
    old_layers, new_layers = encoder_layers(old), encoder_layers(new)
    assert len(new_layers) == depth * factor
    for j, layer in enumerate(new_layers):
        src = old_layers[j % depth].state_dict()
        dst = layer.state_dict()
        assert src.keys() == dst.keys()
        for key in src:
            assert torch.equal(src[key], dst[key]), (j, key)
        # copies, not shared modules: training one must not move another
        assert layer is not old_layers[j % depth]
        assert all(
            layer.attention.self.layer_idx == j
            for _ in [0]
            if hasattr(layer.attention.self, "layer_idx")
        )
    for key, value in old.state_dict().items():
        if ".layer." not in key:  # embeddings, MLM head
            assert torch.equal(value, new.state_dict()[key]), key
    # the MLM decoder stays tied to the (new) input embeddings
    assert (
        new.cls.predictions.decoder.weight.data_ptr()
        == new.bert.embeddings.word_embeddings.weight.data_ptr()
    )
    # the shallow model is untouched, and the copy is independent
    with torch.no_grad():
        encoder_layers(new)[0].output.dense.weight.add_(1.0)
    for key, value in old.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert not torch.equal(
        encoder_layers(new)[0].output.dense.weight,
        encoder_layers(new)[depth].output.dense.weight,
    )


def test_stacking_rejects_bad_input(small_tokenizer):
    model = _mlm_model(small_tokenizer, 1)
    with pytest.raises(ValueError, match="positive integer"):
        stack_layers(model, 0)
    with pytest.raises(TypeError, match="encoder.layer"):
        stack_layers(torch.nn.Linear(3, 3))


def test_stacked_model_loss_right_after_copy_is_close_to_shallow(
    small_corpus, small_tokenizer, tmp_path
):
    """Train 1 layer, copy to 2 and to 4: the held-out MLM loss just after
    each copy is finite and close to the shallow model's, and far below a
    randomly initialised model of the new depth."""
    summary = pretrain(
        PretrainConfig(
            output_dir=str(tmp_path / "pt"),
            tokenizer=None,
            vocab_size=1500,
            model_preset="tiny",
            num_layers=4,
            stage_steps=[150, 30, 0],
            batch_size=32,
            lr=3e-3,
            warmup_steps=10,
            dropout=0.0,
            heldout_pairs=200,
            progress=False,
            resume=False,
        ),
        corpus=small_corpus,
    )
    # the data went in the right way round: the corpus's labels, and a
    # vocabulary learned from both sides
    assert summary["languages"] == small_corpus.languages()
    assert summary["train_pairs"] == len(small_corpus) - 200
    s1, s2 = summary["stages"][1], summary["stages"][2]
    for stage in (s1, s2):
        before = stage["heldout_loss_before_copy"]
        after = stage["heldout_loss_after_copy"]
        assert np.isfinite(after)
        assert abs(after - before) < 0.3, (before, after)
    # a random model of the same depth sits near log(vocabulary)
    from labse_lite.tokenization import load_tokenizer

    tok = load_tokenizer(str(tmp_path / "pt" / "model"))
    fresh = _mlm_model(tok, 2, seed=1)
    data = PretrainingData(small_corpus.subset(["deu"]), tok, 48, 0.5, 0.5)
    rng = np.random.default_rng(0)
    special = sorted(set(tok.all_special_ids))
    ids, mask = pad_batch(data.sequences(rng, 64), tok.pad_token_id)
    cids, labels = mask_tokens(
        ids,
        mask,
        special,
        tok.mask_token_id,
        torch.arange(5, len(tok)),
        generator=torch.Generator().manual_seed(0),
    )
    random_loss = mlm_loss(fresh, [(cids, mask, labels)])
    assert random_loss > np.log(len(tok)) - 1.0
    assert s1["heldout_loss_after_copy"] < random_loss - 1.0


# ------------------------------------------------------------------- masking
def test_masking_counts_cap_specials_and_labels():
    gen = torch.Generator().manual_seed(0)
    cls, sep, pad, msk = 1, 2, 0, 3
    lengths = [12, 30, 3, 100]
    width = max(lengths) + 2
    ids = torch.full((4, width), pad)
    mask = torch.zeros((4, width), dtype=torch.long)
    for row, n in enumerate(lengths):
        ids[row, : n + 2] = torch.tensor(
            [cls] + list(range(10, 10 + n)) + [sep]
        )
        mask[row, : n + 2] = 1
    random_ids = torch.arange(10, 500)
    cids, labels = mask_tokens(
        ids,
        mask,
        [cls, sep, pad, msk],
        msk,
        random_ids,
        mask_prob=0.2,
        max_predictions=15,
        generator=gen,
    )
    chosen = labels != -100
    # round(0.2 n), at least 1, at most the cap
    assert chosen.sum(1).tolist() == [2, 6, 1, 15]
    assert torch.equal(labels[chosen], ids[chosen])
    assert not chosen[ids == cls].any() and not chosen[ids == sep].any()
    assert not chosen[mask == 0].any()
    # unchosen positions are never corrupted
    assert torch.equal(cids[~chosen], ids[~chosen])


def test_masking_replacement_proportions_are_bert_s():
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(10, 1000, (400, 100))
    mask = torch.ones_like(ids)
    cids, labels = mask_tokens(
        ids,
        mask,
        [0, 1, 2, 3],
        3,
        torch.arange(10, 1000),
        mask_prob=0.2,
        max_predictions=80,
        generator=gen,
    )
    chosen = labels != -100
    assert chosen.sum().item() == 400 * 20
    as_mask = (cids[chosen] == 3).float().mean().item()
    kept = (cids[chosen] == ids[chosen]).float().mean().item()
    assert abs(as_mask - 0.8) < 0.02
    # "kept" includes random draws that hit the original token (~0.1%)
    assert abs(kept - 0.1) < 0.02
    assert abs(1 - as_mask - kept - 0.1) < 0.02


def test_masking_is_deterministic_and_checks_shapes():
    ids = torch.randint(10, 100, (8, 20))
    mask = torch.ones_like(ids)
    a = mask_tokens(
        ids,
        mask,
        [0],
        3,
        torch.arange(10, 100),
        generator=torch.Generator().manual_seed(5),
    )
    b = mask_tokens(
        ids,
        mask,
        [0],
        3,
        torch.arange(10, 100),
        generator=torch.Generator().manual_seed(5),
    )
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(ValueError, match="differ in shape"):
        mask_tokens(ids, mask[:, :5], [0], 3, torch.arange(10, 100))


# ---------------------------------------------------------------------- TLM
def test_tlm_sequences_hold_both_sides_in_random_order(
    small_corpus, small_tokenizer
):
    tok = small_tokenizer
    corpus = small_corpus.subset(["deu"])
    data = PretrainingData(
        corpus, tok, max_length=24, language_alpha=0.5, tlm_fraction=1.0
    )
    seqs = data.sequences(np.random.default_rng(0), 300)
    sep = tok.sep_token_id
    xx_first = en_first = 0
    xx_set = {
        tuple(tok(t, add_special_tokens=False)["input_ids"][:10])
        for t in corpus.xx
    }
    for seq in seqs:
        assert len(seq) <= 24
        assert seq[0] == tok.cls_token_id and seq[-1] == sep
        assert seq.count(sep) == 2
        first = tuple(seq[1 : seq.index(sep)][:10])
        if first in xx_set:
            xx_first += 1
        else:
            en_first += 1
    assert xx_first > 100 and en_first > 100  # both orders occur
    mono = PretrainingData(corpus, tok, 24, 0.5, tlm_fraction=0.0)
    for seq in mono.sequences(np.random.default_rng(0), 50):
        assert seq.count(sep) == 1 and len(seq) <= 24


def test_stage_plan_follows_the_paper_proportions():
    plan = stage_plan(PretrainConfig(num_layers=12, max_steps=3000))
    assert plan == [(3, 400), (6, 800), (12, 1800)]
    assert stage_plan(
        PretrainConfig(num_layers=8, stacking=False, max_steps=70)
    ) == [(8, 70)]
    assert stage_plan(PretrainConfig(num_layers=4, stage_steps=[1, 2, 3])) == [
        (1, 1),
        (2, 2),
        (4, 3),
    ]


@pytest.mark.parametrize(
    "bad,match",
    [
        (dict(num_layers=6), "divisible by 4"),
        (dict(num_layers=4, stage_steps=[5, 5]), "needs 3 value"),
        (dict(mask_prob=0.0), "mask_prob"),
        (dict(max_predictions=0), "max_predictions"),
        (dict(tlm_fraction=1.5), "tlm_fraction"),
        (dict(model_preset="huge"), "unknown model preset"),
        (dict(languages="deu"), "list of codes"),
    ],
)
def test_invalid_configs_are_rejected(bad, match):
    config = PretrainConfig(**{"num_layers": 4, **bad})
    with pytest.raises(ValueError, match=match):
        config.validate()


# ------------------------------------------- checkpoint, init, resume, CLI
def test_checkpoint_initialises_the_dual_encoder(small_corpus, tmp_path):
    from transformers import BertForMaskedLM

    from labse_lite.train import TrainConfig, train

    pretrain(
        PretrainConfig(
            output_dir=str(tmp_path / "pt"),
            vocab_size=1500,
            model_preset="tiny",
            num_layers=4,
            stage_steps=[4, 4, 4],
            batch_size=8,
            heldout_pairs=50,
            progress=False,
        ),
        corpus=small_corpus,
    )
    mlm = BertForMaskedLM.from_pretrained(str(tmp_path / "pt" / "model"))
    seen = {}

    def grab(step, logs):
        pass

    config = TrainConfig(
        output_dir=str(tmp_path / "ft"),
        init_model=str(tmp_path / "pt" / "model"),
        pooling="mean",
        batch_size=8,
        max_steps=1,
        lr=1e-12,
        warmup_steps=0,
        final_eval=False,
        progress=False,
        checkpoint_every=0,
    )
    train(config, corpus=small_corpus, on_step=grab)
    from labse_lite.model import DualEncoder

    model = DualEncoder.from_pretrained(str(tmp_path / "ft" / "model"))
    assert model.encoder.config.num_hidden_layers == 4
    assert getattr(model.encoder, "pooler", None) is None
    ours = model.encoder.state_dict()
    for key, value in mlm.bert.state_dict().items():
        if key.startswith("pooler"):
            continue
        seen[key] = True
        assert torch.allclose(ours[key], value, atol=1e-6), key
    assert len(seen) == len(ours)


def test_resume_skips_finished_stages_and_gives_the_same_model(
    small_corpus, tmp_path
):
    from safetensors.torch import load_file

    def run(out):
        return pretrain(
            PretrainConfig(
                output_dir=str(out),
                vocab_size=1500,
                tokenizer=None,
                model_preset="tiny",
                num_layers=4,
                stage_steps=[6, 6, 6],
                batch_size=8,
                dropout=0.0,
                heldout_pairs=50,
                progress=False,
            ),
            corpus=small_corpus,
        )

    first = run(tmp_path / "a")
    # simulate an interruption during the last stage, then rerun
    import shutil

    shutil.rmtree(tmp_path / "a" / "stage_2")
    shutil.rmtree(tmp_path / "a" / "model")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    second = run(tmp_path / "b")
    assert [s["depth"] for s in second["stages"]] == [1, 2, 4]
    a = load_file(str(tmp_path / "a" / "stage_1" / "model.safetensors"))
    b_final = load_file(str(tmp_path / "b" / "model" / "model.safetensors"))
    assert set(a) != set(b_final)  # the resumed run stacked to 4
    log = [
        json.loads(l)
        for l in (tmp_path / "b" / "log.jsonl").read_text().splitlines()
    ]
    assert log[-1]["step"] == 18 and log[-1]["depth"] == 4
    # the resumed last stage equals the uninterrupted one
    assert (
        abs(
            first["stages"][2]["heldout_loss"]
            - second["stages"][2]["heldout_loss"]
        )
        < 1e-4
    )


@pytest.mark.slow
def test_cli_pretrain_and_bad_flags(tmp_path):
    out = tmp_path / "cli"
    args = [
        sys.executable,
        "-m",
        "labse_lite",
        "pretrain",
        "--output-dir",
        str(out),
        "--languages",
        "afr",
        "--vocab-size",
        "1000",
        "--model-preset",
        "tiny",
        "--num-layers",
        "4",
        "--stage-steps",
        "2",
        "2",
        "2",
        "--batch-size",
        "8",
        "--heldout-pairs",
        "20",
        "--no-progress",
    ]
    run = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout)
    assert report["plan (depth, steps)"] == [[1, 2], [2, 2], [4, 2]]
    assert (out / "model" / "config.json").is_file()
    bad = subprocess.run(
        args[:4] + ["--output-dir", str(tmp_path / "x"), "--num-layers", "6"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2
    assert "divisible by 4" in bad.stderr


@pytest.mark.distributed
def test_pretrain_under_torchrun(tmp_path):
    """Through the chapters' launcher: 2 processes share a global batch of
    8 sequences; the pairs travel as a file, the flags as the CLI's."""
    from labse_lite.data import load_train_pairs
    from labse_lite.launch import run_pretraining

    out = tmp_path / "ddp"
    config = PretrainConfig(
        output_dir=str(out),
        vocab_size=1000,
        model_preset="tiny",
        num_layers=4,
        stage_steps=[2, 2, 2],
        batch_size=8,
        heldout_pairs=20,
        progress=False,
        device="cpu",
    )
    summary = run_pretraining(config, load_train_pairs(["afr"]), launch=2)
    assert summary["world_size"] == 2
    assert summary["sequences_per_step"] == 8
    assert summary["config"]["batch_size"] == 4  # per rank
    assert summary["languages"] == ["afr"]
    assert (out / "model" / "model.safetensors").is_file()


def test_hub_style_checkpoint_and_its_random_twin(
    small_corpus, small_tokenizer, tmp_path
):
    """The colab preset's path on a local copy: an mBERT-like checkpoint
    (``BertForPreTraining``: pooler, MLM and NSP heads) as the pre-trained
    initialisation, and the same architecture + vocabulary with random
    weights, in one grid (as the pre-training chapter runs them)."""
    from transformers import BertForPreTraining

    from labse_lite.book.experiments import run_grid
    from labse_lite.model import DualEncoder, bert_config
    from labse_lite.train import TrainConfig

    hub = tmp_path / "bert-base-multilingual-cased"
    BertForPreTraining(
        bert_config(len(small_tokenizer), "tiny")
    ).save_pretrained(hub)
    small_tokenizer.save_pretrained(hub)
    base = TrainConfig(
        tokenizer=str(hub),
        model_preset="tiny",
        pooling="cls",
        batch_size=8,
        max_steps=2,
        warmup_steps=0,
        checkpoint_every=0,
        eval_languages=["deu"],
        final_eval_languages=["deu"],
    )
    bench = small_corpus.subset(["deu"])
    rows = run_grid(
        base,
        {"init_model": [str(hub), None], "seed": [0]},
        corpus=small_corpus,
        benchmark=bench,
        output_root=tmp_path / "grid",
        progress=False,
    )
    assert [r["init_model"] for r in rows] == [str(hub), None]
    pre = DualEncoder.from_pretrained(rows[0]["output_dir"] + "/model")
    rnd = DualEncoder.from_pretrained(rows[1]["output_dir"] + "/model")
    assert getattr(pre.encoder, "pooler", None) is None
    assert (
        pre.encoder.config.vocab_size
        == rnd.encoder.config.vocab_size
        == len(small_tokenizer)
    )
    assert pre.encoder.config.num_hidden_layers == 2


def test_heldout_split_is_by_sentence_not_by_pair():
    """No held-out sentence (either side) is ever read in pre-training,
    even when other pairs share it (issue 13: 130 of 500 English sides of
    the chapter's held-out set were also in training pairs)."""
    from labse_lite.data import load_train_pairs, normalize_for_overlap
    from labse_lite.pretrain import split_heldout

    corpus = load_train_pairs(["deu", "fra", "spa", "rus", "jpn", "tur"])
    held, train = split_heldout(corpus, 500, seed=0)
    assert len(held) == 500
    held_keys = {normalize_for_overlap(t) for t in held.xx + held.en}
    train_keys = {normalize_for_overlap(t) for t in train.xx + train.en}
    assert not held_keys & train_keys
    # What a split by pair would have shared, so the test can fail.
    rest = len(corpus) - len(held) - len(train)
    assert rest > 100, rest
