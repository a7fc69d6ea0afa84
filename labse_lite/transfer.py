"""Zero-shot cross-lingual transfer from English-only fine-tuning (the
2019 mBERT + NLI experiment; chapter 10).

An encoder that never saw a translation pair (masked language modelling
on many languages, like mBERT) is evaluated on Tatoeba with different
poolings, fine-tuned on English sentence pairs only, and evaluated again.
Two measurements explain what happens:

* :func:`pooling_baselines` -- Tatoeba xx→en error rates of an untuned
  encoder for several (pooling, layer) choices: mean, max and [CLS] of the
  last layer, and mean of the second-to-last (the blog's open idea).
* :func:`embedding_drift` -- how far fine-tuning moved the English word
  embeddings from the other languages': the mean cosine between the
  averaged *input* embeddings of the two sides of translation pairs,
  before and after.  With the table frozen it cannot change.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import torch
import torch.nn.functional as F

from .data import ParallelCorpus

__all__ = ["BASELINE_POOLINGS", "pooling_baselines", "embedding_drift"]

# (name, pooling, hidden_layer) of the blog's baselines and its open idea.
BASELINE_POOLINGS = (
    ("mean", "mean", -1),
    ("max", "max", -1),
    ("cls", "cls", -1),
    ("mean, layer -2", "mean", -2),
)


def pooling_baselines(
    encoder: str,
    benchmark: ParallelCorpus,
    poolings: Iterable[tuple[str, str, int]] = BASELINE_POOLINGS,
    max_length: int = 64,
    progress: bool = False,
) -> dict[str, dict[str, float]]:
    """``{name: {lang: xx→en error rate (%)}}`` of the untuned ``encoder``
    (a folder or hub id) on ``benchmark`` for each (name, pooling, layer).
    Error rate = 100 - P@1, the blog's measure."""
    from .evaluate import evaluate_tatoeba
    from .model import DualEncoder

    out = {}
    for name, pooling, layer in poolings:
        model = DualEncoder.from_pretrained(
            encoder, pooling=pooling, max_length=max_length, hidden_layer=layer
        ).eval()
        res = evaluate_tatoeba(model, benchmark, show_progress_bar=progress)
        out[name] = {lang: 100.0 - r["xx2en"] for lang, r in res.items()}
    return out


@torch.no_grad()
def embedding_drift(
    encoder_before, encoder_after, corpus: ParallelCorpus
) -> dict[str, float]:
    """Mean cosine, over the pairs of ``corpus``, between the averaged
    input (word) embeddings of the non-English and the English sentence,
    for two encoders sharing one vocabulary (before / after fine-tuning):
    ``{"before": c0, "after": c1, "change": c1 - c0}``.  English-only
    tuning with a trainable table moves the English rows; a fall in this
    cosine is the drift that freezing the table prevents."""

    def mean_cosine(model) -> float:
        table = model.encoder.get_input_embeddings().weight  # (V, H)
        special = set(model.tokenizer.all_special_ids)

        def average(sentences: Sequence[str]) -> torch.Tensor:
            rows = []
            for ids in model.tokenize(sentences):
                ids = [i for i in ids if i not in special] or ids
                rows.append(table[torch.tensor(ids)].mean(0))
            return torch.stack(rows)  # (N, H)

        xx, en = average(corpus.xx), average(corpus.en)
        return float(F.cosine_similarity(xx, en, dim=-1).mean())

    if (
        encoder_before.tokenizer.get_vocab()
        != encoder_after.tokenizer.get_vocab()
    ):
        raise ValueError("the two encoders must share one vocabulary")
    before, after = mean_cosine(encoder_before), mean_cosine(encoder_after)
    return {"before": before, "after": after, "change": after - before}
