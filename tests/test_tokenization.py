"""WordPiece vocabulary with language smoothing."""

import pytest

from labse_lite.tokenization import (
    language_sampling_probs,
    load_tokenizer,
    smoothed_corpus,
    train_wordpiece,
    unk_rate,
)


def test_sampling_probabilities():
    p = language_sampling_probs({"a": 1000, "b": 10}, alpha=0.3)
    assert p["a"] / p["b"] == pytest.approx(100**0.3)
    assert sum(p.values()) == pytest.approx(1.0)
    uniform = language_sampling_probs({"a": 1000, "b": 10}, alpha=0.0)
    assert uniform["a"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="alpha"):
        language_sampling_probs({"a": 1}, alpha=1.5)
    with pytest.raises(ValueError, match="positive"):
        language_sampling_probs({"a": 0}, alpha=0.3)


def test_smoothed_corpus_upsamples_small_languages():
    texts = {"big": [f"b{i}" for i in range(1000)], "small": ["s0", "s1"]}
    corpus = smoothed_corpus(texts, alpha=0.3, size=2000, seed=1)
    n_small = sum(t.startswith("s") for t in corpus)
    p = language_sampling_probs({"big": 1000, "small": 2}, 0.3)
    assert n_small == round(p["small"] * 2000)
    assert n_small > 2 * 2  # far more than its natural share (0.2%)
    assert smoothed_corpus(texts, 0.3, 2000, seed=1) == corpus


def test_smoothing_lowers_unk_rate_of_a_tail_script():
    """Footnote 17's point: without smoothing a tail language's script is
    barely in the vocabulary."""
    big = [f"word{i} common{i % 50} text" for i in range(3000)]
    greek = ["καλημέρα κόσμε", "ευχαριστώ πολύ", "πού είναι το σπίτι"]
    texts = {"eng": big, "ell": greek}
    plain = train_wordpiece(texts, vocab_size=400, alpha=1.0)
    smooth = train_wordpiece(texts, vocab_size=400, alpha=0.3)
    assert unk_rate(smooth, greek) <= unk_rate(plain, greek)
    # Letters of a seen script never make a word [UNK].
    assert unk_rate(smooth, ["ψυχή ζωή"]) == 0.0


def test_tokenizer_is_cased_and_round_trips(small_tokenizer, tmp_path):
    a = small_tokenizer.tokenize("Haus")
    b = small_tokenizer.tokenize("haus")
    assert a != b
    ids = small_tokenizer("Guten Tag")["input_ids"]
    assert ids[0] == small_tokenizer.cls_token_id
    assert ids[-1] == small_tokenizer.sep_token_id
    small_tokenizer.save_pretrained(tmp_path / "tok")
    again = load_tokenizer(str(tmp_path / "tok"))
    assert again("Guten Tag")["input_ids"] == ids


def test_vocab_size_validation():
    with pytest.raises(ValueError, match="too small"):
        train_wordpiece({"eng": ["a b c"]}, vocab_size=10)


def test_registered_starting_pieces_are_the_trainers_own():
    """train_wordpiece hands the trainer its starting pieces (letters and
    "##x" forms) in sorted order, so that ties break the same way in every
    process (issue 27).  They must be exactly the pieces the trainer starts
    from, or the vocabulary would change size."""
    from tokenizers import trainers

    from labse_lite.tokenization import _bert_wordpiece, _letters

    texts = [
        "Grüße aus Köln, Ma\u0308dchen!",
        "東京に行く x\u00a0yz",
        "naïve cafe\u0301 (l'été)",
        "a\u200bb  c\td",
        "Ύ ωραία",
    ]
    tok = _bert_wordpiece()
    # vocab_size 1: no merges, only the starting pieces
    tok.train_from_iterator(
        texts,
        trainers.WordPieceTrainer(
            vocab_size=1, continuing_subword_prefix="##", show_progress=False
        ),
    )
    letters, inner = _letters(tok, texts)
    assert set(tok.get_vocab()) == letters | {f"##{ch}" for ch in inner}
    assert "ä" in letters and "\u0308" not in letters  # NFC
    assert "東" in letters and "##京" not in tok.get_vocab()  # CJK: 1 char


def test_vocabulary_is_the_same_in_every_call():
    """The trainer meets the words in the order of a hash map seeded anew
    for every map; it used to break ties between merges by that order, so
    two calls on these texts (all merges tie) gave different vocabularies
    (issue 27).  Now every call, and any order of the texts, gives one."""
    import random

    texts = [f"ab{c}{d} {d}{c}ba" for c in "cdefgh" for d in "ijklmn"]
    shuffled = texts[:]
    random.Random(1).shuffle(shuffled)
    vocabs = [
        train_wordpiece(
            {"x": t}, vocab_size=150, min_frequency=1, alpha=1.0
        ).get_vocab()
        for t in (texts, texts, shuffled)
    ]
    assert vocabs[0] == vocabs[1] == vocabs[2]
