"""The book's notebooks: one parameters cell each, short code lines."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))


def test_the_book_has_its_eleven_chapters():
    """The checks below loop over the chapters found: they must be the
    book's 11 (00 to 10), or a moved book/ would pass them vacuously."""
    assert [p.name[:3] for p in CHAPTERS] == [
        f"{i:02d}_" for i in range(11)
    ], [p.name for p in CHAPTERS]


def test_every_chapter_has_one_parameters_cell_and_short_lines():
    for path in CHAPTERS:
        nb = json.loads(path.read_text())
        tagged = [
            c
            for c in nb["cells"]
            if "parameters" in c.get("metadata", {}).get("tags", [])
        ]
        assert len(tagged) == 1, path.name
        assert "scale" in "".join(tagged[0]["source"]), path.name
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                for line in "".join(cell["source"]).splitlines():
                    assert len(line) <= 79, (path.name, line)


def test_every_chapter_is_a_lesson():
    """Objectives first; Summary, Exercises and References last, in that
    order; a "What to notice" note after every figure (before the next
    figure)."""
    import re

    for path in CHAPTERS:
        nb = json.loads(path.read_text())
        cells = nb["cells"]
        text = ["".join(c["source"]) for c in cells]
        md = [t for c, t in zip(cells, text) if c["cell_type"] == "markdown"]
        assert any(
            "After this chapter you will be able to" in t for t in md[:3]
        ), path.name
        heads = [h for t in md for h in re.findall(r"^## (.+)$", t, re.M)]
        ends = [
            h for h in heads if h in ("Summary", "Exercises", "References")
        ]
        assert ends == ["Summary", "Exercises", "References"], (
            path.name,
            ends,
        )
        assert heads[-1] == "References", (path.name, heads[-3:])
        waiting = None  # a figure not yet followed by its note
        for i, (cell, src) in enumerate(zip(cells, text)):
            if cell["cell_type"] == "markdown" and "What to notice" in src:
                waiting = None
            elif cell["cell_type"] == "code" and any(
                "image/png" in o.get("data", {})
                for o in cell.get("outputs", [])
            ):
                assert waiting is None, (
                    path.name,
                    f"no note after the figure of cell {waiting}",
                )
                waiting = i
        assert waiting is None, (
            path.name,
            f"no note after the figure of cell {waiting}",
        )


def test_the_colab_cell_clones_the_configured_repository():
    """One repository URL: _config.yml's repository.url (which the Colab
    buttons use) is the one every chapter's Colab cell clones."""
    import re

    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url = config["repository"]["url"]
    for path in CHAPTERS:
        nb = json.loads(path.read_text())
        cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
        source = "".join(cell["source"])
        cloned = re.findall(r'"(https://[^"]+)"', source)
        assert cloned == [url], (
            f"{path.name}: the Colab cell clones {cloned}, _config.yml "
            f"says {url}"
        )


# Results that chapters compare with the reference model they build: the
# file must come from the same build (issue 27, "one build per book").
REFERENCE_RESULTS = {"hard_negatives.json", "lightweight_student.json"}


def test_every_result_file_a_chapter_shows_names_its_source():
    """A number from benchmarks/results is shown with its command, commit,
    date and machine (labse_lite.book.results.read_result), and the files
    compared with the reference model come from this book's build of it."""
    import re

    from labse_lite.book.results import current_reference_key, results_dir

    shown = set()
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "code":
                assert 'benchmarks" / "results' not in source, (
                    f"{path.name} reads a result file without its caption: "
                    f"use labse_lite.book.results.read_result"
                )
                shown |= set(re.findall(r'read_result\("([^"]+)"', source))
    assert REFERENCE_RESULTS <= shown and len(shown) >= 5
    key = current_reference_key()
    for name in sorted(shown):
        prov = json.loads((results_dir() / name).read_text())["provenance"]
        assert prov["command"].startswith("python benchmarks/"), name
        assert prov["commit"] and prov["date"], name
        assert prov["machine"]["cpus"] and prov["machine"]["threads"], name
        if name in REFERENCE_RESULTS:
            assert prov["reference_key"] == key, (
                f"{name} was measured on another build of the reference "
                f"model ({prov['reference_key']}, this book builds {key}): "
                f"re-run `{prov['command']}`"
            )
