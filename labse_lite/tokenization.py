"""A cased multilingual WordPiece vocabulary, trained the way LaBSE's was.

LaBSE learns its 501k-token vocabulary on its own training data, sampling
each language with probability proportional to ``n ** alpha`` with the
smoothing exponent ``alpha = 0.3`` (Feng et al., 2022), so that tail
languages and their scripts get tokens.  :func:`train_wordpiece` does the
same at laptop scale with Hugging Face ``tokenizers`` and returns a
``transformers`` fast tokenizer; :func:`load_tokenizer` loads any saved or
hub tokenizer (e.g. mBERT's) by name or path.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

__all__ = [
    "language_sampling_probs",
    "smoothed_corpus",
    "train_wordpiece",
    "script_alphabet",
    "load_tokenizer",
    "unk_rate",
    "unk_rate_by_language",
]

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def language_sampling_probs(
    counts: Mapping[str, int], alpha: float
) -> dict[str, float]:
    """p(lang) ∝ n_lang ** alpha (alpha=1: proportional, 0: uniform)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if not counts or any(n <= 0 for n in counts.values()):
        raise ValueError("counts must be a non-empty map of positive sizes")
    weights = {lang: n**alpha for lang, n in counts.items()}
    total = sum(weights.values())
    return {lang: w / total for lang, w in weights.items()}


def smoothed_corpus(
    texts_by_language: Mapping[str, Sequence[str]],
    alpha: float = 0.3,
    size: int | None = None,
    seed: int = 0,
) -> list[str]:
    """Resample sentences so language ``l`` makes up ``p(l) ∝ n_l**alpha``.

    ``size`` is the number of sentences drawn in all (default: as many as
    the input has).  Within a language, sentences are drawn without
    replacement as long as possible, i.e. small languages are repeated and
    large ones subsampled.
    """
    counts = {
        lang: len(texts)
        for lang, texts in texts_by_language.items()
        if len(texts) > 0
    }
    probs = language_sampling_probs(counts, alpha)
    size = size or sum(counts.values())
    rng = np.random.default_rng(seed)
    out: list[str] = []
    for lang in sorted(probs):
        texts = texts_by_language[lang]
        want = max(1, int(round(probs[lang] * size)))
        reps = math.ceil(want / len(texts))
        order = np.concatenate(
            [rng.permutation(len(texts)) for _ in range(reps)]
        )[:want]
        out.extend(texts[i] for i in order)
    return out


def script_alphabet(texts, max_code_point: int = 0x3000) -> list[str]:
    """Every letter, mark and digit of each 128-code-point block that the
    texts use, below ``max_code_point`` (alphabetic scripts; CJK ideographs
    are left to the corpus).

    Given to the trainer as its initial alphabet, this keeps a word from
    becoming ``[UNK]`` just because one of its letters (say a rare Tamil
    vowel sign) was missing from the few training sentences of its language.
    """
    import unicodedata

    blocks = {
        ord(ch) // 128
        for text in texts
        for ch in text
        if ord(ch) < max_code_point
    }
    alphabet = []
    for block in sorted(blocks):
        for cp in range(block * 128, block * 128 + 128):
            if unicodedata.category(chr(cp))[0] in "LMN":
                alphabet.append(chr(cp))
    return alphabet


def _bert_wordpiece(vocab: Mapping[str, int] | None = None):
    """An (untrained) cased BERT-style WordPiece tokenizer: NFC, BERT's
    cleaning and CJK spacing without lower-casing or accent stripping,
    BERT's pre-tokenizer."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    tok = Tokenizer(
        models.WordPiece(
            vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100
        )
    )
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.NFC(),
            normalizers.BertNormalizer(
                clean_text=True,
                handle_chinese_chars=True,
                strip_accents=False,
                lowercase=False,
            ),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return tok


def _letters(tok, texts: Sequence[str]) -> tuple[set[str], set[str]]:
    """The characters of the words the trainer counts (the texts normalised
    and pre-tokenised by ``tok``): all of them, and those that occur after
    a word's first character (the trainer gives these a ``##`` form)."""
    # Normalisation and pre-tokenisation act within space-separated
    # chunks, so each distinct chunk needs to be processed only once.
    chunks = set()
    for text in set(texts):
        chunks.update(text.split(" "))
    words = {
        word
        for word, _ in tok.pre_tokenizer.pre_tokenize_str(
            tok.normalizer.normalize_str(" ".join(chunks))
        )
    }
    return (
        {ch for word in words for ch in word},
        {ch for word in words for ch in word[1:]},
    )


