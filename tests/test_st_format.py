"""sentence-transformers interop, both ways: a labse-lite model loads in
sentence-transformers with the same vectors, and a sentence-transformers
folder in the released LaBSE layout (BERT → CLS → Dense tanh → Normalize)
loads in labse-lite with the same vectors.  Skipped only when
sentence-transformers (in the ``test`` and ``bench`` extras) is not
installed."""

import pytest
import torch

from labse_lite.model import DualEncoder

st = pytest.importorskip("sentence_transformers")

SENTENCES = [
    "Der Hund schläft.",
    "The dog is sleeping.",
    "Bonjour !",
    "Ich habe zwei Katzen und einen Hund.",
    "Merci beaucoup.",
]


def _st_encode(path):
    model = st.SentenceTransformer(str(path), device="cpu")
    return torch.as_tensor(model.encode(SENTENCES, convert_to_numpy=True))


@pytest.mark.parametrize("pooling", ["cls", "pooler", "mean", "max"])
@pytest.mark.parametrize("projection_dim", [None, 16])
def test_saved_model_loads_in_sentence_transformers(
    tmp_path, small_tokenizer, pooling, projection_dim
):
    torch.manual_seed(0)
    model = DualEncoder.from_config(
        small_tokenizer,
        "tiny",
        pooling=pooling,
        projection_dim=projection_dim,
        max_length=24,
        dropout=0.0,
    )
    if pooling == "pooler":  # a pooler that is not the identity-ish init
        torch.nn.init.normal_(model.encoder.pooler.dense.weight, std=0.3)
    model.save_pretrained(tmp_path / "m")
    ours = model.encode(SENTENCES)
    theirs = _st_encode(tmp_path / "m")
    assert theirs.shape == ours.shape == (5, projection_dim or 64)
    assert (theirs - ours).abs().max().item() <= 1e-5
    # ... and our own loader still reads our files first.
    again = DualEncoder.from_pretrained(tmp_path / "m").encode(SENTENCES)
    assert (again - ours).abs().max().item() <= 1e-6


def _labse_layout(tmp_path, small_tokenizer, projection: bool):
    """A sentence-transformers folder built with its own classes: a random
    small BERT, CLS pooling, Dense tanh (LaBSE's), [Dense], Normalize."""
    from sentence_transformers.sentence_transformer import modules as M
    from transformers import BertModel

    from labse_lite.model import bert_config

    torch.manual_seed(1)
    bert_dir = tmp_path / "bert"
    config = bert_config(len(small_tokenizer), "tiny", dropout=0.0)
    BertModel(config).save_pretrained(bert_dir)
    small_tokenizer.save_pretrained(bert_dir)
    pipeline = [
        M.Transformer(str(bert_dir), max_seq_length=24),
        M.Pooling(64, pooling_mode="cls"),
        M.Dense(64, 64, activation_function=torch.nn.Tanh()),
    ]
    if projection:
        pipeline.append(
            M.Dense(64, 12, activation_function=torch.nn.Identity())
        )
    pipeline.append(M.Normalize())
    model = st.SentenceTransformer(modules=pipeline, device="cpu")
    model.save(str(tmp_path / "st"))
    return tmp_path / "st"


@pytest.mark.parametrize("projection", [False, True])
def test_released_labse_layout_loads_in_labse_lite(
    tmp_path, small_tokenizer, projection
):
    path = _labse_layout(tmp_path, small_tokenizer, projection)
    ours = DualEncoder.from_pretrained(path)
    assert ours.pooling == "pooler" and ours.normalize
    assert ours.max_length == 24
    assert ours.embedding_dim == (12 if projection else 64)
    diff = (ours.encode(SENTENCES) - _st_encode(path)).abs().max().item()
    assert diff <= 1e-5
    with pytest.raises(ValueError, match="pooling='pooler'"):
        DualEncoder.from_pretrained(path, pooling="cls")


def test_unsupported_pipelines_are_refused(tmp_path, small_tokenizer):
    import json

    path = _labse_layout(tmp_path, small_tokenizer, projection=False)
    dense = next(path.glob("*_Dense")) / "config.json"
    config = json.loads(dense.read_text())
    config["activation_function"] = "torch.nn.modules.activation.ReLU"
    dense.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="cannot represent"):
        DualEncoder.from_pretrained(path)
    pooling = path / "1_Pooling" / "config.json"
    pooling.write_text(
        json.dumps(
            {
                "word_embedding_dimension": 64,
                "pooling_mode_mean_sqrt_len_tokens": True,
            }
        )
    )
    with pytest.raises(ValueError, match="pooling"):
        DualEncoder.from_pretrained(path)
