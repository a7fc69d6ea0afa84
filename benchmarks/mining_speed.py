#!/usr/bin/env python
"""Bitext mining speed and peak memory: labse-lite (faiss) vs brute force.

Mines n source x n target random L2-normalised float32 embeddings of
dimension 128 (the laptop model's) with k=4, the ratio margin and the
"max" retrieval mode (LaBSE §7, BUCC; LASER's margin mining), three ways:

- faiss_exact: ``labse_lite.mining.mine(..., index="exact")``
  (``faiss.IndexFlatIP``);
- ivf: the same with ``index="ivf"`` (``mining.ListMajorIVF``: k-means
  cells scanned cell by cell with matrix products; its settings from
  ``mining.choose_index``), the method ``index="auto"`` picks above
  200,000 sentences;
- faiss_hnsw: the same with ``index="hnsw"`` (faiss's HNSW graph);
- torch_bruteforce: plain torch, query chunks of ``--torch-chunk`` rows:
  ``scores = q @ candidates.T`` then ``torch.topk(scores, k)``, forward
  and backward, the same ratio margin
  (``cos / ((mean_k cos(x) + mean_k cos(y)) / 2)``), then
  ``labse_lite.mining.select_pairs`` on a ``MarginScores``, so the
  retrieval mode is the very same code.

Each run is a fresh subprocess (this script with ``--worker``) that loads
the embeddings from a temporary .npy file, so that its peak resident
memory (Linux's ``VmHWM``, see :func:`_peak_mib`) belongs to that run
alone.
Seconds are the wall time of the mining alone (faiss: the ``mine`` call,
index building included; torch: first matmul to the final pairs), not of
starting Python or loading.  Both libraries get ``--threads`` threads
(``faiss.omp_set_num_threads``, ``torch.set_num_threads`` and the
OMP/MKL/OpenBLAS variables of the worker).

With ``--planted`` (default 0.5) the first half of the targets are noisy
copies of shuffled sources, ``tgt[i] = normalize(src[perm[i]] +
noise * u)`` with u a random unit vector, so that there are real pairs
to find; ``planted_recall`` is the fraction of them each method mines.

Reported per size n: seconds and peak MiB per method.  The peak
includes Python and the imported libraries (torch alone is ~200 MiB), so
``rss_before_mib``, the peak after imports and loading, is reported too
and the table shows the difference (+MiB), the memory of mining itself.
Also reported: the number of mined pairs, the speed ratio torch seconds
/ faiss_exact seconds (above 1: faiss is faster), the agreement of torch
and of HNSW with exact faiss (the fraction of exact faiss's (src, tgt)
pairs the other also mined; ~1.0 for torch, as float32 ties may differ
very rarely) and what a dense n x n float32 similarity matrix would
need (n*n*4 bytes, in GB), which no method here ever allocates (torch
holds one --torch-chunk x n block at a time).

With ``--embeddings real`` the vectors are the reference model's
embeddings of real text (:func:`real_texts`: 1M non-English and 1M
English lines built from the shipped sentences, 37% of them translation
pairs), and smaller sizes are samples of it with the same share of pairs.
Above ``--exact-max`` only ivf runs (exact search of a million by a
million takes about an hour per direction on 2 cores); its k-NN is checked
against exact search for the first ``--recall-queries`` queries of each
direction (``knn_recall_vs_exact``: the fraction of the exact 4 nearest
neighbours found, by score, and of queries whose best match is found).
The real corpus repeats sentences, and between copies of one sentence
which row a search returns is a tie; ``same_sentences_fraction`` compares
mined pairs up to copies (:func:`first_copy`), beside the row-exact
``identical_fraction``.

    python benchmarks/mining_speed.py --sizes 10000 100000 [--threads 2]
    python benchmarks/mining_speed.py --embeddings real \
        --sizes 100000 1000000 --output benchmarks/results/mining_real.json

Results go to benchmarks/results/mining_speed.json (``--output``) and
are printed as a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DIM = 128  # the laptop model's embedding dimension
METHODS = ("faiss_exact", "ivf", "faiss_hnsw", "torch_bruteforce")
INDEX_OF = {"faiss_exact": "exact", "ivf": "ivf", "faiss_hnsw": "hnsw"}
REPO = Path(__file__).resolve().parent.parent


# -- data ---------------------------------------------------------------------


def _normalize(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def make_embeddings(
    n: int, seed: int, planted: float, noise: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random unit vectors ``(src, tgt, gold)``; the first ``planted * n``
    targets are noisy copies of shuffled sources, ``gold`` their
    (src, tgt) rows as an (m, 2) array."""
    rng = np.random.default_rng([seed, n])
    src = _normalize(rng.standard_normal((n, DIM), dtype=np.float32))
    tgt = _normalize(rng.standard_normal((n, DIM), dtype=np.float32))
    m = int(round(planted * n))
    perm = rng.permutation(n)[:m]
    if m:
        u = _normalize(rng.standard_normal((m, DIM), dtype=np.float32))
        tgt[:m] = _normalize(src[perm] + noise * u)
    gold = np.stack([perm, np.arange(m)], axis=1).astype(np.int64)
    return src, tgt, gold


