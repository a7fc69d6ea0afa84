"""The GPU presets exercised on CPU (issue 29): every chapter under
``scale="colab"`` and chapters 02 and 04 under ``scale="multi_gpu"``
(2 gloo processes), against the offline hub stand-in
(``tests/hub_standin.py``: tiny models and small datasets under the real
hub ids); the released LaBSE pipeline through ``labse-lite eval``; the
chapters' Colab cell on a local clone; ``scripts/gpu_check.sh``.

What differs from a GPU run is only the sizes and the device: the chapters
run unchanged, their preset shrunk through ``$LABSE_LITE_PRESET_OVERRIDES``
(:mod:`labse_lite.book.presets`) and their papermill parameters.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"

# Every chapter's preset, shrunk: the device (cpu), batches, steps, seeds,
# languages and pool sizes.  model_preset="tiny" is the stand-in mBERT's
# shape, so chapter 06's random-weights arm has mBERT's architecture, as
# under the real preset.
OVERRIDES = {
    "device": "cpu",
    "batch_size": 16,
    "languages": ["deu", "fra", "spa"],
    "eval_languages": ["deu", "fra", "spa", "rus"],
    "cross_device": {"chunk": 8},
    "mining": {"n_distractors": 200, "speed_sizes": [500]},
    # (4 layers: the stacked pre-training run needs a depth divisible by
    # 4; the random-weights arm keeps the stand-in's 2 x 64)
    "pretraining": {
        "pretrain_batch": 16,
        "model_preset": "tiny",
        "num_layers": 4,
    },
    "zero_shot": {
        "control_batch": 16,
        "control_languages": ["glg", "por", "spa", "afr", "nld", "deu"],
    },
    "lightweight": {
        "reduce_steps": 4,
        "speed_sentences": 300,
        "shape_seeds": [0],
        "paper_gamma_seeds": 1,
        "student_pairs": 2000,
    },
    "distillation": {
        "languages": ["deu", "fra", "rus"],
        "bilingual": "deu",
        "teacher_eval_languages": ["deu", "rus"],
    },
    # (the stand-in mBERT has 2 layers; the preset freezes mBERT's lower 6)
    "english_only": {
        "languages": ["deu", "fra"],
        "english_pairs": 500,
        "freeze_layers": 1,
    },
}

# The chapters' own papermill parameters (chapter 00 has only the scale).
PARAMS = {
    "00_introduction": {},
    "01_data_and_vocabulary": dict(vocab_size=4000, tail_size=500),
    "02_dual_encoder": dict(max_steps=4),
    "03_margin": dict(margin_values=[0.0, 0.3], seeds=[0], max_steps=4),
    "04_cross_device": dict(global_batches=[16, 32], pairs_seen=64),
    "05_mining": dict(mining_languages=["deu_Latn", "fra_Latn"]),
    "06_pretraining": dict(budgets=[4, 8], seeds=[0], pretrain_steps=8),
    "07_zero_shot": dict(max_steps=4, seeds=[0], control_steps=4),
    "08_lightweight_models": dict(student_steps=4, seeds=[0], dims=[16]),
    "09_multilingual_distillation": dict(
        student_steps=4, seeds=[0], pairs_per_language=50
    ),
    "10_english_only_transfer": dict(finetune_steps=4, seeds=[0]),
}


def test_every_chapter_has_colab_parameters():
    chapters = {p.stem for p in BOOK.glob("[0-9][0-9]_*.ipynb")}
    assert set(PARAMS) == chapters


def test_preset_overrides_from_the_environment(monkeypatch):
    from labse_lite.book import presets

    monkeypatch.setenv(presets.OVERRIDES_ENV, json.dumps(OVERRIDES))
    s = presets.settings("dual_encoder", "colab", max_steps=7)
    assert (s["device"], s["batch_size"], s["max_steps"]) == ("cpu", 16, 7)
    assert s["init_model"] == "bert-base-multilingual-cased"
    assert presets.settings("cross_device", "colab")["chunk"] == 8
    assert "speed_sizes" not in s  # other chapters' settings
    # the chapter's own parameters win over the environment
    assert (
        presets.settings("dual_encoder", "colab", batch_size=32)["batch_size"]
        == 32
    )
    monkeypatch.setenv(presets.OVERRIDES_ENV, '{"mining": {"nope": 1}}')
    with pytest.raises(ValueError, match="nope"):
        presets.settings("mining", "colab")
    monkeypatch.setenv(presets.OVERRIDES_ENV, "[1]")
    with pytest.raises(ValueError, match="JSON object"):
        presets.settings("mining", "colab")


def _run_chapter(stem: str, scale: str, out: Path, env: dict, **extra) -> dict:
    pm = pytest.importorskip("papermill")
    old = dict(os.environ)
    os.environ.update(env)
    if stem != "00_introduction":  # chapter 00 shows the presets as-is
        os.environ["LABSE_LITE_PRESET_OVERRIDES"] = json.dumps(OVERRIDES)
    try:
        pm.execute_notebook(
            str(BOOK / f"{stem}.ipynb"),
            str(out),
            parameters=dict(PARAMS[stem], scale=scale, **extra),
            cwd=str(BOOK),
            kernel_name="python3",
            progress_bar=False,
        )
    finally:
        os.environ.clear()
        os.environ.update(old)
    nb = json.loads(out.read_text())
    code = [
        c
        for c in nb["cells"]
        if c["cell_type"] == "code" and "".join(c["source"]).strip()
    ]
    unrun = [i for i, c in enumerate(code) if c.get("execution_count") is None]
    assert not unrun, f"code cells not executed: {unrun}"
    return nb


@pytest.mark.colab
@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("stem", sorted(PARAMS), ids=lambda s: s[:2])
def test_chapter_runs_under_colab(stem, hub_standin, tmp_path):
    nb = _run_chapter(stem, "colab", tmp_path / f"{stem}.ipynb", hub_standin)
    text = "".join(
        "".join(o.get("text", ""))
        for c in nb["cells"]
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
    )
    # A claim off its preset names itself and the scale it ran at.
    for line in text.splitlines():
        if line.startswith(
            (
                "Not reproduced with your settings",
                "Not checked with your settings",
            )
        ):
            assert "scale='colab'" in line, line
    if stem == "02_dual_encoder":  # the released LaBSE beside the paper
        assert "sentence-transformers/LaBSE, Tatoeba xx→en: XTREME-36" in text
        assert "(paper 95.0)" in text and "(paper 83.7 over 112)" in text


@pytest.mark.colab
@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.distributed
@pytest.mark.parametrize(
    "stem", ["02_dual_encoder", "04_cross_device"], ids=lambda s: s[:2]
)
def test_chapter_runs_under_multi_gpu_with_two_processes(
    stem, hub_standin, tmp_path
):
    nb = _run_chapter(
        stem,
        "multi_gpu",
        tmp_path / f"{stem}.ipynb",
        hub_standin,
        nproc_per_node=2,
    )
    text = "".join(
        "".join(o.get("text", ""))
        for c in nb["cells"]
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
    )
    if stem == "02_dual_encoder":
        assert "on 2 process(es)" in text


@pytest.mark.slow
def test_eval_runs_the_released_labse_pipeline(hub_standin, tmp_path):
    """``labse-lite eval --model sentence-transformers/LaBSE``: BERT → CLS
    → Dense tanh → Normalize, as sentence-transformers runs it."""
    env = dict(os.environ, **hub_standin)
    out = tmp_path / "eval.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "labse_lite",
            "eval",
            "--model",
            "sentence-transformers/LaBSE",
            "--source",
            "hub",
            "--languages",
            "deu",
            "fra",
            "--quiet",
            "--output",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert set(result["tatoeba"]) == {"deu", "fra"}, result
    assert result["tatoeba"]["deu"]["n"] == 25  # the stand-in's

    # The pipeline's parts, and the embeddings sentence-transformers itself
    # computes (in a fresh process: huggingface_hub reads HF_HUB_OFFLINE
    # when it is imported).
    pytest.importorskip("sentence_transformers")
    check = """
