"""Bitext mining with margin scoring (BUCC, as evaluated by Feng et al., 2022;
the CommonCrawl mining of their §7 keeps pairs by an absolute cosine).

Given embeddings of two monolingual corpora, find the sentence pairs that
are translations of each other.  Following LASER's ``mine_bitexts.py``
(Artetxe & Schwenk, 2019, "Margin-based parallel corpus mining with
multilingual sentence embeddings"):

1. :func:`knn` finds each source sentence's k nearest targets (forward)
   and each target's k nearest sources (backward), exactly with
   ``faiss.IndexFlatIP`` or approximately for large pools (IVF: k-means
   cells, each query scanning the few nearest; :func:`choose_index`).
2. :func:`margin_scores` scores every candidate pair (x, y) by how much
   its cosine stands out from the two sentences' neighbourhoods::

       avg      = (mean_k cos(x, NN_k(x)) + mean_k cos(y, NN_k(y))) / 2
       ratio    = cos(x, y) / avg
       distance = cos(x, y) - avg
       absolute = cos(x, y)        (LaBSE's paper keeps cos >= 0.6)

3. :func:`select_pairs` keeps pairs by a retrieval mode (``forward``,
   ``backward``, ``intersection`` or ``max``) and :func:`mine` wraps it
   all, with an optional score threshold.

:func:`best_f1_threshold` and :func:`precision_recall_f1` score mined
pairs against gold pairs (BUCC's metric is F1); :func:`write_tsv` writes
``score<TAB>src<TAB>tgt`` lines as LASER does.

Embeddings are L2-normalised float32 vectors (numpy arrays or torch
tensors), so the inner product is the cosine.  ``faiss`` is imported
only when a function needs it (``pip install faiss-cpu``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

__all__ = [
    "APPROXIMATE_THRESHOLD",
    "SCORINGS",
    "MODES",
    "INDEXES",
    "IndexChoice",
    "MarginScores",
    "MinedPairs",
    "choose_index",
    "build_index",
    "knn",
    "margin_scores",
    "select_pairs",
    "mine",
    "best_f1_threshold",
    "precision_recall_f1",
    "write_tsv",
    "read_mined_pairs",
]

# Above this many candidates, index="auto" searches approximately (IVF).
APPROXIMATE_THRESHOLD = 200_000
DEFAULT_CHUNK_SIZE = 8192  # queries searched at once: memory O(chunk·k)
HNSW_M = 32  # graph degree of the HNSW index
HNSW_EF_CONSTRUCTION = 64  # candidate list size while building
HNSW_EF_SEARCH = 128  # candidate list size while searching
IVF_POINTS_PER_LIST = 64  # k-means training sample: this many per list
IVF_PROBE_FRACTION = 1 / 32  # default nprobe = this fraction of the lists
IVF_MIN_PROBE = 32

INDEXES = ("auto", "exact", "approx", "ivf", "hnsw")
SCORINGS = ("ratio", "distance", "absolute")
MODES = ("forward", "backward", "intersection", "max")


def _faiss():
    try:
        import faiss
    except ImportError:
        raise ImportError(
            "bitext mining needs faiss: pip install faiss-cpu"
        ) from None
    return faiss


def _as_matrix(x: Any, name: str) -> np.ndarray:
    """A (n, d) contiguous float32 numpy copy of an array or tensor."""
    if hasattr(x, "detach"):  # torch.Tensor
        x = x.detach().cpu().float().numpy()
    x = np.ascontiguousarray(np.asarray(x), dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D (n, dim) array, got shape {x.shape}"
        )
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {x.shape})")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _check_choice(value: str, choices: Sequence[str], name: str) -> None:
    if value not in choices:
        raise ValueError(
            f"unknown {name} {value!r}; expected one of "
            f"{', '.join(map(repr, choices))}"
        )


def _check_pair(
    src: np.ndarray, tgt: np.ndarray, names: Sequence[str]
) -> None:
    if src.shape[1] != tgt.shape[1]:
        raise ValueError(
            f"{names[0]} and {names[1]} have different "
            f"dimensions: {src.shape[1]} vs {tgt.shape[1]}"
        )


def _check_k(k: int, n_candidates: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k must be an integer, got {k!r}")
    if not 1 <= k <= n_candidates:
        raise ValueError(
            f"k must be between 1 and the number of "
            f"candidates ({n_candidates}), got {k}"
        )


@dataclass(frozen=True)
class IndexChoice:
    """Which faiss index :func:`build_index` builds, and its settings.

    ``kind`` is ``exact`` (``IndexFlatIP``), ``ivf`` (:class:`ListMajorIVF`:
    k-means cells of the candidates, each query scanning the ``nprobe``
    cells nearest to it) or ``hnsw`` (``IndexHNSWFlat``).
    """

    kind: str
    nlist: int | None = None  # ivf: number of k-means cells
    nprobe: int | None = None  # ivf: cells scanned per query
    ef_search: int | None = None  # hnsw: candidate list while searching

    def describe(self) -> str:
        if self.kind == "ivf":
            return f"ivf (nlist={self.nlist}, nprobe={self.nprobe})"
        if self.kind == "hnsw":
            return f"hnsw (M={HNSW_M}, efSearch={self.ef_search})"
        return "exact"


def _power_of_two(x: float) -> int:
    return 2 ** int(round(math.log2(max(1.0, x))))


def choose_index(
    n: int,
    dim: int,
    k: int = 4,
    index: str = "auto",
    approximate_threshold: int = APPROXIMATE_THRESHOLD,
    nlist: int | None = None,
    nprobe: int | None = None,
) -> IndexChoice:
    """The index for ``n`` candidates of dimension ``dim``.

    ``auto`` is exact up to ``approximate_threshold`` candidates and IVF
    above; ``approx`` is IVF (:class:`ListMajorIVF`).  IVF's defaults,
    measured on the laptop model's embeddings
    (``benchmarks/mining_speed.py``): ``nlist`` the power of two nearest
    2·√n (2048 cells at a million), trained on ``IVF_POINTS_PER_LIST``
    points per cell, and ``nprobe`` 1/32 of the cells, at least 32.  A
    query then scans about 3% of the candidates; at a million this found
    99.6% of the exact 4 nearest neighbours.  ``nlist`` and ``nprobe``
    override the defaults.
    HNSW (``index="hnsw"``) is kept for comparison: on 2 cores its graph
    takes longer to build than IVF takes to build and search.
    """
    _check_choice(index, INDEXES, "index")
    for name, value in (("nlist", nlist), ("nprobe", nprobe)):
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, (int, np.integer))
            or value < 1
        ):
            raise ValueError(
                f"{name} must be a positive integer, got {value!r}"
            )
    if index == "auto":
        index = "ivf" if n > approximate_threshold else "exact"
    if index == "exact":
        return IndexChoice("exact")
    if index == "hnsw":
        return IndexChoice("hnsw", ef_search=max(HNSW_EF_SEARCH, 2 * k))
    lists = nlist or min(65536, max(1, _power_of_two(2 * math.sqrt(n))))
    lists = min(lists, max(1, n // 39))  # faiss wants ≥ 39 points/list
    probe = nprobe or max(IVF_MIN_PROBE, int(lists * IVF_PROBE_FRACTION))
    return IndexChoice("ivf", nlist=lists, nprobe=min(probe, lists))


class ListMajorIVF:
    """An inverted-file index searched list by list with matrix products.

    The candidates are split into ``nlist`` cells by spherical k-means
    (faiss); a query is compared with the cells' centroids (one matrix
    product for a batch of queries) and scanned against the ``nprobe``
    nearest cells.  faiss's ``IndexIVFFlat`` scans query by query, one
    vector at a time; here the loop is turned around: for each cell, all
    the batch's queries that probe it are scored against all its vectors
    in *one* matrix product (BLAS), and each query keeps its k best per
    cell, then its k best overall.  Same results as an IVF scan of the same
    cells, several times faster on a CPU.  ``search(queries, k)`` returns
    ``(scores, indices)`` like a faiss index.
    """

    batch = 32768  # queries per batch of the list-major scan

    def __init__(
        self,
        candidates: np.ndarray,
        nlist: int,
        nprobe: int,
        train_points: int = IVF_POINTS_PER_LIST,
        niter: int = 20,
        seed: int = 1234,
    ):
        import torch

        faiss = _faiss()
        n, dim = candidates.shape
        self.nlist, self.nprobe = nlist, min(nprobe, nlist)
        kmeans = faiss.Kmeans(
            dim,
            nlist,
            niter=niter,
            spherical=True,
            seed=seed,
            max_points_per_centroid=train_points,
            verbose=False,
        )
        kmeans.train(candidates)
        self.centroids = torch.from_numpy(
            np.ascontiguousarray(kmeans.centroids, dtype=np.float32)
        )
        x = torch.from_numpy(candidates)
        assign = torch.cat(
            [
                (x[i : i + self.batch] @ self.centroids.T).argmax(dim=1)
                for i in range(0, n, self.batch)
            ]
        )  # (n,)
        order = torch.argsort(assign, stable=True)  # (n,)
        self.ids = order  # row -> id
        self.vectors = x[order].contiguous()  # (n, d)
        counts = torch.bincount(assign, minlength=nlist)
        self.offsets = torch.cat(
            [torch.zeros(1, dtype=torch.long), counts.cumsum(0)]
        ).tolist()

    def search(
        self, queries: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        import torch

        q_all = torch.from_numpy(np.ascontiguousarray(queries))
        scores, indices = [], []
        with torch.inference_mode():
            for start in range(0, len(q_all), self.batch):
                s, i = self._search_batch(q_all[start : start + self.batch], k)
                scores.append(s)
                indices.append(i)
        return (torch.cat(scores).numpy(), torch.cat(indices).numpy())

    def _search_batch(self, q, k: int):
        import torch

        c, p = len(q), self.nprobe
        probe = torch.topk(q @ self.centroids.T, p, dim=1).indices  # (c, p)
        cells = probe.reshape(-1)  # (c·p,)
        by_cell = torch.argsort(cells, stable=True)
        query_of = by_cell // p  # (c·p,)
        slot_of = by_cell % p
        bounds = torch.cat(
            [
                torch.zeros(1, dtype=torch.long),
                torch.bincount(cells, minlength=self.nlist).cumsum(0),
            ]
        ).tolist()
        best = torch.full((c, p, k), -float("inf"))  # (c, p, k)
        best_id = torch.full((c, p, k), -1, dtype=torch.long)
        for cell in range(self.nlist):
            a, b = bounds[cell], bounds[cell + 1]
            lo, hi = self.offsets[cell], self.offsets[cell + 1]
            if a == b or lo == hi:
                continue
            rows, slots = query_of[a:b], slot_of[a:b]
            sims = q[rows] @ self.vectors[lo:hi].T  # (m, |cell|)
            top = torch.topk(sims, min(k, hi - lo), dim=1)
            best[rows, slots, : top.values.shape[1]] = top.values
            best_id[rows, slots, : top.values.shape[1]] = self.ids[
                lo + top.indices
            ]
        top = torch.topk(best.reshape(c, p * k), k, dim=1)
        found = torch.gather(best_id.reshape(c, p * k), 1, top.indices)
        return top.values, found


def build_index(
    candidates: Any,
    index: str | IndexChoice = "auto",
    approximate_threshold: int = APPROXIMATE_THRESHOLD,
    nlist: int | None = None,
    nprobe: int | None = None,
):
    """A faiss inner-product index over ``candidates``, chosen by
    :func:`choose_index` (or given as an :class:`IndexChoice`)."""
    candidates = _as_matrix(candidates, "candidates")
    faiss = _faiss()
    n, dim = candidates.shape
    choice = (
        index
        if isinstance(index, IndexChoice)
        else choose_index(
            n,
            dim,
            index=index,
            nlist=nlist,
            nprobe=nprobe,
            approximate_threshold=approximate_threshold,
        )
    )
    if choice.kind == "hnsw":
        found = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        found.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        found.hnsw.efSearch = choice.ef_search or HNSW_EF_SEARCH
    elif choice.kind == "ivf":
        return ListMajorIVF(candidates, choice.nlist, choice.nprobe)
    else:
        found = faiss.IndexFlatIP(dim)
    found.add(candidates)
    return found


def knn(
    queries: Any,
    candidates: Any,
    k: int,
    index: str | IndexChoice = "auto",
    approximate_threshold: int = APPROXIMATE_THRESHOLD,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    show_progress_bar: bool | None = None,
    *,
    nlist: int | None = None,
    nprobe: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest candidates of each query by cosine, best first.

    Returns ``(scores, indices)``: (n, k) float32 cosines and (n, k) int64
    rows of ``candidates``.  Queries are searched ``chunk_size`` at a time
    (a batch, so faiss scores the IVF cells' centroids with one matrix
    product), so memory is O(n·k + index), never O(n × candidates).  See
    :func:`choose_index` for ``index``, ``approximate_threshold``,
    ``nlist`` and ``nprobe``.  ``show_progress_bar`` (default: only when
    there are more than 10 chunks) shows a tqdm bar.
    """
    queries = _as_matrix(queries, "queries")
    candidates = _as_matrix(candidates, "candidates")
    _check_pair(queries, candidates, ("queries", "candidates"))
    _check_k(k, candidates.shape[0])
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    choice = (
        index
        if isinstance(index, IndexChoice)
        else choose_index(
            candidates.shape[0],
            candidates.shape[1],
            k,
            index,
            approximate_threshold,
            nlist,
            nprobe,
        )
    )
    found = build_index(candidates, choice)
    if isinstance(found, ListMajorIVF):  # larger batches share cells
        chunk_size = max(chunk_size, found.batch)
    n = queries.shape[0]
    scores = np.empty((n, k), dtype=np.float32)  # (n, k)
    indices = np.empty((n, k), dtype=np.int64)  # (n, k)
    starts = range(0, n, chunk_size)
    if show_progress_bar is None:
        show_progress_bar = len(starts) > 10
    from tqdm import tqdm

    for start in tqdm(
        starts,
        disable=not show_progress_bar,
        desc=f"knn, {choice.describe()}",
        unit="chunk",
    ):
        stop = min(start + chunk_size, n)
        scores[start:stop], indices[start:stop] = found.search(
            queries[start:stop], k
        )
    if (indices < 0).any():  # an approximate search came up short
        raise RuntimeError(
            f"the approximate index ({choice.describe()}) "
            f"found fewer than k={k} neighbours for some "
            f"queries; raise nprobe or use index='exact'"
        )
    return scores, indices


