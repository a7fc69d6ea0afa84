"""Every chapter run once with small, non-preset papermill parameters, as a
reader might change them: it must run to the end.  Claims that need the
preset's budget are then reported as not reproduced (see
``labse_lite.book.claims``), never a bare ``AssertionError``; claims that hold
for any settings are still enforced.

Chapter 00 has no parameter but the scale and is run by nbval as it is.
"""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"

SMALL = {
    "01_data_and_vocabulary": dict(vocab_size=4000, alpha=0.5,
                                   tail_size=500, seed=1),
    # A reader's change that used to stop at a bare `assert ours > 20.0`,
    # on two torchrun processes (gloo on CPU), each with half of every
    # global batch.
    "02_dual_encoder": dict(max_steps=200, margin=0.1, seed=3,
                            nproc_per_node=2),
    "03_margin": dict(margin_values=[0.0, 0.2], seeds=[0], max_steps=15),
    "04_cross_device": dict(global_batches=[16, 32], pairs_seen=1024,
                            seed=1),
    "05_mining": dict(mining_languages=["deu_Latn", "fra_Latn"], k=3,
                      seed=1),
    "06_pretraining": dict(budgets=[20, 40], seeds=[0], pretrain_steps=40,
                           languages=["deu", "fra"]),
    "07_zero_shot": dict(max_steps=60, seeds=[0], control_steps=30),
    "08_lightweight_models": dict(student_steps=30, seeds=[0], dims=[32]),
    "09_multilingual_distillation": dict(student_steps=30, seeds=[0],
                                         pairs_per_language=300),
    "10_english_only_transfer": dict(finetune_steps=20, seeds=[0]),
}


def _xx2en_table(nb: dict) -> dict[str, float]:
    """Chapter 02's per-language table (text output) as {lang: xx→en}."""
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code"
                and "per_lang.round(1)" in "".join(c["source"]))
    text = next("".join(o["data"]["text/plain"]) for o in cell["outputs"]
                if "data" in o)
    rows = [line.split() for line in text.splitlines()[1:]]
    return {row[0]: float(row[1]) for row in rows}


def _text(nb: dict) -> str:
    return "".join("".join(o.get("text", "")) for c in nb["cells"]
                   if c["cell_type"] == "code" for o in c.get("outputs", []))


def test_every_chapter_with_parameters_is_covered():
    chapters = {p.stem for p in BOOK.glob("[0-9][0-9]_*.ipynb")}
    assert set(SMALL) == chapters - {"00_introduction"}


@pytest.mark.parametrize("stem", sorted(SMALL), ids=lambda s: s[:2])
def test_chapter_runs_with_small_parameters(stem, tmp_path):
    pm = pytest.importorskip("papermill")
    out = tmp_path / f"{stem}.ipynb"
    pm.execute_notebook(str(BOOK / f"{stem}.ipynb"), str(out),
                        parameters=SMALL[stem], cwd=str(BOOK),
                        kernel_name="python3", progress_bar=False)
    nb = json.loads(out.read_text())
    text = _text(nb)
    assert "Traceback" not in text
    # A claim that was not reproduced names itself and the settings.
    for line in text.splitlines():
        if line.startswith(("Not reproduced with your settings",
                            "Not checked with your settings")):
            assert "the preset has" in line, line
    if stem == "02_dual_encoder":
        # Two processes ran the chapter's training through torchrun.  They
        # retrain the vocabulary, and WordPiece breaks frequency ties
        # differently in each process, so only learning is checked (exact
        # agreement of two processes with one: tests/test_launch.py and
        # chapter 04): every language at least ten times chance (1 in
        # 1000) and the six together far above it.
        assert "200 steps" in text and "on 2 process(es)" in text
        two = _xx2en_table(nb)
        one = _xx2en_table(json.loads(
            (BOOK / f"{stem}.ipynb").read_text()))
        assert set(two) == set(one) and len(one) == 6
        assert min(two.values()) > 1.0, two
        assert sum(two.values()) / len(two) > 10.0, two
    if stem == "03_margin":      # the injected values reach the chapter
        assert "margins: [0.0, 0.2]  seeds: [0]" in text
        assert "steps: 15" in text
        table = next("".join(o["data"]["text/plain"])
                     for cell in nb["cells"] if cell["cell_type"] == "code"
                     and "table = results.groupby" in "".join(cell["source"])
                     for o in cell["outputs"] if "data" in o)
        rows = [line.split()[0] for line in table.splitlines()[3:]]
        assert rows == ["0.0", "0.2"]
