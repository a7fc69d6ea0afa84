"""Bitext retrieval evaluation: Tatoeba P@1 and large-pool retrieval.

*Tatoeba* (Artetxe & Schwenk, 2019; Feng et al., 2022): for each
language, every non-English sentence retrieves its nearest English sentence
among the (up to 1000) English sentences of that language's test set
(xx→en), and vice versa (en→xx).  Accuracy is precision at 1.

*Large pool* (in the spirit of the paper's UN task): each non-English
query retrieves among **all distinct English sentences of Tatoeba-v1**
(69,233), so near-misses that a 1000-candidate pool forgives are counted.
A query is right when its top candidate equals its gold English sentence
(after :func:`labse_lite.data.normalize_for_overlap`, so exact duplicates
count as the same candidate).

*Ties: one rule for both.*  Some test sets hold the same sentence twice
(two Tatoeba pairs with the same English side, say).  Identical sentences
get identical vectors, so "the" nearest candidate is a tie between copies.
Everywhere in this module a retrieval is **correct when the retrieved
sentence is the gold sentence or a copy of it** (same
``normalize_for_overlap`` key): in both Tatoeba directions and in the large
pool, which simply holds each distinct English sentence once.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch

from .data import ParallelCorpus, distinct_rows, normalize_for_overlap
from .languages import GROUPS
from .runtime import quiet_truncation

__all__ = [
    "retrieval_accuracy",
    "evaluate_tatoeba",
    "large_pool_accuracy",
    "group_averages",
    "evaluate_all",
    "dev_retrieval",
    "flores_retrieval",
    "headline",
    "auto_encode_length",
    "TRUNCATION_TARGET",
]

# Encode-time length: ``encode_length="auto"`` reads each benchmark at the
# shortest length (not below the training length) that truncates fewer
# than this share of the sentences it embeds.
TRUNCATION_TARGET = 0.05


def _argmax_chunked(
    queries: torch.Tensor, candidates: torch.Tensor, chunk: int = 4096
) -> torch.Tensor:
    """Index of the best candidate per query, in chunks of queries so that
    memory is O(chunk × candidates).  One score buffer is reused for every
    chunk: allocating a fresh (4096 × 69k) matrix per chunk made the kernel
    fault in and zero a gigabyte each time (28 s → 17 s for the large
    pool on 2 cores; the scores are the same, bit for bit)."""
    best = torch.empty(queries.shape[0], dtype=torch.long)
    if queries.shape[0] == 0:
        return best
    buffer = torch.empty(
        min(chunk, queries.shape[0]),
        candidates.shape[0],
        dtype=torch.result_type(queries, candidates),
        device=queries.device,
    )
    with torch.no_grad():
        for start in range(0, queries.shape[0], chunk):
            block = queries[start : start + chunk]
            scores = torch.matmul(
                block, candidates.T, out=buffer[: block.shape[0]]
            )  # (c, C)
            best[start : start + chunk] = scores.argmax(dim=1).cpu()
    return best


def retrieval_accuracy(
    queries: torch.Tensor,
    candidates: torch.Tensor,
    gold: Sequence[int] | torch.Tensor | None = None,
    candidate_keys: Sequence[int] | torch.Tensor | None = None,
) -> float:
    """P@1: fraction of queries whose nearest candidate is ``gold[i]``
    (default: candidate i).  With ``candidate_keys`` (one id per candidate,
    equal ids for copies of one sentence) a query is also right when its
    nearest candidate is a copy of its gold candidate."""
    if queries.shape[0] == 0:
        raise ValueError("no queries to evaluate")
    if gold is None:
        if queries.shape[0] != candidates.shape[0]:
            raise ValueError(
                "without gold indices, queries and candidates "
                "must pair up one to one"
            )
        gold = torch.arange(queries.shape[0])
    gold = torch.as_tensor(gold)
    pred = _argmax_chunked(queries, candidates)
    if candidate_keys is not None:
        keys = torch.as_tensor(candidate_keys)
        if keys.shape[0] != candidates.shape[0]:
            raise ValueError("candidate_keys needs one id per candidate")
        pred, gold = keys[pred], keys[gold]
    return (pred == gold).float().mean().item()


def _sentence_ids(texts: Sequence[str]) -> torch.Tensor:
    """One id per text, equal for copies (``normalize_for_overlap``)."""
    return torch.as_tensor(distinct_rows(texts, normalize_for_overlap)[1])


def auto_encode_length(
    lengths: Sequence[int],
    training_length: int,
    limit: int | None = None,
    target: float = TRUNCATION_TARGET,
) -> int:
    """The shortest length >= ``training_length`` that truncates fewer
    than ``target`` of sentences with these token ``lengths`` ([CLS] and
    [SEP] included), capped at ``limit`` (the position table), where the
    share may then exceed ``target``."""
    if not 0 < target <= 1:
        raise ValueError(f"target must be in (0, 1], got {target}")
    lengths = np.sort(np.asarray(lengths, dtype=np.int64))[::-1]
    allowed = int(np.ceil(target * len(lengths))) - 1  # strictly fewer
    # The (allowed + 1)-th longest: at most ``allowed`` are longer.
    need = int(lengths[allowed]) if 0 <= allowed < len(lengths) else 0
    length = max(need, training_length)
    return min(length, limit) if limit is not None else length


def _encoding(model, text_lists: Sequence[Sequence[str]], encode_length):
    """The length to pass to ``model.encode`` (None: the model's own) and
    a record of it: length, training length and the share of the texts
    truncated at each (shares only for models that count tokens)."""
    training = getattr(model, "max_length", None)
    if not hasattr(model, "token_lengths"):
        # a model that does not count tokens reads at its own length
        if encode_length not in (None, "auto"):
            raise TypeError(
                f"{type(model).__name__} cannot encode at a chosen length"
            )
        return None, {"length": training, "training_length": training}
    if isinstance(encode_length, str) and encode_length != "auto":
        raise ValueError(
            f"encode_length must be None, an int or 'auto', got "
            f"{encode_length!r}"
        )
    if encode_length not in (None, "auto"):
        encode_length = model.checked_length(encode_length)
    lengths = np.concatenate(
        [model.token_lengths(list(t)) for t in text_lists if len(t)]
        or [np.zeros(0, dtype=np.int64)]
    )
    if encode_length == "auto":
        encode_length = auto_encode_length(
            lengths, training, model.position_limit
        )
    length = training if encode_length is None else encode_length
    n = max(len(lengths), 1)
    record = {
        "length": int(length),
        "training_length": int(training),
        "truncated_share": float((lengths > length).sum() / n),
        "truncated_share_at_training_length": float(
            (lengths > training).sum() / n
        ),
        "sentences": int(len(lengths)),
    }
    return encode_length, record


def _encode(model, texts, length, **kwargs):
    """``model.encode``, at ``length`` when one was chosen."""
    if length is not None:
        kwargs["max_length"] = length
    return model.encode(texts, **kwargs)


def _embed_benchmark(
    model,
    corpus: ParallelCorpus,
    batch_size: int,
    show_progress_bar: bool | None,
    pool: ParallelCorpus | None = None,
    encode_length: int | str | None = "auto",
):
    """Embed every non-English sentence of ``corpus`` and each distinct
    English sentence of ``pool`` (default: ``corpus``) once; ``en_index[i]``
    is the row of pair i's English sentence among the pool's, and the last
    item records the encode-time length (:func:`_encoding`)."""
    pool = corpus if pool is None else pool
    texts, rows = distinct_rows(pool.en + corpus.en, normalize_for_overlap)
    n_pool = int(rows[: len(pool.en)].max()) + 1 if len(pool.en) else 0
    en_index = torch.as_tensor(rows[len(pool.en) :])
    missing = (en_index >= n_pool).nonzero()
    if len(missing):
        raise ValueError(
            f"English sentence {corpus.en[int(missing[0])]!r} of the "
            f"queries is not in the candidate pool"
        )
    texts = texts[:n_pool]
    length, encoding = _encoding(model, [corpus.xx, texts], encode_length)
    # Sentences longer than the encode-time length are truncated without
    # a warning; ``encoding`` counts them.
    kwargs = dict(batch_size=batch_size, show_progress_bar=show_progress_bar)
    with quiet_truncation():
        xx_emb = _encode(model, corpus.xx, length, **kwargs)
        en_emb = _encode(model, texts, length, **kwargs)
    return xx_emb, en_emb, en_index, encoding


def evaluate_tatoeba(
    model,
    corpus: ParallelCorpus,
    batch_size: int = 256,
    show_progress_bar: bool | None = None,
    encode_length: int | str | None = "auto",
    _embedded=None,
) -> dict[str, dict[str, float]]:
    """Per-language Tatoeba P@1 in both directions.

    Returns ``{lang: {"xx2en": acc, "en2xx": acc, "n": pairs}}`` (accuracy
    in percent, as in the paper's tables).  ``encode_length``: ``"auto"``
    (default) reads sentences at the shortest length, not below the
    training length, that truncates under :data:`TRUNCATION_TARGET` of
    them (:func:`auto_encode_length`); an int at that length; None at the
    model's training length.
    """
    xx_emb, en_emb, en_index, _ = _embedded or _embed_benchmark(
        model, corpus, batch_size, show_progress_bar, None, encode_length
    )
    langs = np.asarray(corpus.langs)
    xx_ids = _sentence_ids(corpus.xx)
    results = {}
    for lang in sorted(set(corpus.langs)):
        rows = torch.from_numpy(np.flatnonzero(langs == lang))
        x = xx_emb[rows]  # (n, D)
        e = en_emb[en_index[rows]]  # (n, D)
        # A copy of the gold sentence counts as the gold (module docstring).
        results[lang] = {
            "xx2en": 100
            * retrieval_accuracy(x, e, candidate_keys=en_index[rows]),
            "en2xx": 100
            * retrieval_accuracy(e, x, candidate_keys=xx_ids[rows]),
            "n": int(len(rows)),
        }
    return results


def large_pool_accuracy(
    model,
    corpus: ParallelCorpus,
    languages: Iterable[str] | None = None,
    batch_size: int = 256,
    show_progress_bar: bool | None = None,
    encode_length: int | str | None = "auto",
    _embedded=None,
) -> dict[str, float]:
    """xx→en P@1 (percent) of each language's queries against *all*
    distinct English sentences of ``corpus``; ``{"pool_size": C, lang: acc}``
    (``encode_length`` as in :func:`evaluate_tatoeba`).
    """
    xx_emb, en_emb, en_index, _ = _embedded or _embed_benchmark(
        model, corpus, batch_size, show_progress_bar, None, encode_length
    )
    langs = np.asarray(corpus.langs)
    wanted = sorted(
        set(languages) if languages is not None else set(corpus.langs)
    )
    out: dict[str, float] = {"pool_size": int(en_emb.shape[0])}
    for lang in wanted:
        rows = torch.from_numpy(np.flatnonzero(langs == lang))
        if len(rows) == 0:
            raise ValueError(f"no Tatoeba queries for language {lang!r}")
        out[lang] = 100 * retrieval_accuracy(
            xx_emb[rows], en_emb, en_index[rows]
        )
    return out


def group_averages(
    per_language: Mapping[str, Mapping[str, float] | float],
    key: str | None = "xx2en",
    trained: Iterable[str] | None = None,
) -> dict[str, float]:
    """Averages over the paper's groups (m-USE 14, XTREME 36, all) and, if
    ``trained`` is given, over trained and unseen languages."""

    def value(lang):
        v = per_language[lang]
        return v[key] if key is not None else v

    langs = [k for k in per_language if k != "pool_size"]
    groups = {
        name: [l for l in members if l in per_language]
        for name, members in GROUPS.items()
    }
    groups["all"] = langs
    if trained is not None:
        trained = set(trained)
        groups["trained"] = [l for l in langs if l in trained]
        groups["unseen"] = [l for l in langs if l not in trained]
    return {
        name: float(np.mean([value(l) for l in members]))
        for name, members in groups.items()
        if members
    }


def evaluate_all(
    model,
    corpus: ParallelCorpus,
    large_pool_languages: Iterable[str] | None = None,
    trained: Iterable[str] | None = None,
    batch_size: int = 256,
    show_progress_bar: bool | None = None,
    pool: ParallelCorpus | None = None,
    encode_length: int | str | None = "auto",
) -> dict:
    """Tatoeba (both directions) and large-pool results with group averages,
    in one JSON-ready dict; the benchmark is embedded once.

    ``pool`` supplies the large pool's candidates (its distinct English
    sentences; default: ``corpus``'s), e.g. the whole Tatoeba-v1 English
    side while only a few languages are evaluated.  ``encode_length`` as
    in :func:`evaluate_tatoeba`; ``"encoding"`` records the length used and
    the share of sentences it truncated.
    """
    embedded = _embed_benchmark(
        model, corpus, batch_size, show_progress_bar, pool, encode_length
    )
    tatoeba = evaluate_tatoeba(model, corpus, _embedded=embedded)
    pool = large_pool_accuracy(
        model, corpus, large_pool_languages, _embedded=embedded
    )
    return {
        "tatoeba": tatoeba,
        "tatoeba_avg_xx2en": group_averages(tatoeba, "xx2en", trained),
        "tatoeba_avg_en2xx": group_averages(tatoeba, "en2xx", trained),
        "large_pool": pool,
        "large_pool_avg": group_averages(
            {k: v for k, v in pool.items() if k != "pool_size"}, None, trained
        ),
        "encoding": embedded[3],
    }


def dev_retrieval(
    model,
    dev: ParallelCorpus,
    batch_size: int = 256,
    encode_length: int | str | None = "auto",
) -> dict[str, Any]:
    """Retrieval on a development split
    (:func:`labse_lite.data.dev_split`): what a recipe search selects on,
    so that Tatoeba and the large pool remain test sets.

    Two views of one embedding of ``dev``, accuracy in percent:
    ``xx2en`` / ``en2xx`` ask Tatoeba's question -- each language's
    queries against that language's dev sentences -- averaged over all
    dev languages and the paper's groups (:func:`group_averages`; a group
    averages the dev languages it has); ``pooled_xx2en`` asks the large
    pool's -- each query against *every* distinct dev English sentence
    -- averaged the same way.  The pooled one is the harder and finer
    measure: a language's few hundred candidates forgive near misses that
    tens of thousands do not.  ``encode_length`` as in
    :func:`evaluate_tatoeba`.
    """
    embedded = _embed_benchmark(
        model, dev, batch_size, False, None, encode_length
    )
    within = evaluate_tatoeba(model, dev, _embedded=embedded)
    pooled = large_pool_accuracy(model, dev, _embedded=embedded)
    pool_size = pooled.pop("pool_size")
    return {
        "xx2en": group_averages(within, "xx2en"),
        "en2xx": group_averages(within, "en2xx"),
        "pooled_xx2en": group_averages(pooled, None),
        "pool_size": pool_size,
        "pairs": len(dev),
        "languages": len(within),
        "encoding": embedded[3],
    }


def flores_retrieval(
    model,
    languages: Sequence[str] | None = None,
    batch_size: int = 256,
    flores: Mapping[str, Sequence[str]] | None = None,
    encode_length: int | str | None = "auto",
) -> dict:
    """P@1 of FLORES-200 devtest retrieval, xx→en and en→xx, for every
    shipped language (or ``languages``, FLORES codes such as
    ``deu_Latn``): each of its 1012 sentences against the 1012 English
    ones.  Wikipedia news, travel and science text, longer and more
    formal than Tatoeba's: a check that a gain on Tatoeba is not a gain
    on short conversational sentences only.  Returns ``{"per_language":
    {code: {"xx2en", "en2xx"}}, "avg_xx2en", "avg_en2xx"}`` in percent.
    Sentences longer than the encode-time length are truncated, both
    sides alike, without the per-call warning: ``encode_length`` as in
    :func:`evaluate_tatoeba` (default ``"auto"``: 99 tokens for the
    laptop model, where its 32-token training length cuts 84% of the
    sentences); ``"encoding"`` records it."""
    from .data import load_flores

    table = dict(flores) if flores is not None else load_flores()
    if "eng_Latn" not in table:
        raise ValueError("FLORES retrieval needs the English side eng_Latn")
    codes = [c for c in (languages or sorted(table)) if c != "eng_Latn"]
    unknown = [c for c in codes if c not in table]
    if unknown:
        raise ValueError(f"unknown FLORES language(s) {unknown}")

    length, encoding = _encoding(
        model, [table["eng_Latn"], *(table[c] for c in codes)], encode_length
    )

    def embed(texts):
        with quiet_truncation():
            return _encode(
                model,
                list(texts),
                length,
                batch_size=batch_size,
                show_progress_bar=False,
            )

    english = embed(table["eng_Latn"])
    result = {}
    for code in codes:
        xx = embed(table[code])
        result[code] = {
            "xx2en": 100 * retrieval_accuracy(xx, english),
            "en2xx": 100 * retrieval_accuracy(english, xx),
        }
    return {
        "per_language": result,
        "avg_xx2en": sum(r["xx2en"] for r in result.values()) / len(result),
        "avg_en2xx": sum(r["en2xx"] for r in result.values()) / len(result),
        "encoding": encoding,
    }


def headline(ev: Mapping[str, Any]) -> dict[str, float]:
    """The headline numbers of an :func:`~labse_lite.evaluate.evaluate_all`
    result as flat columns: Tatoeba xx→en over XTREME-36 and over every
    evaluated language, en→xx, and the large pool (XTREME-36 and all)."""
    nan = float("nan")
    return {
        "tatoeba_xtreme36": ev["tatoeba_avg_xx2en"].get("xtreme36", nan),
        "tatoeba_xx2en": ev["tatoeba_avg_xx2en"]["all"],
        "tatoeba_en2xx": ev["tatoeba_avg_en2xx"]["all"],
        "large_pool_xtreme36": ev["large_pool_avg"].get("xtreme36", nan),
        "large_pool_xx2en": ev["large_pool_avg"]["all"],
        "large_pool_size": ev["large_pool"]["pool_size"],
    }
