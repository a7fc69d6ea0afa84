"""Hard negatives (LaBSE App. B): mined by the model, right rows, in the
loss as extra x→y candidates, and a run that uses them learns."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labse_lite.data import load_tatoeba
from labse_lite.distributed import DistContext, global_batch_loss
from labse_lite.hard_negatives import embed_token_ids, mine_hard_negatives
from labse_lite.losses import additive_margin_softmax_loss
from labse_lite.train import TrainConfig, train


def test_mined_negatives_are_the_nearest_other_english_sentences(
    tiny_model, small_corpus
):
    n = 300
    xx_ids = [
        tiny_model.tokenizer(t, truncation=True, max_length=24)["input_ids"]
        for t in small_corpus.xx[:n]
    ]
    en_ids = [
        tiny_model.tokenizer(t, truncation=True, max_length=24)["input_ids"]
        for t in small_corpus.en[:n]
    ]
    # Pairs 0 and 1 share their English text: neither may be the other's
    # negative (it would be a translation, a false negative).
    keys = np.arange(n)
    keys[1] = keys[0]
    en_ids[1] = en_ids[0]
    rows = np.arange(0, 200)
    hard = mine_hard_negatives(tiny_model, xx_ids, en_ids, keys, rows, 2)
    assert hard.shape == (n, 2)
    assert (hard[200:] == -1).all() and (hard[:200] >= 0).all()
    assert (hard[:200] < 200).all()  # from the rows' English
    assert not (keys[hard[:200]] == keys[:200, None]).any()
    # Brute force: the two nearest distinct-text English sentences.
    q = embed_token_ids(tiny_model, [xx_ids[i] for i in rows])
    t = embed_token_ids(tiny_model, [en_ids[i] for i in rows])
    sims = q @ t.T
    sims[np.arange(200), np.arange(200)] = -np.inf  # own translation
    sims[0, 1] = sims[1, 0] = -np.inf  # same text
    sims[:, 1] = -np.inf  # duplicate of row 0
    want = np.argsort(-sims, axis=1, kind="stable")[:, :2]
    assert (
        np.sort(hard[:200], axis=1) == np.sort(want, axis=1)
    ).mean() > 0.99  # float32 ties
    with pytest.raises(ValueError, match="count"):
        mine_hard_negatives(tiny_model, xx_ids, en_ids, keys, rows, 0)


def test_extra_candidates_enter_only_the_x_to_y_direction():
    g = torch.Generator().manual_seed(0)
    x, y, neg = (
        F.normalize(
            torch.randn(m, 5, generator=g, dtype=torch.float64), dim=-1
        )
        for m in (4, 4, 8)
    )
    ctx = DistContext(rank=0, world_size=1)
    got = global_batch_loss(
        x, y, ctx, extra_candidates=neg, margin=0.3, scale=10.0
    )
    eye = torch.eye(4, dtype=torch.float64)
    fwd = F.cross_entropy(
        10 * (x @ torch.cat([y, neg]).T - 0.3 * F.pad(eye, (0, 8))),
        torch.arange(4),
    )
    bwd = F.cross_entropy(10 * (y @ x.T - 0.3 * eye), torch.arange(4))
    assert abs(got.item() - (fwd + bwd).item()) < 1e-12
    plain = additive_margin_softmax_loss(x, y, margin=0.3, scale=10.0)
    assert got.item() > plain.item()  # more negatives, larger loss


def test_a_run_with_hard_negatives_mines_once_and_learns(
    tmp_path, small_corpus, small_tokenizer
):
    small_tokenizer.save_pretrained(str(tmp_path / "tok"))
    bench = load_tatoeba(["deu", "fra"])
    cfg = TrainConfig(
        output_dir=str(tmp_path / "run"),
        model_preset="tiny",
        tokenizer=str(tmp_path / "tok"),
        max_length=24,
        batch_size=16,
        max_steps=30,
        warmup_steps=5,
        lr=2e-3,
        checkpoint_every=0,
        eval_languages=["deu", "fra"],
        progress=False,
        threads=1,
        log_every=1,
        hard_negatives=2,
        hard_negative_start=15,
    )
    summary = train(cfg, small_corpus, benchmark=bench)
    logs = [json.loads(line) for line in open(tmp_path / "run" / "log.jsonl")]
    assert summary["steps"] == 30
    assert all(np.isfinite(entry["loss"]) for entry in logs)
    # From step 16 on, each batch of 16 pairs brings 2 x 16 negatives.
    assert [entry.get("hard_negatives", 0) for entry in logs] == [0] * 15 + [
        32
    ] * 15
    assert summary["eval"]["tatoeba"]["deu"]["xx2en"] > 1.0
    with pytest.raises(ValueError, match="randomly initialised"):
        TrainConfig(hard_negatives=1).validate()
    with pytest.raises(ValueError, match="hard_negative_start"):
        TrainConfig(
            hard_negatives=1, hard_negative_start=5, max_steps=5
        ).validate()
