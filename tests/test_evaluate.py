"""Retrieval metrics on hand-built embeddings."""

import pytest
import torch
import torch.nn.functional as F

from labse_lite.data import ParallelCorpus
from labse_lite.evaluate import (
    evaluate_all,
    group_averages,
    retrieval_accuracy,
)


def test_retrieval_accuracy_hand_built():
    e = torch.eye(4)
    assert retrieval_accuracy(e, e) == 1.0
    swapped = e[[1, 0, 2, 3]]
    assert retrieval_accuracy(swapped, e) == 0.5
    assert retrieval_accuracy(e[:2], e, gold=[0, 1]) == 1.0
    with pytest.raises(ValueError, match="no queries"):
        retrieval_accuracy(e[:0], e)


class LookupModel:
    """A fake encoder: a fixed vector per sentence."""

    def __init__(self, table):
        self.table = table

    def encode(self, sentences, batch_size=256, show_progress_bar=None):
        return F.normalize(
            torch.stack([self.table[s] for s in sentences]), dim=-1
        )


def test_tatoeba_and_large_pool_on_a_toy_benchmark():
    # deu retrieves perfectly within its own 2 candidates, but "Hallo"'s
    # vector is closest to the *fra* test's English sentence "Good night",
    # which only the large pool contains.
    table = {
        "Hallo": torch.tensor([1.0, 0.0, 0.0, 0.9]),
        "Danke": torch.tensor([0.0, 1.0, 0.0, 0.0]),
        "Bonne nuit": torch.tensor([0.0, 0.0, 1.0, 0.0]),
        "Hello": torch.tensor([1.0, 0.0, 0.0, 0.0]),
        "Thanks": torch.tensor([0.0, 1.0, 0.0, 0.0]),
        "Good night": torch.tensor([0.6, 0.0, 0.4, 1.0]),
    }
    corpus = ParallelCorpus(
        ["deu", "deu", "fra"],
        ["Hallo", "Danke", "Bonne nuit"],
        ["Hello", "Thanks", "Good night"],
    )
    res = evaluate_all(LookupModel(table), corpus)
    assert res["tatoeba"]["deu"]["xx2en"] == 100.0
    assert res["large_pool"]["pool_size"] == 3
    assert res["large_pool"]["deu"] == 50.0
    assert res["tatoeba_avg_xx2en"]["all"] == 100.0


def test_large_pool_counts_duplicate_english_once():
    table = {
        "A": torch.tensor([1.0, 0.0]),
        "B": torch.tensor([0.0, 1.0]),
        "a en": torch.tensor([1.0, 0.1]),
        "b en": torch.tensor([0.1, 1.0]),
    }
    corpus = ParallelCorpus(
        ["x", "y", "y"], ["A", "B", "A"], ["a en", "b en", "a en"]
    )
    res = evaluate_all(LookupModel(table), corpus)
    assert res["large_pool"]["pool_size"] == 2
    assert res["large_pool"]["y"] == 100.0


def test_group_averages():
    per = {
        "deu": {"xx2en": 80.0},
        "fra": {"xx2en": 60.0},
        "ang": {"xx2en": 10.0},
    }
    avg = group_averages(per, trained=["deu", "fra"])
    assert avg["all"] == pytest.approx(50.0)
    assert avg["xtreme36"] == pytest.approx(70.0)
    assert avg["trained"] == 70.0 and avg["unseen"] == 10.0


def test_large_pool_candidates_can_come_from_a_bigger_corpus():
    table = {
        "A": torch.tensor([1.0, 0.0]),
        "a en": torch.tensor([1.0, 0.1]),
        "other": torch.tensor([1.0, 0.05]),
    }
    small = ParallelCorpus(["x"], ["A"], ["a en"])
    big = ParallelCorpus(["x", "y"], ["A", "B"], ["a en", "other"])
    alone = evaluate_all(LookupModel(table), small)
    pooled = evaluate_all(LookupModel(table), small, pool=big)
    assert alone["large_pool"]["pool_size"] == 1
    assert pooled["large_pool"]["pool_size"] == 2
    assert pooled["large_pool"]["x"] == 0.0  # "other" is nearer
    with pytest.raises(ValueError, match="not in the candidate pool"):
        evaluate_all(LookupModel(table), big, pool=small)


def test_duplicate_gold_sentences_count_as_the_gold_in_both_directions():
    """Copies of a sentence get one vector, so their tie must not count
    as a miss: xx→en with a repeated English side, en→xx with a repeated
    non-English side; the large pool agrees (issue 13)."""
    table = {
        "Hallo": torch.tensor([1.0, 0.0, 0.0]),
        "Hallo!": torch.tensor([0.9, 0.1, 0.0]),
        "Danke": torch.tensor([0.0, 1.0, 0.0]),
        "Tschüss": torch.tensor([0.0, 0.0, 1.0]),
        "Hello": torch.tensor([1.0, 0.0, 0.0]),
        "Hello there": torch.tensor([1.0, 0.0, 0.1]),
        "Thanks": torch.tensor([0.0, 1.0, 0.0]),
        "Bye": torch.tensor([0.0, 0.0, 1.0]),
    }
    # xx→en: two pairs share the English "Hello" (2nd copy loses the tie).
    # en→xx: "Danke" is the non-English side of two pairs.
    corpus = ParallelCorpus(
        ["deu"] * 5,
        ["Hallo", "Hallo!", "Danke", "Danke", "Tschüss"],
        ["Hello", "hello", "Thanks", "Thanks", "Bye"],
    )
    res = evaluate_all(LookupModel({**table, "hello": table["Hello"]}), corpus)
    assert res["tatoeba"]["deu"]["xx2en"] == 100.0
    # en→xx: "hello" (a copy of "Hello") finds "Hallo", whose gold is
    # "Hello" -- but "Hallo" is not a copy of "Hallo!", so that one is a
    # real miss; the repeated "Thanks" -> "Danke" tie is not.
    assert res["tatoeba"]["deu"]["en2xx"] == pytest.approx(80.0)
    assert res["large_pool"]["deu"] == 100.0
    # A genuine miss still counts: "Hello there" is another sentence.
    corpus = ParallelCorpus(
        ["deu", "deu"], ["Hallo", "Danke"], ["Hello there", "Thanks"]
    )
    table["Hello there"] = torch.tensor([-1.0, 0.0, 0.0])
    res = evaluate_all(LookupModel(table), corpus)
    assert res["tatoeba"]["deu"]["xx2en"] == 50.0
    assert res["tatoeba"]["deu"]["en2xx"] == 50.0