@dataclass(frozen=True, eq=False)
class MarginScores:
    """Candidate pairs of both directions and their margin scores.

    ``fwd_*`` are (n_src, k): the k nearest targets of each source
    sentence; ``bwd_*`` are (n_tgt, k): the k nearest sources of each
    target.  ``src_mean``/``tgt_mean`` are the mean cosine of each
    sentence to its k neighbours in the other corpus.
    """

    scoring: str
    fwd_index: np.ndarray  # (n_src, k) int64 target rows
    fwd_cos: np.ndarray  # (n_src, k) cosines
    fwd_score: np.ndarray  # (n_src, k) margin scores
    bwd_index: np.ndarray  # (n_tgt, k) int64 source rows
    bwd_cos: np.ndarray  # (n_tgt, k)
    bwd_score: np.ndarray  # (n_tgt, k)
    src_mean: np.ndarray  # (n_src,)
    tgt_mean: np.ndarray  # (n_tgt,)


def _margin(cos: np.ndarray, avg: np.ndarray, scoring: str) -> np.ndarray:
    """LASER's margin functions: ratio a / b, distance a - b, absolute a."""
    if scoring == "ratio":
        return cos / avg
    if scoring == "distance":
        return cos - avg
    return cos.copy()


def margin_scores(
    src: Any,
    tgt: Any,
    k: int = 4,
    scoring: str = "ratio",
    index: str = "auto",
    approximate_threshold: int = APPROXIMATE_THRESHOLD,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    show_progress_bar: bool | None = None,
    *,
    nlist: int | None = None,
    nprobe: int | None = None,
) -> MarginScores:
    """Forward (src→tgt) and backward (tgt→src) k-NN candidates, scored as
    in LASER's ``mine_bitexts.py`` (Artetxe & Schwenk, 2019):

    ``score(x, y) = margin(cos(x, y), (mean_x + mean_y) / 2)``, where
    ``mean_x`` is the mean cosine of x to its k nearest targets and
    ``mean_y`` that of y to its k nearest sources.  The ratio margin
    assumes these means are positive, as they are for real embeddings.
    """
    _check_choice(scoring, SCORINGS, "scoring")
    src = _as_matrix(src, "src")
    tgt = _as_matrix(tgt, "tgt")
    _check_pair(src, tgt, ("src", "tgt"))
    _check_k(k, min(src.shape[0], tgt.shape[0]))
    options = dict(
        index=index,
        approximate_threshold=approximate_threshold,
        chunk_size=chunk_size,
        show_progress_bar=show_progress_bar,
        nlist=nlist,
        nprobe=nprobe,
    )
    fwd_cos, fwd_index = knn(src, tgt, k, **options)  # (n_src, k)
    bwd_cos, bwd_index = knn(tgt, src, k, **options)  # (n_tgt, k)
    src_mean = fwd_cos.mean(axis=1)  # (n_src,)
    tgt_mean = bwd_cos.mean(axis=1)  # (n_tgt,)
    fwd_avg = (src_mean[:, None] + tgt_mean[fwd_index]) / 2  # (n_src, k)
    bwd_avg = (tgt_mean[:, None] + src_mean[bwd_index]) / 2  # (n_tgt, k)
    return MarginScores(
        scoring=scoring,
        fwd_index=fwd_index,
        fwd_cos=fwd_cos,
        fwd_score=_margin(fwd_cos, fwd_avg, scoring),
        bwd_index=bwd_index,
        bwd_cos=bwd_cos,
        bwd_score=_margin(bwd_cos, bwd_avg, scoring),
        src_mean=src_mean,
        tgt_mean=tgt_mean,
    )


