"""DualEncoder: poolings, encode, save/load, bad input."""

import pytest
import torch

from labse_lite.model import MODEL_PRESETS, DualEncoder, bert_config


def test_presets_have_the_published_shapes():
    assert MODEL_PRESETS["labse-base"] == dict(
        num_hidden_layers=12,
        hidden_size=768,
        num_attention_heads=12,
        intermediate_size=3072,
    )
    for name, hidden, heads in (
        ("lealla-small", 128, 8),
        ("lealla-base", 192, 12),
        ("lealla-large", 256, 8),
    ):
        shape = MODEL_PRESETS[name]
        assert shape["num_hidden_layers"] == 24
        assert shape["hidden_size"] == hidden
        assert shape["num_attention_heads"] == heads
        assert shape["intermediate_size"] == 4 * hidden
    with pytest.raises(ValueError, match="unknown model preset"):
        bert_config(100, "huge")
    with pytest.raises(ValueError, match="multiple"):
        bert_config(100, "tiny", hidden_size=65)


@pytest.mark.parametrize("pooling", ["cls", "pooler", "mean", "max"])
def test_poolings_give_unit_vectors(small_tokenizer, pooling):
    model = DualEncoder.from_config(
        small_tokenizer, "tiny", pooling=pooling, max_length=16
    )
    emb = model.encode(["Guten Morgen.", "Ich bin müde und gehe schlafen."])
    assert emb.shape == (2, 64)
    assert torch.allclose(emb.norm(dim=1), torch.ones(2), atol=1e-5)


def test_mean_and_max_pooling_ignore_padding(tiny_model):
    ids = tiny_model.tokenize(["kurz", "ein deutlich längerer Satz hier"])
    alone, _ = tiny_model.collate(ids[:1])
    padded, mask = tiny_model.collate(ids)
    tiny_model.eval()
    for pooling in ("mean", "max", "cls"):
        tiny_model.pooling = pooling
        with torch.no_grad():
            a = tiny_model(alone, torch.ones_like(alone))
            b = tiny_model(padded, mask)[:1]
        assert torch.allclose(a, b, atol=1e-5), pooling


def test_encode_keeps_input_order_and_ignores_batch_size(
    tiny_model, small_corpus
):
    sents = small_corpus.xx[:50]
    whole = tiny_model.encode(sents, batch_size=64)
    pieces = torch.cat([tiny_model.encode([s]) for s in sents[:5]])
    small = tiny_model.encode(sents, batch_size=3)
    assert torch.allclose(whole[:5], pieces, atol=1e-5)
    assert torch.allclose(whole, small, atol=1e-5)


def test_encode_in_bf16_is_close_to_fp32(tiny_model, small_corpus):
    """bf16 autocast keeps ~3 significant digits per product: the unit
    embeddings agree with fp32 to cosine > 0.99 but are not identical,
    and they come back as fp32 unit vectors."""
    sents = small_corpus.xx[:40]
    fp32 = tiny_model.encode(sents)
    bf16 = tiny_model.encode(sents, precision="bf16")
    assert bf16.dtype == torch.float32
    assert torch.allclose(bf16.norm(dim=1), torch.ones(40), atol=1e-3)
    cos = (fp32 * bf16).sum(1)
    assert cos.min() > 0.99, cos.min()
    assert not torch.equal(fp32, bf16)  # bf16 really was used
    with pytest.raises(ValueError, match="precision"):
        tiny_model.encode(sents, precision="int8")


def test_projection_and_round_trip(small_tokenizer, tmp_path, small_corpus):
    model = DualEncoder.from_config(
        small_tokenizer,
        "tiny",
        pooling="cls",
        projection_dim=16,
        max_length=20,
    )
    before = model.encode(small_corpus.xx[:20])
    assert before.shape == (20, 16)
    model.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").is_file()
    loaded = DualEncoder.from_pretrained(tmp_path / "m")
    assert loaded.pooling == "cls" and loaded.max_length == 20
    assert torch.allclose(
        before, loaded.encode(small_corpus.xx[:20]), atol=1e-6
    )


def test_wraps_a_plain_transformers_checkpoint(small_tokenizer, tmp_path):
    """The hub path (``AutoModel``) on a local copy of a BERT checkpoint."""
    from transformers import BertModel

    config = bert_config(len(small_tokenizer), "tiny")
    BertModel(config).save_pretrained(tmp_path / "bert")
    small_tokenizer.save_pretrained(tmp_path / "bert")
    model = DualEncoder.from_pretrained(tmp_path / "bert", pooling="pooler")
    assert model.encode(["Hallo Welt."]).shape == (1, 64)
    with pytest.raises(FileNotFoundError, match="holds no model"):
        DualEncoder.from_pretrained(tmp_path)


def test_bad_input(tiny_model):
    with pytest.raises(TypeError, match="single string"):
        tiny_model.encode("a sentence")
    with pytest.raises(TypeError, match="sentence 1 is NoneType"):
        tiny_model.encode(["fine", None])
    with pytest.raises(ValueError, match="sentence 0 is empty"):
        tiny_model.encode(["   ", "x"])
    with pytest.raises(ValueError, match="batch_size"):
        tiny_model.encode(["x"], batch_size=0)
    with pytest.raises(ValueError, match="pooling"):
        DualEncoder(tiny_model.encoder, tiny_model.tokenizer, pooling="sum")


