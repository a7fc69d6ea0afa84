"""The second half of tests/test_parameters.py's chapter runs (a file of
its own so that the two pytest-xdist workers share them)."""

import pytest
from test_parameters import SECOND_HALF, SMALL, run_small


@pytest.mark.notebook
@pytest.mark.parametrize(
    "stem",
    [
        pytest.param(s, marks=pytest.mark.distributed)
        if SMALL[s].get("nproc_per_node", 1) > 1
        else s
        for s in sorted(SECOND_HALF)
    ],
    ids=lambda s: s[:2],
)
def test_chapter_runs_with_small_parameters(stem, tmp_path):
    run_small(stem, tmp_path)