import numpy as np, torch
from pathlib import Path
from safetensors.torch import load_file
from sentence_transformers import SentenceTransformer
from labse_lite.model import DualEncoder
from labse_lite.st_format import hub_snapshot

model = DualEncoder.from_pretrained("sentence-transformers/LaBSE")
snap = Path(hub_snapshot("sentence-transformers/LaBSE"))
assert snap.is_dir() and "snapshots" in snap.parts, snap
dense = load_file(str(snap / "2_Dense" / "model.safetensors"))
assert model.pooling == "pooler" and model.normalize
assert torch.equal(model.encoder.pooler.dense.weight, dense["linear.weight"])
ref = SentenceTransformer("sentence-transformers/LaBSE", device="cpu")
sentences = ["Tom ist hier.", "Tom is here.", "Où est Marie ?"]
gap = np.abs(model.encode(sentences).numpy() - ref.encode(sentences)).max()
assert gap < 1e-5, gap
print("same embeddings", gap)
"""
    proc = subprocess.run(
        [sys.executable, "-c", check],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "same embeddings" in proc.stdout


def test_gpu_check_script_is_valid_bash_and_needs_cuda(tmp_path):
    script = ROOT / "scripts" / "gpu_check.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is here: run scripts/gpu_check.sh itself")
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        GPU_CHECK_OUT=str(tmp_path / "gpu_check.json"),
    )
    proc = subprocess.run(
        ["bash", str(script)],
        env=env,
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3, (proc.stdout, proc.stderr)
    assert "no CUDA device" in proc.stderr
    assert not (tmp_path / "gpu_check.json").exists()


# ----------------------------------------------------------- the Colab cell
def _colab_cell(nb: dict) -> str:
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
    source = "".join(cell["source"])
    assert "git" in source and "clone" in source, source
    return source


@pytest.mark.colab
@pytest.mark.slow
def test_colab_cell_on_a_local_clone(hub_standin, tmp_path):
    """The first cell of chapter 02, run as Colab runs it: a fresh Python
    with no labse-lite, a ``/content``-like folder, the repository cloned
    from its configured URL (here a local clone) and installed
    non-editable with the cell's extras; then the chapter's parameters and
    its first training cell at tiny scale, from the installed package."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    origin = tmp_path / "origin"
    subprocess.run(
        [
            "git",
            "clone",
            "--quiet",
            "--depth",
            "1",
            f"file://{ROOT}",
            str(origin),
        ],
        check=True,
    )
    content = tmp_path / "content"
    content.mkdir()
    site = tmp_path / "site-packages"
    nb = json.loads((BOOK / "02_dual_encoder.ipynb").read_text())
    cell = _colab_cell(nb)
    # Colab: /content exists, the dependencies are preinstalled (here:
    # this venv's, on the path), labse-lite is not.  The cell's own
    # install goes to --target (pip install <folder>[extras] --target),
    # as tests/test_packaging.py installs the wheel.
    prelude = f"""
import os, subprocess, sys
_run = subprocess.run
def _colab_run(cmd, *a, **k):
    cmd = [str(c).replace("/content", {str(content)!r}) for c in cmd]
    if cmd[:2] == ["git", "clone"]:
        cmd = [c if not c.startswith(("https://", "git@")) else
               {str(origin.as_uri())!r} for c in cmd]
    if "pip" in cmd and "install" in cmd:
        cmd += ["--no-deps", "--no-build-isolation", "--no-index",
                "--target",
                {str(site)!r}]
    return _run(cmd, *a, **k)
subprocess.run = _colab_run
_exists = os.path.exists
os.path.exists = lambda p: _exists(str(p).replace("/content",
                                                  {str(content)!r}))
"""
    params = (
        'scale = "colab"\nmax_steps = 4\nmargin = 0.3\n'
        "loss_scale = 10.0\nseed = 0\nnproc_per_node = None\n"
    )
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    setup = next(
        "".join(c["source"])
        for c in code
        if "presets.settings(" in "".join(c["source"])
    )
    train = next(
        "".join(c["source"])
        for c in code
        if "run_training(" in "".join(c["source"])
    )
    script = tmp_path / "colab.py"
    script.write_text(
        prelude
        + cell
        + f"""
sys.path.insert(0, {str(site)!r})
import labse_lite
assert labse_lite.__file__.startswith({str(site)!r}), labse_lite.__file__
print("installed:", labse_lite.__file__)
# The cell points LABSE_LITE_DATA at the clone's data/ under /content.
os.environ["LABSE_LITE_DATA"] = os.environ["LABSE_LITE_DATA"].replace(
    "/content", {str(content)!r}, 1)
print("data:", os.environ["LABSE_LITE_DATA"])
"""
        + params
        + setup
        + "\n"
        + train
        + "\n"
    )
    env = dict(os.environ, **hub_standin)
    env["LABSE_LITE_PRESET_OVERRIDES"] = json.dumps(OVERRIDES)
    env["MPLBACKEND"] = "Agg"
    # No labse-lite on the path: not the repository's, not an editable
    # install's (the venv's site-packages stay, as Colab's preinstalls).
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [sys.executable, "-I", str(script)],
        env=env,
        cwd=str(content),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    assert (content / "labse-lite" / "data" / "train.tsv.gz").is_file()
    assert "installed: " + str(site) in proc.stdout
    assert "4 steps" in proc.stdout and "on 1 process(es)" in proc.stdout