def test_over_long_sentences_are_truncated_with_a_warning(tiny_model):
    long = " ".join(["Wort"] * 200)
    with pytest.warns(UserWarning, match="1 of 2 sentences .* truncated"):
        emb = tiny_model.encode([long, "kurz"])
    ids = tiny_model.tokenize([long])[0]
    assert len(ids) == tiny_model.max_length
    assert ids[-1] == tiny_model.tokenizer.sep_token_id
    assert torch.isfinite(emb).all()


def test_pooling_a_lower_hidden_layer(small_tokenizer, small_corpus, tmp_path):
    """hidden_layer=-2 pools the second-to-last layer's states (the blog's
    open idea); it survives saving, and sentence-transformers, which pools
    only the last layer, gets no modules.json for it."""
    torch.manual_seed(0)
    model = DualEncoder.from_config(
        small_tokenizer, "tiny", pooling="mean", max_length=24, hidden_layer=-2
    ).eval()
    ids, mask = model.collate(model.tokenize(small_corpus.en[:6]))
    with torch.no_grad():
        states = model.encoder(
            input_ids=ids, attention_mask=mask, output_hidden_states=True
        ).hidden_states
        m = mask.unsqueeze(-1).float()
        want = torch.nn.functional.normalize(
            (states[-2] * m).sum(1) / m.sum(1), dim=-1
        )
        assert torch.allclose(model(ids, mask), want, atol=1e-6)
        last = (states[-1] * m).sum(1) / m.sum(1)
        assert not torch.allclose(
            model(ids, mask), torch.nn.functional.normalize(last, dim=-1)
        )
    with pytest.warns(UserWarning, match="no modules.json"):
        model.save_pretrained(tmp_path / "m")
    assert not (tmp_path / "m" / "modules.json").exists()
    loaded = DualEncoder.from_pretrained(tmp_path / "m")
    assert loaded.hidden_layer == -2
    with pytest.raises(ValueError, match="hidden_layer"):
        DualEncoder.from_config(small_tokenizer, "tiny", hidden_layer=5)
    with pytest.raises(ValueError, match="pooler"):
        DualEncoder.from_config(
            small_tokenizer, "tiny", pooling="pooler", hidden_layer=-2
        )


class _CountingTokenizer:
    """A tokenizer that records how many sentences each call tokenises."""

    def __init__(self, tokenizer):
        self._tokenizer, self.calls = tokenizer, []

    def __call__(self, sentences, **kwargs):
        self.calls.append(len(sentences))
        return self._tokenizer(sentences, **kwargs)

    def __getattr__(self, name):
        return getattr(self._tokenizer, name)


def test_a_large_input_is_tokenised_once_per_vocabulary(
    tiny_model, small_corpus, monkeypatch
):
    """encode() reuses the untruncated token ids of a large input it has
    seen with the same vocabulary, whatever length it encodes at (every
    run of a sweep embeds the same benchmark); the vectors are those of a
    fresh tokenisation."""
    from labse_lite import model as model_module

    monkeypatch.setattr(model_module, "_CACHE_MIN_SENTENCES", 10)
    monkeypatch.setattr(
        model_module, "_ENCODED_IDS", model_module.ProcessCache(4)
    )
    monkeypatch.setattr(
        model_module, "_SMALL_IDS", model_module.ProcessCache(4)
    )
    counting = _CountingTokenizer(tiny_model.tokenizer)
    monkeypatch.setattr(tiny_model, "tokenizer", counting)
    texts = list(small_corpus.xx[:40])
    first = tiny_model.encode(texts)
    again = tiny_model.encode(texts)
    assert counting.calls == [40] and torch.equal(first, again)
    short = tiny_model.encode(texts, max_length=8)  # another truncation
    assert counting.calls == [40]
    tiny_model.encode(texts[:5])  # small: a cache of its own
    tiny_model.encode(texts[:5])
    assert counting.calls == [40, 5]
    for i in range(5):  # small inputs never push a large one out
        tiny_model.encode(texts[i : i + 2])
    tiny_model.encode(texts)
    assert counting.calls == [40, 5] + [2] * 5
    monkeypatch.setattr(
        model_module, "_ENCODED_IDS", model_module.ProcessCache(4)
    )
    assert torch.equal(short, tiny_model.encode(texts, max_length=8))
    assert not torch.equal(short, first)


