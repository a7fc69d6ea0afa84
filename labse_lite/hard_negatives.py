"""Hard negatives mined by the model being trained (Feng et al., 2022, App. B).

In-batch negatives are random sentences; most are easy to tell from the
translation.  A *hard* negative is an English sentence that the model
itself places close to the source sentence but that is not its
translation.  :func:`mine_hard_negatives` embeds the training pairs the
rest of a run will see with the current model, searches every source's
nearest English sentences with :func:`labse_lite.mining.knn` (exact faiss,
or IVF for large pools) and keeps, per pair, the ``count`` nearest ones
whose text differs from the pair's own English side (a duplicate of the
translation would be a false negative).  The trainer adds their embeddings
to the candidates of the x→y direction of the loss
(:func:`labse_lite.distributed.global_batch_loss`, ``extra_candidates``).

LaBSE's App. B used 3 hard negatives per pair; they forced the batch down
from 128 to 32 to fit in memory and *lowered* UN retrieval (89.5 → 88.7).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

__all__ = ["embed_token_ids", "mine_hard_negatives"]


@torch.no_grad()
def embed_token_ids(
    model, ids: Sequence[Sequence[int]], batch_size: int = 512
) -> np.ndarray:
    """(N, D) float32 embeddings of already tokenised sentences, in order
    (batches of similar length, so little padding)."""
    was_training = model.training
    model.eval()
    order = np.argsort([len(t) for t in ids], kind="stable")
    out = np.empty((len(ids), model.embedding_dim), dtype=np.float32)
    device = model.device
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        input_ids, mask = model.collate([ids[i] for i in rows])
        emb = model(input_ids.to(device), mask.to(device))
        out[rows] = emb.float().cpu().numpy()
    model.train(was_training)
    return out


def mine_hard_negatives(
    model,
    xx_ids: Sequence[Sequence[int]],
    en_ids: Sequence[Sequence[int]],
    en_keys: np.ndarray,
    rows: np.ndarray,
    count: int,
    extra: int = 4,
) -> np.ndarray:
    """For each pair in ``rows``, the ``count`` English sentences (rows of
    the corpus) nearest to its non-English side by ``model``, among the
    English sides of ``rows``, skipping any whose text equals the pair's
    own English side (``en_keys``: one id per distinct English text).

    Returns an (n_pairs, count) int64 array over the whole corpus: row i
    holds pair i's negatives, -1 for pairs not in ``rows``.  ``extra``
    more neighbours than ``count`` are searched so that skipped
    duplicates can be replaced.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    from .mining import knn

    rows = np.unique(np.asarray(rows, dtype=np.int64))
    # One candidate per distinct English text among the rows.
    _, first = np.unique(en_keys[rows], return_index=True)
    pool = rows[np.sort(first)]  # (P,)
    if len(pool) < count + 1:
        raise ValueError(
            f"{len(pool)} distinct English sentences are too "
            f"few to mine {count} hard negatives per pair"
        )
    queries = embed_token_ids(model, [xx_ids[i] for i in rows])
    targets = embed_token_ids(model, [en_ids[i] for i in pool])
    k = min(len(pool), count + extra)
    _, found = knn(queries, targets, k, show_progress_bar=False)  # (R, k)
    found_rows = pool[found]  # (R, k)
    same_text = en_keys[found_rows] == en_keys[rows][:, None]  # (R, k)
    # Stable sort puts the kept neighbours first, nearest first.
    order = np.argsort(same_text, axis=1, kind="stable")[:, :count]
    picked = np.take_along_axis(found_rows, order, axis=1)  # (R, count)
    if np.take_along_axis(same_text, order, axis=1).any():
        raise RuntimeError(
            "too many duplicates of the translation among "
            "the nearest neighbours; raise extra"
        )
    negatives = np.full((len(en_keys), count), -1, dtype=np.int64)
    negatives[rows] = picked
    return negatives
