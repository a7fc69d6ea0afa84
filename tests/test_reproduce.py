"""scripts/reproduce.py's comparison (the executions themselves are
``make book-reproduce``, about 45 minutes): timings and temporary paths
are masked, any other difference is found and located."""

import importlib.util
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _module():
    spec = importlib.util.spec_from_file_location(
        "reproduce", ROOT / "scripts" / "reproduce.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nb(*texts):
    return {
        "cells": [
            {
                "cell_type": "code",
                "outputs": [{"output_type": "stream", "text": [t]}],
            }
            for t in texts
        ]
    }


def test_masked_outputs_hide_times_and_temporary_paths_only():
    rep = _module()
    a = rep.masked_outputs(
        _nb("trained in 12.3 s, 40 steps/s", "/tmp/ch08_x1")
    )
    b = rep.masked_outputs(_nb("trained in 9.9 s, 51 steps/s", "/tmp/ch08_y2"))
    assert a == b
    c = rep.masked_outputs(_nb("trained in 9.9 s, 51 steps/s", "P@1 31.9"))
    d = rep.masked_outputs(_nb("trained in 9.9 s, 51 steps/s", "P@1 32.0"))
    result = rep.diff(c, d)
    assert not result["identical"] and result["cells_differing"] == 1
    assert result["first_difference"]["code_cell"] == 1


def test_report_compares_the_two_runs_and_the_committed_chapter(tmp_path):
    rep = _module()
    chapter = ROOT / "book" / "00_introduction.ipynb"
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        shutil.copy(chapter, tmp_path / run / chapter.name)
        (tmp_path / run / "times.json").write_text(
            json.dumps({chapter.name: 1.0})
        )
    (tmp_path / "a" / "claims.jsonl").write_text(
        json.dumps({"chapter": "00", "claim": "x", "resolved": True}) + "\n"
    )
    result = rep.report([chapter], tmp_path, 1, [])
    row = result["chapters"]["00_introduction"]
    assert row["twice"]["identical"] and row["against_committed"]["identical"]
    assert result["claims"] == [
        {"chapter": "00", "claim": "x", "resolved": True}
    ]
    assert result["machine"]["threads"] == 1 and result["commit"]


TABLE_A = """\
            max_steps  tatoeba_xx2en  train_seconds
batch_size
16               2560          36.93          45.02
64                640          53.73          26.24
"""


def test_timing_only_accepts_time_columns_and_lines_only():
    rep = _module()
    slower = TABLE_A.replace("45.02", "42.85").replace("26.24", "25.72")
    assert rep.timing_only(TABLE_A, slower)
    worse = TABLE_A.replace("53.73", "53.71")
    assert not rep.timing_only(TABLE_A, worse)
    assert rep.timing_only(
        "loss 7.549 vs 7.685; seconds 85 vs 83",
        "loss 7.549 vs 7.685; seconds 90 vs 82",
    )
    assert not rep.timing_only(
        "loss 7.549 vs 7.685; seconds 85 vs 83",
        "loss 7.550 vs 7.685; seconds 85 vs 83",
    )
    result = rep.diff(["x"], ["y"], [TABLE_A], [slower])
    assert not result["identical"] and result["identical_but_timings"]