@dataclass(frozen=True, eq=False)
class MinedPairs:
    """Mined pairs, best score first: ``src[i]`` and ``tgt[i]`` are rows
    of the source and target corpora, ``score[i]`` their score.
    Iterating yields ``(src, tgt, score)`` tuples."""

    src: np.ndarray  # (m,) int64
    tgt: np.ndarray  # (m,) int64
    score: np.ndarray  # (m,) float32

    def __len__(self) -> int:
        return len(self.src)

    def __iter__(self) -> Iterator[tuple[int, int, float]]:
        return iter(
            zip(self.src.tolist(), self.tgt.tolist(), self.score.tolist())
        )

    def pairs(self) -> set[tuple[int, int]]:
        """The mined ``(src, tgt)`` pairs as a set."""
        return set(zip(self.src.tolist(), self.tgt.tolist()))

    def above(self, threshold: float) -> "MinedPairs":
        """The pairs with ``score >= threshold``."""
        keep = self.score >= threshold
        return MinedPairs(self.src[keep], self.tgt[keep], self.score[keep])


def _sorted_pairs(
    src: np.ndarray, tgt: np.ndarray, score: np.ndarray
) -> MinedPairs:
    """Score descending; ties by source then target row."""
    order = np.lexsort((tgt, src, -score))
    return MinedPairs(
        src[order].astype(np.int64),
        tgt[order].astype(np.int64),
        score[order].astype(np.float32),
    )