def train_wordpiece(
    texts_by_language: Mapping[str, Sequence[str]],
    vocab_size: int = 32000,
    alpha: float = 0.3,
    corpus_size: int | None = None,
    min_frequency: int = 2,
    seed: int = 0,
    model_max_length: int = 128,
):
    """Train a cased WordPiece vocabulary with language smoothing ``alpha``.

    Returns a :class:`transformers.PreTrainedTokenizerFast` with BERT's
    special tokens and ``[CLS] ... [SEP]`` post-processing.  Pre-tokenisation
    is BERT's (whitespace and punctuation, every CJK ideograph its own word);
    no lower-casing and no accent stripping (LaBSE's vocabulary is cased).

    Reproducibility: the vocabulary is a function of the texts and the
    arguments only (not of the process, ``PYTHONHASHSEED`` or thread
    count), and token ids are assigned canonically (special tokens, then
    sorted).
    """
    from tokenizers import decoders, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < len(SPECIAL_TOKENS) + 100:
        raise ValueError(f"vocab_size={vocab_size} is too small")
    corpus = smoothed_corpus(texts_by_language, alpha, corpus_size, seed)
    alphabet = script_alphabet(corpus)
    tok = _bert_wordpiece()
    # The trainer starts from every letter of the words (and of the
    # script alphabet) and the "##x" form of every letter that occurs
    # inside a word, then merges the most frequent pair again and again.
    # It breaks ties between pairs of equal count by the pieces' numbers,
    # and numbers the "##x" forms in the order it meets them in its hash
    # map of words: a new order in every process, so two runs learned
    # different rare merges.  Handing it all its starting pieces as fixed
    # tokens, letters then "##x" forms, each sorted, fixes the numbers and
    # so the tie-breaks: the vocabulary (of the same size) is the one the
    # trainer learns when it happens to number the "##x" forms in order.
    letters, inner = _letters(tok, corpus)
    start = sorted(letters | set(alphabet)) + [
        f"##{ch}" for ch in sorted(inner)
    ]
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS + start,
        continuing_subword_prefix="##",
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer, length=len(corpus))
    # Add the continuation form ("##x") of every letter of the alphabet,
    # so any word of a seen script can be spelled out letter by letter
    # instead of becoming [UNK].
    #
    # WordPiece lookup does not depend on ids: number them canonically
    # (special tokens first, then sorted), in a fresh tokenizer (the
    # trained one made the starting pieces special tokens).
    pieces = set(tok.get_vocab()) | {f"##{ch}" for ch in alphabet}
    ordered = SPECIAL_TOKENS + sorted(pieces - set(SPECIAL_TOKENS))
    tok = _bert_wordpiece({piece: i for i, piece in enumerate(ordered)})
    tok.add_special_tokens(SPECIAL_TOKENS)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=model_max_length,
    )


def load_tokenizer(name_or_path: str, **kwargs):
    """Load a saved or hub tokenizer (``bert-base-multilingual-cased``...)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(name_or_path, **kwargs)


def unk_rate(tokenizer, texts: Sequence[str]) -> float:
    """Fraction of (non-special) tokens that are ``[UNK]``."""
    unk = tokenizer.unk_token_id
    enc = [
        e.ids
        for e in tokenizer.backend_tokenizer.encode_batch(
            list(texts), add_special_tokens=False
        )
    ]
    total = sum(len(ids) for ids in enc)
    if total == 0:
        return 0.0
    return sum(ids.count(unk) for ids in enc) / total


def unk_rate_by_language(
    tokenizer, texts_by_language: Mapping[str, Sequence[str]]
) -> dict[str, float]:
    """:func:`unk_rate` for each language, sorted by language code."""
    return {
        lang: unk_rate(tokenizer, texts)
        for lang, texts in sorted(texts_by_language.items())
    }