def real_texts(n: int, seed: int) -> tuple[list, list, np.ndarray]:
    """``n`` source and ``n`` target texts from the shipped training pairs
    (372,793), and the gold (src, tgt) rows.  Every pair contributes its
    non-English side as a source and its English side as a target, at
    shuffled rows (the gold pairs); the remaining rows are two-sentence
    "documents" -- two random sentences of the same side joined by a
    space, with independent partners on the two sides, so they are not
    translations of each other -- as web text often holds several
    sentences per line."""
    from labse_lite.data import load_train_pairs

    pairs = load_train_pairs()
    rng = np.random.default_rng([seed, n])
    m = min(n, len(pairs))
    src_rows, tgt_rows = rng.permutation(len(pairs))[:m], None
    tgt_rows = rng.permutation(m)
    src = [pairs.xx[i] for i in src_rows]
    tgt = [pairs.en[src_rows[j]] for j in tgt_rows]
    gold = np.stack([tgt_rows, np.arange(m)], axis=1).astype(np.int64)
    for side, texts in ((pairs.xx, src), (pairs.en, tgt)):
        a = rng.integers(0, len(pairs), n - m)
        b = rng.integers(0, len(pairs), n - m)
        texts.extend(f"{side[i]} {side[j]}" for i, j in zip(a, b))
    return src, tgt, gold