def select_pairs(margins: MarginScores, mode: str = "max") -> MinedPairs:
    """Pairs chosen from scored candidates as in LASER's ``--retrieval``:

    - ``forward``: each source with its best-scoring target;
    - ``backward``: each target with its best-scoring source;
    - ``intersection``: the forward pairs that are also backward pairs;
    - ``max``: greedy one-to-one over the union of forward and backward
      pairs: by score descending, keep a pair unless its source or target
      is already used.
    """
    _check_choice(mode, MODES, "mode")
    n_src, n_tgt = len(margins.fwd_index), len(margins.bwd_index)
    src_rows, tgt_rows = np.arange(n_src), np.arange(n_tgt)
    fwd_pick = margins.fwd_score.argmax(axis=1)  # (n_src,)
    fwd_best = margins.fwd_index[src_rows, fwd_pick]  # (n_src,)
    fwd_top = margins.fwd_score[src_rows, fwd_pick]  # (n_src,)
    bwd_pick = margins.bwd_score.argmax(axis=1)  # (n_tgt,)
    bwd_best = margins.bwd_index[tgt_rows, bwd_pick]  # (n_tgt,)
    bwd_top = margins.bwd_score[tgt_rows, bwd_pick]  # (n_tgt,)
    if mode == "forward":
        return _sorted_pairs(src_rows, fwd_best, fwd_top)
    if mode == "backward":
        return _sorted_pairs(bwd_best, tgt_rows, bwd_top)
    if mode == "intersection":
        keep = bwd_best[fwd_best] == src_rows  # (n_src,)
        return _sorted_pairs(src_rows[keep], fwd_best[keep], fwd_top[keep])
    src = np.concatenate([src_rows, bwd_best])  # (n_src+n_tgt,)
    tgt = np.concatenate([fwd_best, tgt_rows])
    score = np.concatenate([fwd_top, bwd_top])
    used_src = np.zeros(n_src, dtype=bool)
    used_tgt = np.zeros(n_tgt, dtype=bool)
    keep = []
    for i in np.argsort(-score, kind="stable"):
        if not used_src[src[i]] and not used_tgt[tgt[i]]:
            used_src[src[i]] = used_tgt[tgt[i]] = True
            keep.append(i)
    keep = np.asarray(keep, dtype=np.int64)
    return _sorted_pairs(src[keep], tgt[keep], score[keep])


