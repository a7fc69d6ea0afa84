"""A BUCC-style mining benchmark built from the shipped FLORES-200 devtest.

BUCC 2018 (on which Feng et al., 2022 report F1) hides a known set of
translation pairs inside two monolingual corpora; a miner is scored by the
precision, recall and F1 of the pairs it returns.  FLORES-200 is multi-way
parallel (sentence *i* is the same in every language), which makes the same
construction exact and reproducible:

* **Splits.**  Sentence ids 0–505 form the ``tune`` split, 506–1011 the
  ``test`` split (FLORES is ordered by article, so the two splits share
  almost no article): thresholds are chosen on one and applied to the other.
* **Parallel and non-parallel sentences.**  Within a split, ids with
  ``id % 4 in (0, 1)`` appear on both sides (the gold pairs); ``id % 4 ==
  2`` only on the source side and ``id % 4 == 3`` only on the English side.
  Because consecutive ids come from the same article, every gold sentence
  has non-parallel **neighbours from its own article** on the other side:
  same topic, same names, deliberately hard distractors.
* **A bigger haystack.**  ``n_distractors`` English sentences of Tatoeba-v1
  (never seen in training: the training data excludes every Tatoeba-v1
  English sentence) are added to the English side.
* Both sides are shuffled with a fixed seed; gold pairs are
  ``(source index, English index)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import load_flores, load_tatoeba

__all__ = ["MiningBenchmark", "build_bucc_benchmark", "SPLITS"]

SPLITS = {"tune": range(0, 506), "test": range(506, 1012)}


@dataclass
class MiningBenchmark:
    """Two corpora and the gold translation pairs hidden in them."""

    src_lang: str
    split: str
    src: list[str]
    tgt: list[str]
    gold: set[tuple[int, int]]

    def __repr__(self) -> str:
        return (
            f"MiningBenchmark({self.src_lang}-eng, {self.split}: "
            f"{len(self.src)} source x {len(self.tgt)} English "
            f"sentences, {len(self.gold)} gold pairs)"
        )


def build_bucc_benchmark(
    src_code: str = "deu_Latn",
    split: str = "test",
    n_distractors: int = 2000,
    seed: int = 0,
    tgt_code: str = "eng_Latn",
) -> MiningBenchmark:
    """Build the BUCC-style benchmark for ``src_code``–English (see module
    docstring).  ``src_code`` is a FLORES code such as ``"fra_Latn"``."""
    if split not in SPLITS:
        raise ValueError(
            f"split must be one of {sorted(SPLITS)}, got {split!r}"
        )
    if n_distractors < 0:
        raise ValueError(f"n_distractors must be >= 0, got {n_distractors}")
    flores = load_flores([src_code, tgt_code])
    ids = np.array(SPLITS[split])
    parallel = ids[ids % 4 <= 1]
    src_only = ids[ids % 4 == 2]
    tgt_only = ids[ids % 4 == 3]
    rng = np.random.default_rng(seed)

    src_ids = rng.permutation(np.concatenate([parallel, src_only]))
    src = [flores[src_code][i] for i in src_ids]
    tgt_items = [
        ("flores", int(i)) for i in np.concatenate([parallel, tgt_only])
    ]
    if n_distractors:
        english = sorted(set(load_tatoeba().en))
        pick = rng.choice(
            len(english), size=min(n_distractors, len(english)), replace=False
        )
        tgt_items += [("tatoeba", int(j)) for j in pick]
    else:
        english = []
    order = rng.permutation(len(tgt_items))
    tgt_items = [tgt_items[j] for j in order]
    tgt = [
        flores[tgt_code][i] if kind == "flores" else english[i]
        for kind, i in tgt_items
    ]
    where_tgt = {
        i: pos for pos, (kind, i) in enumerate(tgt_items) if kind == "flores"
    }
    where_src = {int(i): pos for pos, i in enumerate(src_ids)}
    gold = {(where_src[int(i)], where_tgt[int(i)]) for i in parallel}
    return MiningBenchmark(src_code, split, src, tgt, gold)