def test_retrieval_accuracy_candidate_keys():
    e = torch.eye(3)
    cands = torch.stack([e[0], e[0], e[2]])  # rows 0, 1 are copies
    assert retrieval_accuracy(e[[0, 0, 2]], cands) == pytest.approx(2 / 3)
    assert (
        retrieval_accuracy(e[[0, 0, 2]], cands, candidate_keys=[0, 0, 1])
        == 1.0
    )
    with pytest.raises(ValueError, match="one id per candidate"):
        retrieval_accuracy(e, cands, candidate_keys=[0, 1])


def test_chunked_argmax_equals_one_matrix_and_reuses_its_buffer():
    """The large pool is scored in chunks of queries with one reused
    buffer; the last chunk is shorter.  Same answer as one big matmul."""
    from labse_lite.evaluate import _argmax_chunked

    g = torch.Generator().manual_seed(0)
    q = torch.randn(1030, 16, generator=g)
    c = torch.randn(700, 16, generator=g, requires_grad=True)
    full = (q @ c.detach().T).argmax(dim=1)
    assert torch.equal(_argmax_chunked(q, c, chunk=256), full)
    assert torch.equal(_argmax_chunked(q, c, chunk=5000), full)
    assert _argmax_chunked(q[:0], c).shape == (0,)


def test_eval_cli_refuses_a_folder_that_is_no_model(tmp_path, capsys):
    """`labse-lite eval --model DIR` on a folder without a model: one line
    naming it and what is missing, exit code 2 (before reading any data)."""
    from labse_lite.cli import main

    (tmp_path / "notes.txt").write_text("not a model\n")
    assert main(["eval", "--model", str(tmp_path), "--languages", "deu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"labse-lite eval: error: {tmp_path} holds no model: no "
        f"config.json, modules.json or dual_encoder.json"
    )
    assert main(["eval", "--model", str(tmp_path / "nope")]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(f"no model at {tmp_path / 'nope'}: no such folder")
    )


def test_auto_encode_length_truncates_under_the_target():
    from labse_lite.evaluate import auto_encode_length

    lengths = list(range(1, 101))  # 1..100 tokens
    # under 5% of 100 sentences: at most 4 longer than the length
    assert auto_encode_length(lengths, 10) == 96
    assert sum(n > 96 for n in lengths) == 4
    assert auto_encode_length(lengths, 10, target=0.5) == 51
    assert auto_encode_length(lengths, 60, target=0.5) == 60  # not below
    assert auto_encode_length(lengths, 10, limit=64) == 64  # capped
    assert auto_encode_length([7] * 3, 4) == 7  # 5% of 3: cut none
    assert auto_encode_length([], 32) == 32
    with pytest.raises(ValueError, match="target"):
        auto_encode_length(lengths, 10, target=0.0)


def test_evaluation_records_and_uses_the_encode_length(
    tiny_model, small_corpus
):
    """ "auto" (the default) reads at the shortest length that truncates
    under 5% of what the benchmark embeds; None at the training length;
    the result records both shares; the model's training length is left
    alone; a model that does not count tokens reads at its own length."""
    from labse_lite.evaluate import TRUNCATION_TARGET, dev_retrieval

    bench = small_corpus.take(list(range(0, 400, 2)))
    trained = tiny_model.max_length
    enc = evaluate_all(
        tiny_model, bench, show_progress_bar=False, encode_length=None
    )["encoding"]
    assert enc["length"] == enc["training_length"] == trained
    assert enc["truncated_share"] == enc["truncated_share_at_training_length"]
    auto = evaluate_all(tiny_model, bench, show_progress_bar=False)
    auto = auto["encoding"]
    assert auto["truncated_share"] < TRUNCATION_TARGET
    assert auto["length"] >= trained
    assert auto["truncated_share_at_training_length"] == enc["truncated_share"]
    if enc["truncated_share"] >= TRUNCATION_TARGET:
        assert auto["length"] > trained
    shorter = dev_retrieval(tiny_model, bench, encode_length=8)["encoding"]
    assert shorter["length"] == 8
    assert shorter["truncated_share"] >= enc["truncated_share"]
    assert tiny_model.max_length == trained
    lookup = LookupModel({})
    with pytest.raises(TypeError, match="chosen length"):
        evaluate_all(lookup, bench, encode_length=16)


def test_cli_eval_rejects_a_bad_encode_length(tmp_path, capsys):
    from labse_lite.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["eval", "--model", str(tmp_path), "--encode-length", "long"])
    assert exit_.value.code == 2
    assert "expected a number of tokens or 'auto'" in capsys.readouterr().err
