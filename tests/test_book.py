"""The book's notebooks: one parameters cell each, short code lines."""

import json
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent


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
