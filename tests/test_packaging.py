"""The package as installed, not as cloned: one version number, the public
names at the top level (loaded lazily), the shipped data inside the wheel,
and a non-editable install that trains from any directory without writing
into itself."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import labse_lite
from labse_lite import data as D

REPO = Path(__file__).resolve().parent.parent
DATA_FILES = (
    "train.tsv.gz",
    "tatoeba_v1.tsv.gz",
    "flores200_devtest.tsv.gz",
    "README.md",
    "stats.json",
)


def test_one_version_and_the_public_names():
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert 'version = { attr = "labse_lite.__version__" }' in pyproject
    try:
        installed = importlib.metadata.version("labse-lite")
    except importlib.metadata.PackageNotFoundError:
        installed = None  # run from a clone that was never installed
    if installed is not None:
        assert installed == labse_lite.__version__
    from labse_lite.data import load_tatoeba
    from labse_lite.evaluate import evaluate_all
    from labse_lite.model import DualEncoder
    from labse_lite.train import TrainConfig

    assert labse_lite.DualEncoder is DualEncoder
    assert labse_lite.TrainConfig is TrainConfig
    assert labse_lite.evaluate_all is evaluate_all
    assert labse_lite.load_tatoeba is load_tatoeba
    assert set(labse_lite.__all__) == {"__version__", *labse_lite._EXPORTS}
    for name in labse_lite.__all__:
        assert getattr(labse_lite, name) is not None
        assert name in dir(labse_lite)
    # train and pretrain are also modules: both uses work.
    import labse_lite.pretrain as P
    import labse_lite.train as T

    assert labse_lite.train is T and T.TrainConfig is TrainConfig
    assert callable(labse_lite.train) and callable(labse_lite.pretrain)
    assert P.PretrainConfig is labse_lite.PretrainConfig
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        labse_lite.nope


def test_import_is_cheap():
    """``import labse_lite`` loads neither torch nor transformers."""
    code = (
        "import sys, labse_lite; print(sorted(m for m in ('torch', "
        "'transformers', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        text=True,
        capture_output=True,
        check=True,
    ).stdout
    assert out.strip() == "[]"


def test_data_dir_order(tmp_path, monkeypatch):
    monkeypatch.delenv("LABSE_LITE_DATA", raising=False)
    assert D.data_dir() == REPO / "data"  # a clone
    monkeypatch.setenv("LABSE_LITE_DATA", str(tmp_path))
    assert D.data_dir() == tmp_path  # the override
    monkeypatch.delenv("LABSE_LITE_DATA")
    # Installed: no data/ beside the package; the copy inside it.
    monkeypatch.setattr(D, "__file__", str(tmp_path / "pkg" / "data.py"))
    assert D.data_dir() == Path(labse_lite.__file__).parent / "_data"


def _files(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
    }


@pytest.mark.slow
def test_a_built_wheel_trains_from_anywhere(tmp_path):
    """Build the wheel (from a copy: the repository gets no build/ or
    egg-info), install it non-editably into a folder, and train a few
    steps from an unrelated directory with no LABSE_LITE_DATA: the
    installed package is the one imported, it finds its own data, and
    nothing is written inside the installation."""
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("building the wheel needs setuptools")
    src = tmp_path / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("labse_lite", "data"):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LABSE_LITE_DATA", "PYTHONPATH")
    }
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(
        pip
        + [
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(src),
        ],
        env=env,
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = (tmp_path / "dist").glob("labse_lite-*.whl")
    assert wheel.name.startswith(f"labse_lite-{labse_lite.__version__}-")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in DATA_FILES:
        assert f"labse_lite/_data/{name}" in names, name
    exercises = sorted((REPO / "labse_lite/book/exercises").glob("*.py"))
    assert len(exercises) > 5
    for path in exercises:
        assert f"labse_lite/book/exercises/{path.name}" in names, path.name

    site = tmp_path / "site"
    subprocess.run(
        pip
        + [
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            "--target",
            str(site),
            str(wheel),
        ],
        env=env,
        check=True,
        cwd=tmp_path,
    )
    before = _files(site)
    work, out = tmp_path / "elsewhere", tmp_path / "run"
    work.mkdir()
    env.update(
        PYTHONPATH=str(site),
        PYTHONDONTWRITEBYTECODE="1",
        LABSE_LITE_CACHE=str(tmp_path / "cache"),
        OMP_NUM_THREADS="1",
        LABSE_LITE_MAX_THREADS="1",
    )
    where = tmp_path / "where.json"
    code = (
        "import json, sys, labse_lite; from labse_lite.data import "
        "data_dir; from labse_lite.cli import main; "
        f"open({str(where)!r}, 'w').write(json.dumps("
        "[labse_lite.__file__, str(data_dir())])); "
        "sys.exit(main(sys.argv[1:]))"
    )
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "train",
            "--output-dir",
            str(out),
            "--max-steps",
            "5",
            "--vocab-size",
            "500",
            "--languages",
            "deu",
            "fra",
            "--batch-size",
            "8",
            "--model-preset",
            "tiny",
            "--no-final-eval",
            "--eval-languages",
            "deu",
            "--checkpoint-every",
            "0",
            "--no-progress",
            "--threads",
            "1",
        ],
        cwd=work,
        env=env,
        text=True,
        capture_output=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    module, data = json.loads(where.read_text())
    assert Path(module) == site / "labse_lite" / "__init__.py"
    assert Path(data) == site / "labse_lite" / "_data"
    assert json.loads((out / "summary.json").read_text())["steps"] == 5
    assert (out / "model" / "README.md").is_file()
    assert _files(site) == before, "the run wrote into the installation"
    assert not list(work.iterdir())
