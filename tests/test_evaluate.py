"""Retrieval metrics on hand-built embeddings."""

import pytest
import torch
import torch.nn.functional as F

from labse_lite.data import ParallelCorpus
from labse_lite.evaluate import (evaluate_all, group_averages,
                                 retrieval_accuracy)


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
        return F.normalize(torch.stack([self.table[s] for s in sentences]),
                           dim=-1)


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
    corpus = ParallelCorpus(["deu", "deu", "fra"],
                            ["Hallo", "Danke", "Bonne nuit"],
                            ["Hello", "Thanks", "Good night"])
    res = evaluate_all(LookupModel(table), corpus)
    assert res["tatoeba"]["deu"]["xx2en"] == 100.0
    assert res["large_pool"]["pool_size"] == 3
    assert res["large_pool"]["deu"] == 50.0
    assert res["tatoeba_avg_xx2en"]["all"] == 100.0


def test_large_pool_counts_duplicate_english_once():
    table = {"A": torch.tensor([1.0, 0.0]), "B": torch.tensor([0.0, 1.0]),
             "a en": torch.tensor([1.0, 0.1]),
             "b en": torch.tensor([0.1, 1.0])}
    corpus = ParallelCorpus(["x", "y", "y"], ["A", "B", "A"],
                            ["a en", "b en", "a en"])
    res = evaluate_all(LookupModel(table), corpus)
    assert res["large_pool"]["pool_size"] == 2
    assert res["large_pool"]["y"] == 100.0


def test_group_averages():
    per = {"deu": {"xx2en": 80.0}, "fra": {"xx2en": 60.0},
           "ang": {"xx2en": 10.0}}
    avg = group_averages(per, trained=["deu", "fra"])
    assert avg["all"] == pytest.approx(50.0)
    assert avg["xtreme36"] == pytest.approx(70.0)
    assert avg["trained"] == 70.0 and avg["unseen"] == 10.0


def test_large_pool_candidates_can_come_from_a_bigger_corpus():
    table = {"A": torch.tensor([1.0, 0.0]), "a en": torch.tensor([1.0, 0.1]),
             "other": torch.tensor([1.0, 0.05])}
    small = ParallelCorpus(["x"], ["A"], ["a en"])
    big = ParallelCorpus(["x", "y"], ["A", "B"], ["a en", "other"])
    alone = evaluate_all(LookupModel(table), small)
    pooled = evaluate_all(LookupModel(table), small, pool=big)
    assert alone["large_pool"]["pool_size"] == 1
    assert pooled["large_pool"]["pool_size"] == 2
    assert pooled["large_pool"]["x"] == 0.0      # "other" is nearer
    with pytest.raises(ValueError, match="not in the candidate pool"):
        evaluate_all(LookupModel(table), big, pool=small)
