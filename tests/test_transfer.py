"""English-only transfer helpers: pooling baselines and embedding drift."""

import pytest
import torch

from labse_lite.data import load_tatoeba
from labse_lite.model import DualEncoder
from labse_lite.transfer import embedding_drift, pooling_baselines


@pytest.fixture
def saved_encoder(small_tokenizer, tmp_path):
    torch.manual_seed(0)
    model = DualEncoder.from_config(
        small_tokenizer, "tiny", pooling="mean", max_length=24
    )
    model.save_pretrained(tmp_path / "enc")
    return tmp_path / "enc"


def test_pooling_baselines_are_error_rates_per_pooling(saved_encoder):
    from labse_lite.evaluate import evaluate_tatoeba

    bench = load_tatoeba(["deu", "fra"])
    rates = pooling_baselines(str(saved_encoder), bench, max_length=24)
    assert list(rates) == ["mean", "max", "cls", "mean, layer -2"]
    for name, pooling, layer in (
        ("max", "max", -1),
        ("mean, layer -2", "mean", -2),
    ):
        model = DualEncoder.from_pretrained(
            saved_encoder, pooling=pooling, max_length=24, hidden_layer=layer
        ).eval()
        acc = evaluate_tatoeba(model, bench)
        for lang in ("deu", "fra"):
            assert rates[name][lang] == pytest.approx(100 - acc[lang]["xx2en"])
    # The layer matters: the second-to-last layer gives other vectors.
    # (Comparing the two error rates instead fails now and then: on a
    # random model both can round to the same count of hits.)
    last, lower = (
        DualEncoder.from_pretrained(
            saved_encoder, pooling="mean", max_length=24, hidden_layer=layer
        )
        .eval()
        .encode(bench.xx[:20])
        for layer in (-1, -2)
    )
    assert (last - lower).abs().max() > 1e-3


def test_embedding_drift_sees_moved_english_rows(saved_encoder, small_corpus):
    before = DualEncoder.from_pretrained(saved_encoder)
    after = DualEncoder.from_pretrained(saved_encoder)
    pairs = small_corpus.subset(["deu"])
    same = embedding_drift(before, after, pairs)
    assert same["change"] == pytest.approx(0.0, abs=1e-7)
    # Move every row that only English sentences use: their cosine with the
    # German side must fall.
    english = {i for ids in after.tokenize(pairs.en) for i in ids}
    german = {i for ids in after.tokenize(pairs.xx) for i in ids}
    rows = torch.tensor(sorted(english - german))
    with torch.no_grad():
        table = after.encoder.get_input_embeddings().weight
        table[rows] = torch.randn(len(rows), table.shape[1]) * 5
    moved = embedding_drift(before, after, pairs)
    assert moved["change"] < -0.05