def real_embeddings(
    n: int,
    seed: int,
    threads: int,
    cache: Path = REPO / "runs" / "bench_mining",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reference model's embeddings (``labse-lite reference``, the
    laptop model the book's chapters share) of :func:`real_texts`,
    cached as .npy files under ``cache``."""
    import torch

    from labse_lite.book.reference import cached_training, reference_config
    from labse_lite.model import DualEncoder

    run = cached_training(reference_config())
    folder = cache / f"{Path(run).parent.name}_n{n}_s{seed}"
    files = [folder / f"{name}.npy" for name in ("src", "tgt", "gold")]
    if not all(f.is_file() for f in files):
        torch.set_num_threads(threads)
        model = DualEncoder.from_pretrained(str(run))
        src, tgt, gold = real_texts(n, seed)
        folder.mkdir(parents=True, exist_ok=True)
        for name, texts in (("src", src), ("tgt", tgt)):
            emb = model.encode(
                texts, batch_size=512, show_progress_bar=True
            ).numpy()
            np.save(folder / f"{name}.npy", emb.astype(np.float32))
        np.save(folder / "gold.npy", gold)
    return tuple(np.load(f) for f in files)


def subsample(
    src: np.ndarray, tgt: np.ndarray, gold: np.ndarray, n: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` x ``n`` rows of a real-model corpus with the same share of
    gold pairs: a sample of the gold pairs (both sides) plus a sample of
    the other rows of each side."""
    rng = np.random.default_rng([seed, n, 1])
    m = int(round(n * len(gold) / len(src)))
    keep = gold[rng.choice(len(gold), m, replace=False)]  # (m, 2)
    others = np.arange(len(gold), len(src))  # rows past the gold pairs
    src_rows = np.concatenate(
        [keep[:, 0], rng.choice(others, n - m, replace=False)]
    )
    tgt_rows = np.concatenate(
        [keep[:, 1], rng.choice(others, n - m, replace=False)]
    )
    new_gold = np.stack([np.arange(m), np.arange(m)], axis=1)
    return (
        np.ascontiguousarray(src[src_rows]),
        np.ascontiguousarray(tgt[tgt_rows]),
        new_gold.astype(np.int64),
    )


# -- workers (each in a fresh process) ----------------------------------------


def _peak_mib() -> float:
    """This process's peak resident memory in MiB.  Linux's ``VmHWM``,
    which starts afresh at ``exec``; ``ru_maxrss`` survives ``exec``, so
    a worker started by a parent holding gigabytes would report the
    parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _mine_faiss(src, tgt, args, index):
    import faiss
    import torch

    from labse_lite.mining import margin_scores, select_pairs

    faiss.omp_set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    versions = {"faiss": faiss.__version__}

    def run():
        margins = margin_scores(
            src,
            tgt,
            k=args.k,
            scoring="ratio",
            index=index,
            show_progress_bar=False,
        )
        run.margins = margins
        return select_pairs(margins, "max")

    return run, versions


def _mine_torch(src, tgt, args):
    import torch

    from labse_lite.mining import MarginScores, select_pairs

    torch.set_num_threads(args.threads)
    versions = {"torch": torch.__version__}
    src_t, tgt_t = torch.from_numpy(src), torch.from_numpy(tgt)
    k, chunk = args.k, args.torch_chunk

    def topk(queries, candidates):
        cos = torch.empty((len(queries), k), dtype=torch.float32)
        index = torch.empty((len(queries), k), dtype=torch.int64)
        for start in range(0, len(queries), chunk):
            scores = queries[start : start + chunk] @ candidates.T
            cos[start : start + chunk], index[start : start + chunk] = (
                torch.topk(scores, k, dim=1)
            )
            del scores
        return cos, index

    def run():
        with torch.inference_mode():
            fwd_cos, fwd_index = topk(src_t, tgt_t)  # (n_src, k)
            bwd_cos, bwd_index = topk(tgt_t, src_t)  # (n_tgt, k)
            src_mean = fwd_cos.mean(dim=1)  # (n_src,)
            tgt_mean = bwd_cos.mean(dim=1)  # (n_tgt,)
            fwd_avg = (src_mean[:, None] + tgt_mean[fwd_index]) / 2
            bwd_avg = (tgt_mean[:, None] + src_mean[bwd_index]) / 2
            margins = MarginScores(
                scoring="ratio",
                fwd_index=fwd_index.numpy(),
                fwd_cos=fwd_cos.numpy(),
                fwd_score=(fwd_cos / fwd_avg).numpy(),
                bwd_index=bwd_index.numpy(),
                bwd_cos=bwd_cos.numpy(),
                bwd_score=(bwd_cos / bwd_avg).numpy(),
                src_mean=src_mean.numpy(),
                tgt_mean=tgt_mean.numpy(),
            )
            return select_pairs(margins, "max")

    return run, versions


def worker(args) -> int:
    """Mine ``args.data``/{src,tgt}.npy with one method; write
    result.json and the pairs (src.npy, tgt.npy, score.npy) to
    ``args.result``."""
    data, out = Path(args.data), Path(args.result)
    src = np.load(data / "src.npy")
    tgt = np.load(data / "tgt.npy")
    if args.worker == "torch_bruteforce":
        run, versions = _mine_torch(src, tgt, args)
    else:
        run, versions = _mine_faiss(src, tgt, args, INDEX_OF[args.worker])
    rss_before = _peak_mib()
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        pairs = run()
        times.append(time.perf_counter() - t0)
    peak = _peak_mib()
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "src.npy", pairs.src)
    np.save(out / "tgt.npy", pairs.tgt)
    np.save(out / "score.npy", pairs.score)
    margins = getattr(run, "margins", None)
    if margins is not None and args.recall_queries:
        q = args.recall_queries
        np.save(out / "fwd_cos.npy", margins.fwd_cos[:q])
        np.save(out / "bwd_cos.npy", margins.bwd_cos[:q])
    result = {
        "seconds": min(times),
        "all_seconds": times,
        "peak_rss_mib": peak,
        "rss_before_mib": rss_before,
        "pairs": len(pairs),
        "versions": versions,
    }
    (out / "result.json").write_text(json.dumps(result) + "\n")
    return 0


def run_worker(method: str, data: Path, result: Path, args) -> dict:
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = str(args.threads)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO)] + [p for p in [env.get("PYTHONPATH")] if p]
    )
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        method,
        "--data",
        str(data),
        "--result",
        str(result),
        "--k",
        str(args.k),
        "--threads",
        str(args.threads),
        "--torch-chunk",
        str(args.torch_chunk),
        "--repeat",
        str(args.repeat),
        "--recall-queries",
        str(args.recall_queries),
    ]
    done = subprocess.run(
        command, cwd=REPO, env=env, text=True, capture_output=True
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"the {method} worker failed "
            f"(exit {done.returncode}):\n{done.stderr}"
        )
    found = json.loads((result / "result.json").read_text())
    found["mined"] = {
        name: np.load(result / f"{name}.npy")
        for name in ("src", "tgt", "score")
    }
    for name in ("fwd_cos", "bwd_cos"):
        if (result / f"{name}.npy").is_file():
            found[name] = np.load(result / f"{name}.npy")
    return found


# -- comparison ---------------------------------------------------------------


def _keys(mined: dict, n: int) -> np.ndarray:
    return mined["src"] * n + mined["tgt"]


def first_copy(emb: np.ndarray) -> np.ndarray:
    """For every row, the first row with the very same vector: copies of
    one sentence (the real corpus repeats sentences) embed identically."""
    _, first, inverse = np.unique(
        emb, axis=0, return_index=True, return_inverse=True
    )
    return first[inverse.ravel()]


def agreement(
    reference: dict,
    other: dict,
    n: int,
    copies: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict:
    """How many of ``reference``'s (src, tgt) pairs ``other`` also mined,
    and how far apart their scores are on those pairs.  With ``copies``
    (:func:`first_copy` of the sources and of the targets) also the share
    of reference pairs that ``other`` mined up to copies of a sentence
    (``same_sentences_fraction``): between copies, which one a search
    returns is a tie broken by order, not a difference in quality."""
    ref_keys, other_keys = _keys(reference, n), _keys(other, n)
    extra = {}
    if copies is not None:

        def canonical(mined):
            return np.unique(
                copies[0][mined["src"]] * n + copies[1][mined["tgt"]]
            )

        ref_c, other_c = canonical(reference), canonical(other)
        extra["same_sentences_fraction"] = (
            float(np.isin(ref_c, other_c).mean()) if len(ref_c) else 0.0
        )
    common, i, j = np.intersect1d(
        ref_keys, other_keys, assume_unique=True, return_indices=True
    )
    diff = np.abs(reference["score"][i].astype(np.float64) - other["score"][j])
    return {
        "identical_fraction": len(common) / max(1, len(ref_keys)),
        "identical_pairs": int(len(common)),
        "reference_pairs": int(len(ref_keys)),
        "other_pairs": int(len(other_keys)),
        "max_abs_score_diff": float(diff.max()) if len(diff) else None,
        **extra,
    }


def planted_recall(mined: dict, gold: np.ndarray, n: int) -> float | None:
    if not len(gold):
        return None
    found = np.isin(gold[:, 0] * n + gold[:, 1], _keys(mined, n))
    return float(found.mean())


# -- main ---------------------------------------------------------------------


def knn_recall(
    approx_cos: np.ndarray, queries: np.ndarray, candidates: np.ndarray, k: int
) -> dict:
    """How much of the exact k-NN an approximate search found, for the
    first ``len(approx_cos)`` queries, judged by score (copies of one
    sentence tie, so rows are not compared): the fraction of its k
    cosines at least the exact k-th one, and of queries whose best
    cosine is the exact best."""
    import faiss

    from labse_lite.mining import knn

    faiss.omp_set_num_threads(2)
    start = time.perf_counter()
    exact, _ = knn(
        queries[: len(approx_cos)],
        candidates,
        k,
        index="exact",
        show_progress_bar=False,
    )
    seconds = time.perf_counter() - start
    return {
        "queries": len(approx_cos),
        "exact_seconds": seconds,
        "exact_seconds_all_queries_estimate": seconds
        * len(queries)
        / len(approx_cos),
        "recall_at_k": float(
            ((approx_cos >= exact[:, -1:] - 1e-5).sum(1) / k).mean()
        ),
        "top1": float((approx_cos[:, 0] >= exact[:, 0] - 1e-5).mean()),
    }


def load_data(n: int, args):
    if args.embeddings == "random":
        return make_embeddings(n, args.seed, args.planted, args.noise)
    src, tgt, gold = real_embeddings(args.real_size, args.seed, args.threads)
    if n == len(src):
        return src, tgt, gold
    return subsample(src, tgt, gold, n, args.seed)


def measure(n: int, args, workdir: Path) -> tuple[dict, dict]:
    src, tgt, gold = load_data(n, args)
    data = workdir / f"n{n}"
    data.mkdir()
    np.save(data / "src.npy", src)
    np.save(data / "tgt.npy", tgt)
    runs = {}
    methods = [
        m
        for m in args.methods
        if n <= args.exact_max
        or m not in ("faiss_exact", "torch_bruteforce", "faiss_hnsw")
    ]
    for method in methods:
        print(f"n={n}: {method} ...", file=sys.stderr, flush=True)
        runs[method] = run_worker(method, data, data / method, args)
    row = {
        "n": n,
        "dense_matrix_gb": n * n * 4 / 1e9,
        "methods": {},
        "agreement": {},
    }
    for method, found in runs.items():
        row["methods"][method] = {
            key: found[key]
            for key in (
                "seconds",
                "all_seconds",
                "peak_rss_mib",
                "rss_before_mib",
                "pairs",
            )
        }
        row["methods"][method]["planted_recall"] = planted_recall(
            found["mined"], gold, n
        )
        if method in ("ivf", "faiss_hnsw") and "fwd_cos" in found:
            row["methods"][method]["knn_recall_vs_exact"] = {
                "forward": knn_recall(found["fwd_cos"], src, tgt, args.k),
                "backward": knn_recall(found["bwd_cos"], tgt, src, args.k),
            }
    copies = (
        (first_copy(src), first_copy(tgt)) if "faiss_exact" in runs else None
    )
    del src, tgt
    if "faiss_exact" in runs:
        exact = runs["faiss_exact"]
        for method in ("torch_bruteforce", "ivf", "faiss_hnsw"):
            if method in runs:
                row["agreement"][f"{method}_vs_faiss_exact"] = agreement(
                    exact["mined"], runs[method]["mined"], n, copies
                )
        if "torch_bruteforce" in runs:
            row["speed_ratio_torch_over_faiss_exact"] = (
                runs["torch_bruteforce"]["seconds"] / exact["seconds"]
            )
    versions = {}
    for found in runs.values():
        versions.update(found["versions"])
    return row, versions


def print_table(rows: list[dict]) -> None:
    header = (
        f"{'n':>8} {'method':<17} {'seconds':>9} {'peak MiB':>9} "
        f"{'+MiB':>7} {'pairs':>8} {'vs exact':>9} {'planted':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        for method, m in row["methods"].items():
            agree = row["agreement"].get(f"{method}_vs_faiss_exact")
            same = agree and agree.get(
                "same_sentences_fraction", agree["identical_fraction"]
            )
            agree = (
                f"{same:.4f}"
                if agree
                else "-"
                if method != "faiss_exact"
                else "ref"
            )
            recall = (
                "-"
                if m["planted_recall"] is None
                else f"{m['planted_recall']:.4f}"
            )
            rec = m.get("knn_recall_vs_exact")
            rec = (
                f"  kNN recall {rec['forward']['recall_at_k']:.4f} / "
                f"{rec['backward']['recall_at_k']:.4f}"
                if rec
                else ""
            )
            print(
                f"{row['n']:>8} {method:<17} {m['seconds']:>9.3f} "
                f"{m['peak_rss_mib']:>9.1f} "
                f"{m['peak_rss_mib'] - m['rss_before_mib']:>7.1f} "
                f"{m['pairs']:>8} {agree:>9} {recall:>8}{rec}"
            )
        extra = f"dense n x n float32 matrix: {row['dense_matrix_gb']:.3f} GB"
        if "speed_ratio_torch_over_faiss_exact" in row:
            extra += (
                "; torch / faiss_exact seconds: "
                f"{row['speed_ratio_torch_over_faiss_exact']:.2f}"
            )
        print(f"{'':>8} {extra}")
    print(
        "(+MiB: peak RSS minus the peak after imports and loading; "
        "vs exact: fraction\n of faiss_exact's pairs also mined, up to "
        "copies of a sentence; "
        "planted: recall of the planted pairs)"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[10_000, 30_000, 100_000],
        help="n: mine n sources x n targets",
    )
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument(
        "--methods", nargs="+", choices=METHODS, default=list(METHODS)
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--torch-chunk",
        type=int,
        default=4096,
        help="query rows per torch matmul",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="timed runs per worker; the best is reported",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--planted",
        type=float,
        default=0.5,
        help="fraction of targets that are noisy copies of sources (0: none)",
    )
    parser.add_argument(
        "--noise",
        type=float,
        default=0.5,
        help="norm of the noise added to planted copies",
    )
    parser.add_argument(
        "--output", default="benchmarks/results/mining_speed.json"
    )
    parser.add_argument(
        "--embeddings",
        choices=["random", "real"],
        default="random",
        help="real: the reference model's embeddings of "
        "the shipped sentences (see real_texts)",
    )
    parser.add_argument(
        "--real-size",
        type=int,
        default=1_000_000,
        help="rows of the real corpus; smaller sizes are samples of it",
    )
    parser.add_argument(
        "--exact-max",
        type=int,
        default=300_000,
        help="above this size run only ivf (exact search "
        "is too slow) and check it on --recall-queries",
    )
    parser.add_argument(
        "--recall-queries",
        type=int,
        default=10_000,
        help="queries whose k-NN is checked against exact search",
    )
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from labse_lite.runtime import provenance

    if args.worker:
        return worker(args)
    if not 0 <= args.planted <= 1:
        parser.error("--planted must be between 0 and 1")
    if min(args.sizes) < args.k or args.k < 1 or args.threads < 1:
        parser.error("need 1 <= k <= every size and threads >= 1")

    rows, versions = [], {}
    with tempfile.TemporaryDirectory(prefix="mining_speed_") as tmp:
        for n in args.sizes:
            row, found = measure(n, args, Path(tmp))
            rows.append(row)
            versions.update(found)
    result = {
        "setting": {
            **{
                key: value
                for key, value in vars(args).items()
                if key not in ("worker", "data", "result")
            },
            "dim": DIM,
            "scoring": "ratio",
            "mode": "max",
            "embeddings": (
                "random unit vectors, float32"
                if args.embeddings == "random"
                else "the reference model's embeddings of "
                "the shipped sentences and two-sentence "
                "lines (real_texts)"
            ),
        },
        "results": rows,
        "versions": {
            **versions,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "machine": {"cpus": os.cpu_count(), "threads": args.threads},
        "provenance": provenance(
            __file__, sys.argv[1:] if argv is None else list(argv)
        ),
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    print()
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