def mine(
    src_emb: Any,
    tgt_emb: Any,
    k: int = 4,
    scoring: str = "ratio",
    mode: str = "max",
    threshold: float | None = None,
    index: str = "auto",
    approximate_threshold: int = APPROXIMATE_THRESHOLD,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    show_progress_bar: bool | None = None,
    *,
    nlist: int | None = None,
    nprobe: int | None = None,
) -> MinedPairs:
    """Mine parallel sentence pairs from two corpora's embeddings (BUCC as
    evaluated for LaBSE; LASER's margin-based mining).

    ``scoring`` is ``ratio``, ``distance`` or ``absolute`` (see
    :func:`margin_scores`), ``mode`` one of ``forward``, ``backward``,
    ``intersection`` or ``max`` (see :func:`select_pairs`).  When
    ``threshold`` is given only pairs with ``score >= threshold`` are
    kept.  Returns the pairs sorted by score, best first.
    """
    _check_choice(scoring, SCORINGS, "scoring")
    _check_choice(mode, MODES, "mode")
    if threshold is not None and not math.isfinite(threshold):
        raise ValueError(
            f"threshold must be a finite number, got {threshold!r}"
        )
    margins = margin_scores(
        src_emb,
        tgt_emb,
        k,
        scoring,
        index,
        approximate_threshold,
        chunk_size,
        show_progress_bar,
        nlist=nlist,
        nprobe=nprobe,
    )
    pairs = select_pairs(margins, mode)
    return pairs if threshold is None else pairs.above(threshold)


