"""Bitext mining: k-NN search, margin scores, retrieval modes, F1."""

import numpy as np
import pytest
import torch

faiss = pytest.importorskip("faiss")

from labse_lite.mining import (  # noqa: E402
    ListMajorIVF,
    MarginScores,
    best_f1_threshold,
    build_index,
    knn,
    margin_scores,
    mine,
    precision_recall_f1,
    read_mined_pairs,
    select_pairs,
    write_tsv,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Keep faiss and torch on one thread, restoring them afterwards."""
    faiss_threads, torch_threads = (
        faiss.omp_get_max_threads(),
        torch.get_num_threads(),
    )
    faiss.omp_set_num_threads(1)
    torch.set_num_threads(1)
    yield
    faiss.omp_set_num_threads(faiss_threads)
    torch.set_num_threads(torch_threads)


def normalised(n, dim, seed):
    x = np.random.default_rng(seed).standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


# --- k-NN search --------------------------------------------------------


def test_knn_exact_matches_brute_force():
    queries, candidates = normalised(50, 16, 0), normalised(60, 16, 1)
    scores, indices = knn(queries, candidates, k=5)
    assert scores.shape == indices.shape == (50, 5)
    assert scores.dtype == np.float32 and indices.dtype == np.int64
    sim = queries.astype(np.float64) @ candidates.astype(np.float64).T
    expected = np.argsort(-sim, axis=1)[:, :5]
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(
        scores, np.take_along_axis(sim, expected, axis=1), atol=1e-5
    )
    assert (np.diff(scores, axis=1) <= 0).all()  # best first


def test_knn_accepts_torch_and_chunking_changes_nothing():
    queries, candidates = normalised(50, 16, 2), normalised(60, 16, 3)
    whole = knn(queries, candidates, k=4)
    chunked = knn(
        torch.from_numpy(queries),
        torch.from_numpy(candidates),
        k=4,
        chunk_size=7,
        show_progress_bar=False,
    )
    np.testing.assert_array_equal(whole[0], chunked[0])
    np.testing.assert_array_equal(whole[1], chunked[1])


def test_knn_approximate_recalls_exact_top1():
    candidates, queries = normalised(2000, 32, 4), normalised(300, 32, 5)
    exact = knn(queries, candidates, k=1, index="exact")[1][:, 0]
    # Uniformly random vectors have no clusters, the worst case for IVF:
    # scanning 16 of its 51 cells finds 88% of the nearest neighbours, 32
    # cells 98%; HNSW's graph finds them all.
    ivf = knn(queries, candidates, k=1, index="ivf", nprobe=32)[1][:, 0]
    assert (exact == ivf).mean() >= 0.95
    hnsw = knn(queries, candidates, k=1, index="hnsw")[1][:, 0]
    assert (exact == hnsw).mean() >= 0.95


def test_auto_index_switches_at_threshold():
    x = normalised(400, 8, 6)
    assert isinstance(build_index(x), faiss.IndexFlatIP)
    assert isinstance(build_index(x, approximate_threshold=10), ListMajorIVF)
    assert isinstance(build_index(x, "hnsw"), faiss.IndexHNSWFlat)
    assert isinstance(
        build_index(x, "exact", approximate_threshold=10), faiss.IndexFlatIP
    )


def test_index_settings_follow_the_corpus_size_and_can_be_overridden():
    from labse_lite.mining import choose_index

    assert choose_index(100_000, 128).kind == "exact"
    big = choose_index(1_000_000, 128)
    assert (big.kind, big.nlist, big.nprobe) == ("ivf", 2048, 64)
    assert choose_index(300_000, 128).nlist == 1024
    assert choose_index(300_000, 128).nprobe == 32
    mine_it = choose_index(1_000_000, 128, nlist=1024, nprobe=64)
    assert (mine_it.nlist, mine_it.nprobe) == (1024, 64)
    assert choose_index(1000, 8, index="approx").nlist == 25  # 39 per list
    assert "nprobe=64" in big.describe()
    with pytest.raises(ValueError, match="nprobe must be a positive"):
        choose_index(10, 8, nprobe=0)


def test_approximate_mining_equals_exact_on_a_planted_set():
    """IVF scans 32 of its 76-115 cells per query: on 3000 sentences whose
    translations are planted among 1500 distractors it mines exactly the
    pairs exact search mines."""
    rng = np.random.default_rng(7)
    src = normalised(3000, 32, 8)
    perm = rng.permutation(3000)
    tgt = src[perm] + 0.15 * rng.standard_normal((3000, 32)) / np.sqrt(32)
    tgt = np.concatenate([tgt, normalised(1500, 32, 9)])
    tgt = (tgt / np.linalg.norm(tgt, axis=1, keepdims=True)).astype(np.float32)
    exact = mine(src, tgt, index="exact")
    approx = mine(src, tgt, index="ivf")
    assert approx.pairs() == exact.pairs()
    # The margins differ a little: the k=4 neighbours that set each
    # sentence's mean cosine are found approximately.
    np.testing.assert_allclose(
        np.sort(approx.score), np.sort(exact.score), rtol=0.05
    )
    assert {(int(perm[j]), j) for j in range(3000)} <= exact.pairs()


# --- margin scores ------------------------------------------------------


def brute_force_margins(src, tgt, k, scoring):
    """float64 reference: full similarity matrix, kNN means by sorting."""
    sim = src.astype(np.float64) @ tgt.astype(np.float64).T  # (n_src, n_tgt)
    src_mean = -np.sort(-sim, axis=1)[:, :k].mean(axis=1)
    tgt_mean = -np.sort(-sim.T, axis=1)[:, :k].mean(axis=1)
    avg = (src_mean[:, None] + tgt_mean[None, :]) / 2
    return sim / avg if scoring == "ratio" else sim - avg


@pytest.mark.parametrize("scoring", ["ratio", "distance", "absolute"])
def test_margin_scores_match_float64_reference(scoring):
    src, tgt = normalised(50, 16, 7), normalised(60, 16, 8)
    margins = margin_scores(src, tgt, k=4, scoring=scoring)
    assert isinstance(margins, MarginScores)
    assert margins.fwd_score.shape == (50, 4)
    assert margins.bwd_score.shape == (60, 4)
    if scoring == "absolute":
        full = src.astype(np.float64) @ tgt.astype(np.float64).T
    else:
        full = brute_force_margins(src, tgt, 4, scoring)
    rows = np.arange(50)[:, None]
    np.testing.assert_allclose(
        margins.fwd_score, full[rows, margins.fwd_index], atol=1e-5
    )
    cols = np.arange(60)[:, None]
    np.testing.assert_allclose(
        margins.bwd_score, full.T[cols, margins.bwd_index], atol=1e-5
    )


# --- retrieval modes ----------------------------------------------------

# Sources 0 and 1 both prefer target 0 (a conflict); source 2 is target 2.
RAW = np.array([[0.9, 0.3, 0.1], [0.8, 0.5, 0.1], [0.1, 0.2, 0.9]])
SRC = (RAW / np.linalg.norm(RAW, axis=1, keepdims=True)).astype(np.float32)
TGT = np.eye(3, dtype=np.float32)
COS = SRC.astype(np.float64)  # cos(src i, tgt j) = SRC[i, j]


def triples(pairs):
    return [(s, t) for s, t, _ in pairs], [score for _, _, score in pairs]


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("forward", [(2, 2), (0, 0), (1, 0)]),
        ("backward", [(2, 2), (0, 0), (1, 1)]),
        ("intersection", [(2, 2), (0, 0)]),
        ("max", [(2, 2), (0, 0), (1, 1)]),
    ],
)
def test_retrieval_modes_hand_built(mode, expected):
    pairs = mine(SRC, TGT, k=3, scoring="absolute", mode=mode)
    got, scores = triples(pairs)
    assert got == expected
    np.testing.assert_allclose(
        scores, [COS[s, t] for s, t in expected], atol=1e-6
    )
    assert len(pairs) == len(expected)


def test_threshold_filters_and_torch_input():
    pairs = mine(
        torch.from_numpy(SRC),
        torch.from_numpy(TGT),
        k=3,
        scoring="absolute",
        mode="max",
        threshold=0.6,
    )
    assert triples(pairs)[0] == [(2, 2), (0, 0)]
    assert pairs.pairs() == {(0, 0), (2, 2)}


def test_select_pairs_reuses_one_scoring():
    margins = margin_scores(SRC, TGT, k=2, scoring="distance")
    assert select_pairs(margins, "forward").pairs() == {(0, 0), (1, 0), (2, 2)}


def test_mine_recovers_planted_translations():
    rng = np.random.default_rng(9)
    src = normalised(200, 32, 10)
    perm = rng.permutation(200)
    noisy = src[perm] + 0.05 * rng.standard_normal((200, 32))
    tgt = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    gold = {(int(perm[j]), j) for j in range(200)}
    for scoring in ("ratio", "distance"):
        pairs = mine(src, tgt.astype(np.float32), scoring=scoring)
        assert pairs.pairs() == gold
        assert (np.diff(pairs.score) <= 0).all()
        assert precision_recall_f1(pairs, gold) == (1.0, 1.0, 1.0)


# --- F1 -----------------------------------------------------------------


def test_best_f1_threshold_known_curve():
    # F1 = 2 correct / (kept + n_gold) when cutting after each score:
    # 0.9 -> 2/6, 0.8 -> 4/7, 0.7 -> 6/8, 0.6 -> 6/9, 0.5 -> 6/10,
    # 0.4 -> 8/11; one of the 5 gold pairs is no candidate at all.
    scores = [0.4, 0.9, 0.6, 0.8, 0.5, 0.7]
    correct = [True, True, False, True, False, True]
    t, p, r, f1 = best_f1_threshold(scores, correct, n_gold=5)
    assert t == pytest.approx(0.7)
    assert (p, r, f1) == pytest.approx((1.0, 3 / 5, 6 / 8))


def test_best_f1_threshold_keeps_ties_together():
    # Splitting the tie at 0.8 would give F1 4/5; keeping both gives 4/6.
    for order in ([0, 1, 2, 3], [0, 2, 1, 3]):
        scores = np.array([0.9, 0.8, 0.8, 0.7])[order]
        correct = np.array([True, True, False, False])[order]
        t, p, r, f1 = best_f1_threshold(scores, correct, n_gold=3)
        assert t == pytest.approx(0.8)
        assert (p, r, f1) == pytest.approx((2 / 3, 2 / 3, 2 / 3))


def test_precision_recall_f1():
    mined = [(0, 0, 0.9), (1, 1, 0.8), (2, 3, 0.7)]
    gold = [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert precision_recall_f1(mined, gold) == pytest.approx(
        (2 / 3, 2 / 4, 4 / 7)
    )
    assert precision_recall_f1([], gold) == (0.0, 0.0, 0.0)


# --- bad input ----------------------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: knn(np.ones((2, 3)), np.ones((4, 5)), k=1),
            "different dimensions",
        ),
        (
            lambda: mine(np.ones((2, 3)), np.ones((4, 5))),
            "different dimensions",
        ),
        (lambda: knn(SRC, TGT, k=0), "k must be between 1"),
        (lambda: knn(SRC, TGT, k=4), "k must be between 1"),
        (lambda: mine(SRC, TGT, k=4), "k must be between 1"),
        (lambda: mine(SRC, TGT, mode="union"), "unknown mode 'union'"),
        (lambda: mine(SRC, TGT, scoring="cosine"), "unknown scoring 'cosine'"),
        (lambda: knn(SRC, TGT, k=1, index="ivfpq"), "unknown index 'ivfpq'"),
        (lambda: knn(SRC, TGT, k=1, chunk_size=0), "chunk_size must be"),
        (lambda: mine(SRC[:0], TGT), "src is empty"),
        (lambda: knn(SRC, TGT[:0], k=1), "candidates is empty"),
        (lambda: mine(SRC[0], TGT), "must be a 2-D"),
        (lambda: best_f1_threshold([], [], n_gold=1), "no scored candidates"),
        (
            lambda: best_f1_threshold([0.5, 0.4], [1, 1], n_gold=1),
            "n_gold must be",
        ),
        (lambda: precision_recall_f1([(0, 0)], []), "gold_pairs is empty"),
    ],
)
def test_bad_input_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- TSV ----------------------------------------------------------------


def test_write_tsv_round_trip(tmp_path):
    src = ["Guten Morgen.", "Straße — ça va?", "Ein Baum."]
    tgt = ["Good morning.", "Street: how are you?", "A tree."]
    pairs = mine(SRC, TGT, k=2, mode="backward")
    path = tmp_path / "mined.tsv"
    assert write_tsv(path, pairs, src, tgt) == len(pairs)
    rows = read_mined_pairs(path)
    assert [(s, t) for _, s, t in rows] == [
        (src[i], tgt[j]) for i, j, _ in pairs
    ]
    np.testing.assert_allclose(
        [score for score, _, _ in rows], pairs.score, atol=1e-6
    )
    text = path.read_text(encoding="utf-8")
    assert text.count("\n") == len(pairs) and "\t" in text
    assert write_tsv(path, [(0, 1, 1.25)], src, tgt) == 1
    assert read_mined_pairs(path) == [(1.25, src[0], tgt[1])]
    with pytest.raises(ValueError, match="out of range"):
        write_tsv(path, [(5, 0, 1.0)], src, tgt)
    with pytest.raises(ValueError, match="tab or newline"):
        write_tsv(path, [(0, 0, 1.0)], ["a\tb"], tgt)


def test_list_major_ivf_scanning_every_cell_is_exact_search():
    """With nprobe = nlist every candidate is scored: the list-major scan
    must then return exactly what exact search returns (it only reorders
    the work), and fewer cells never find a better neighbour."""
    candidates, queries = normalised(3000, 16, 11), normalised(500, 16, 12)
    exact = knn(queries, candidates, k=5, index="exact")
    index = ListMajorIVF(candidates, nlist=20, nprobe=20)
    scores, ids = index.search(queries, 5)
    np.testing.assert_allclose(scores, exact[0], atol=1e-5)
    assert (ids == exact[1]).mean() > 0.999  # float ties only
    fewer = ListMajorIVF(candidates, nlist=20, nprobe=3).search(queries, 5)
    assert (fewer[0] <= exact[0] + 1e-5).all()
    assert (fewer[0][:, 0] >= exact[0][:, 0] - 1e-5).mean() > 0.5
