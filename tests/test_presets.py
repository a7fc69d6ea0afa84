"""Scale presets expand into concrete settings; overrides replace one."""

import pytest

from labse_lite.book import presets
from labse_lite.book.experiments import run_grid
from labse_lite.train import TrainConfig


def test_every_chapter_has_every_scale():
    for chapter in presets.CHAPTERS:
        for scale in presets.SCALES:
            s = presets.settings(chapter, scale)
            assert s["scale"] == scale
    laptop = presets.settings("margin", "laptop")
    colab = presets.settings("margin", "colab")
    assert laptop["device"] == "cpu" and laptop["init_model"] is None
    assert colab["init_model"] == "bert-base-multilingual-cased"
    assert colab["precision"] == "bf16" and colab["data_source"] == "hub"
    assert presets.settings("margin", "multi_gpu")["nproc_per_node"] > 1


def test_overrides_replace_single_settings():
    s = presets.settings(
        "margin", "laptop", margin_values=[0.0, 0.2], seeds=None
    )
    assert s["margin_values"] == [0.0, 0.2]
    assert s["seeds"] == presets.settings("margin")["seeds"]  # None: keep
    with pytest.raises(ValueError, match="unknown setting"):
        presets.settings("margin", "laptop", margins=[0.1])
    with pytest.raises(ValueError, match="unknown scale"):
        presets.settings("margin", "tpu")
    with pytest.raises(ValueError, match="unknown chapter"):
        presets.settings("no_such_chapter")


def test_presets_are_not_shared_mutable_state():
    s = presets.settings("margin")
    s["margin_values"].append(9.9)
    assert 9.9 not in presets.settings("margin")["margin_values"]


def test_run_grid_rejects_unknown_keys():
    with pytest.raises(ValueError, match="TrainConfig fields"):
        run_grid(TrainConfig(), {"margins": [0.1]})


def test_thread_cap_from_the_environment(monkeypatch):
    from labse_lite.runtime import cpu_threads

    monkeypatch.delenv("LABSE_LITE_MAX_THREADS", raising=False)
    assert cpu_threads(2) == 2 and cpu_threads(None) is None
    assert presets.settings("margin")["threads"] == 2
    monkeypatch.setenv("LABSE_LITE_MAX_THREADS", "1")
    assert cpu_threads(2) == 1 and cpu_threads(None) == 1
    assert cpu_threads(1) == 1
    assert presets.settings("margin")["threads"] == 1
    monkeypatch.setenv("LABSE_LITE_MAX_THREADS", "0")
    with pytest.raises(ValueError, match="positive integer"):
        cpu_threads(2)