def best_f1_threshold(
    scores: Any, is_correct: Any, n_gold: int
) -> tuple[float, float, float, float]:
    """The score threshold that maximises F1, as BUCC is evaluated.

    Keeping the candidates with ``score >= t`` gives precision = correct
    kept / kept and recall = correct kept / ``n_gold`` (the number of gold
    pairs, which may exceed the correct candidates).  Only thresholds at
    a candidate's score are tried, so tied scores are kept or dropped
    together.  Returns ``(threshold, precision, recall, f1)``; among equal
    F1 the highest threshold wins.
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    is_correct = np.asarray(is_correct).ravel()
    if scores.size == 0:
        raise ValueError("no scored candidates to choose a threshold from")
    if scores.shape != is_correct.shape:
        raise ValueError(
            f"scores and is_correct differ in length: "
            f"{scores.size} vs {is_correct.size}"
        )
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinite values")
    if not np.isin(is_correct, (0, 1)).all():
        raise ValueError("is_correct must hold booleans (or 0/1)")
    is_correct = is_correct.astype(bool)
    if n_gold < max(1, int(is_correct.sum())):
        raise ValueError(
            f"n_gold must be >= 1 and >= the number of "
            f"correct candidates ({int(is_correct.sum())}), "
            f"got {n_gold}"
        )
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]  # (n,)
    correct = np.cumsum(is_correct[order])  # (n,)
    kept = np.arange(1, scores.size + 1)  # (n,)
    # Cut only after the last of each run of tied scores.
    last = np.append(sorted_scores[1:] != sorted_scores[:-1], True)
    correct, kept = correct[last], kept[last]
    f1 = 2 * correct / (kept + n_gold)  # (t,)
    best = int(np.argmax(f1))
    return (
        float(sorted_scores[last][best]),
        float(correct[best] / kept[best]),
        float(correct[best] / n_gold),
        float(f1[best]),
    )


def _pair_set(pairs: Iterable, name: str) -> set[tuple[int, int]]:
    if isinstance(pairs, MinedPairs):
        return pairs.pairs()
    found = set()
    for pair in pairs:
        if len(pair) not in (2, 3):
            raise ValueError(
                f"{name} must hold (src, tgt) or "
                f"(src, tgt, score) items, got {pair!r}"
            )
        found.add((int(pair[0]), int(pair[1])))
    return found


def precision_recall_f1(
    mined_pairs: Iterable, gold_pairs: Iterable
) -> tuple[float, float, float]:
    """Precision, recall and F1 of mined ``(src, tgt)`` pairs against the
    gold pairs (a :class:`MinedPairs` or ``(src, tgt[, score])`` items;
    duplicates count once).  Precision is 0 when nothing was mined."""
    mined = _pair_set(mined_pairs, "mined_pairs")
    gold = _pair_set(gold_pairs, "gold_pairs")
    if not gold:
        raise ValueError("gold_pairs is empty: recall is undefined")
    correct = len(mined & gold)
    precision = correct / len(mined) if mined else 0.0
    recall = correct / len(gold)
    f1 = 2 * correct / (len(mined) + len(gold))
    return precision, recall, f1


def write_tsv(
    path: str | Path,
    pairs: Iterable,
    src_sentences: Sequence[str],
    tgt_sentences: Sequence[str],
) -> int:
    """Write ``score<TAB>src sentence<TAB>tgt sentence`` lines (UTF-8,
    score to 6 decimals, as LASER's ``mine_bitexts.py``) for ``pairs`` of
    ``(src, tgt, score)``.  Returns the number of lines written."""
    lines = []
    for pair in pairs:
        if len(pair) != 3:
            raise ValueError(
                f"pairs must hold (src, tgt, score) items, got {pair!r}"
            )
        i, j, score = int(pair[0]), int(pair[1]), float(pair[2])
        if not (0 <= i < len(src_sentences) and 0 <= j < len(tgt_sentences)):
            raise ValueError(
                f"pair ({i}, {j}) is out of range for "
                f"{len(src_sentences)} source and "
                f"{len(tgt_sentences)} target sentences"
            )
        src, tgt = src_sentences[i], tgt_sentences[j]
        for text in (src, tgt):
            if any(c in text for c in "\t\n\r"):
                raise ValueError(
                    f"sentence {text!r} contains a tab or "
                    f"newline, which would break the TSV"
                )
        lines.append(f"{score:.6f}\t{src}\t{tgt}\n")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(lines)
    return len(lines)


def read_mined_pairs(path: str | Path) -> list[tuple[float, str, str]]:
    """Read back the ``(score, src, tgt)`` lines of :func:`write_tsv` (the
    output of ``labse-lite mine``).  Not to be confused with
    :func:`labse_lite.data.read_tsv`, the reader of the shipped data's
    column files."""
    rows = []
    with open(path, encoding="utf-8", newline="\n") as f:
        for number, line in enumerate(f, 1):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 3:
                raise ValueError(
                    f"{path}:{number}: expected 3 "
                    f"tab-separated fields, got {len(fields)}"
                )
            rows.append((float(fields[0]), fields[1], fields[2]))
    return rows
