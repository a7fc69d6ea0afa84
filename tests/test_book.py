"""The book's parameters cells: papermill overrides reach the chapter."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_papermill_parameters_are_not_ignored(tmp_path):
    pm = pytest.importorskip("papermill")
    out = tmp_path / "margin.ipynb"
    pm.execute_notebook(
        str(ROOT / "book" / "03_margin.ipynb"), str(out),
        parameters=dict(margin_values=[0.0, 0.2], seeds=[0], max_steps=15),
        cwd=str(ROOT / "book"), kernel_name="python3", progress_bar=False)
    nb = json.loads(out.read_text())
    text = "".join(o.get("text", "") if isinstance(o.get("text"), str)
                   else "".join(o.get("text", []))
                   for cell in nb["cells"] if cell["cell_type"] == "code"
                   for o in cell.get("outputs", []))
    assert "margins: [0.0, 0.2]  seeds: [0]" in text
    assert "steps: 15" in text
    # The results table has exactly the injected margins as its rows.
    table = next("".join(o["data"]["text/plain"])
                 for cell in nb["cells"] if cell["cell_type"] == "code"
                 and "table = results.groupby" in "".join(cell["source"])
                 for o in cell["outputs"] if "data" in o)
    rows = [line.split()[0] for line in table.splitlines()[3:]]
    assert rows == ["0.0", "0.2"]


def test_every_chapter_has_one_parameters_cell_and_short_lines():
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        nb = json.loads(path.read_text())
        tagged = [c for c in nb["cells"]
                  if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, path.name
        assert "scale" in "".join(tagged[0]["source"]), path.name
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                for line in "".join(cell["source"]).splitlines():
                    assert len(line) <= 79, (path.name, line)