def test_encode_length_is_separate_from_the_training_length(
    tiny_model, small_corpus
):
    """``max_length`` of tokenize/encode cuts at the given length, keeps
    [SEP] last, leaves the model's training length alone, and is checked
    against the position table."""
    texts = list(small_corpus.xx[:20])
    lengths = tiny_model.token_lengths(texts)
    raw = tiny_model.tokenizer(texts, add_special_tokens=True)["input_ids"]
    assert lengths.tolist() == [len(x) for x in raw]
    cut = int(lengths.max()) - 1
    ids, n = tiny_model.tokenize(
        texts, return_n_truncated=True, max_length=cut
    )
    assert n == int((lengths > cut).sum()) > 0
    assert max(len(x) for x in ids) == cut
    sep = tiny_model.tokenizer.sep_token_id
    assert all(x[-1] == sep for x in ids)
    trained = tiny_model.max_length
    full = tiny_model.encode(texts, max_length=int(lengths.max()))
    assert tiny_model.max_length == trained
    assert full.shape == (20, tiny_model.embedding_dim)
    limit = tiny_model.position_limit
    with pytest.raises(ValueError, match="position embeddings"):
        tiny_model.encode(texts, max_length=limit + 1)
    with pytest.raises(ValueError, match=">= 3"):
        tiny_model.tokenize(texts, max_length=2)
    with pytest.raises(TypeError, match="int"):
        tiny_model.encode(texts, max_length=32.0)


def test_pad_batch_pads_right_and_masks_exactly_the_tokens():
    from labse_lite.model import pad_batch

    ids = [[5, 6, 7], [8], [], [9, 10, 11, 12]]
    input_ids, mask = pad_batch(ids, pad_id=0)
    assert input_ids.tolist() == [
        [5, 6, 7, 0],
        [8, 0, 0, 0],
        [0, 0, 0, 0],
        [9, 10, 11, 12],
    ]
    assert mask.tolist() == [
        [1, 1, 1, 0],
        [1, 0, 0, 0],
        [0, 0, 0, 0],
        [1, 1, 1, 1],
    ]
    assert input_ids.dtype == mask.dtype == torch.long
    # A pad id that is also a real token id: only the mask tells them apart.
    input_ids, mask = pad_batch([(3, 3), (3,)], pad_id=3)
    assert input_ids.tolist() == [[3, 3], [3, 3]]
    assert mask.tolist() == [[1, 1], [1, 0]]


def test_saved_model_has_a_model_card(small_tokenizer, tmp_path):
    """save_pretrained writes README.md: YAML front matter as
    sentence-transformers cards have, the model's shape, and, when given a
    training summary, how it was trained and its Tatoeba numbers."""
    import json

    from labse_lite.st_format import model_card, write_model_card

    model = DualEncoder.from_config(
        small_tokenizer,
        "tiny",
        pooling="mean",
        projection_dim=16,
        max_length=20,
    )
    model.save_pretrained(tmp_path / "m")
    text = (tmp_path / "m" / "README.md").read_text()
    front, body = text.split("---\n")[1:3]
    assert "library_name: sentence-transformers" in front
    assert "- labse-lite" in front and "- sentence-transformers" in front
    n_params = sum(p.numel() for p in model.parameters())
    for line in (
        "| encoder | bert: 2 layers, hidden size 64, 2 attention "
        "heads, FFN size 128 |",
        "| projection | linear 64 → 16 |",
        "| output | 16-d, L2-normalised",
        f"| vocabulary | {len(small_tokenizer):,} tokens |",
        f"| parameters | {n_params:,} |",
        "| max_length | 20 tokens",
        "| pooling | `mean`",
    ):
        assert line in body, line
    assert "## Training" not in body and "## Tatoeba" not in body

    summary = {
        "config": {
            "languages": ["deu", "fra"],
            "max_steps": 5,
            "lr": 0.002,
            "teacher": None,
        },
        "steps": 5,
        "train_seconds": 90.0,
        "pairs_per_second": 41.7,
        "eval": {
            "tatoeba": {
                "deu": {"xx2en": 50.0, "en2xx": 48.0, "n": 1000},
                "fra": {"xx2en": 40.0, "en2xx": 41.5, "n": 1000},
            },
            "tatoeba_avg_xx2en": {"all": 45.0, "trained": 45.0},
            "tatoeba_avg_en2xx": {"all": 44.75, "trained": 44.75},
        },
    }
    write_model_card(model, tmp_path / "m", summary)
    text = (tmp_path / "m" / "README.md").read_text()
    assert "| languages | 2: deu fra |" in text
    assert (
        "| training time | 1.5 min |" in text
        and "teacher" not in text.split("```json")[0]
    )
    block = text.split("```json\n")[1].split("```")[0]
    assert json.loads(block) == summary["config"]
    assert "(2 languages, 2,000 pairs)" in text
    assert "| deu | 1000 | 50.00 | 48.00 |" in text
    assert "| all | 45.00 | 44.75 |" in text
    assert "| trained | 45.00 | 44.75 |" in text
    # evaluate_tatoeba's result alone: the average over its languages.
    alone = model_card(model, {"tatoeba": summary["eval"]["tatoeba"]})
    assert "| all | 45.00 | 44.75 |" in alone
    # The model still loads, the card changed nothing else.
    assert DualEncoder.from_pretrained(tmp_path / "m").embedding_dim == 16
    # A lower layer's pooling: not a sentence-transformers model.
    lower = DualEncoder.from_config(small_tokenizer, "tiny", hidden_layer=-2)
    front = model_card(lower).split("---\n")[1]
    assert "library_name: labse-lite" in front
    assert "sentence-transformers" not in front
