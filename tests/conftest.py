import os

import pytest
import torch

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def small_corpus():
    """A few thousand real training pairs of 4 languages."""
    from labse_lite.data import load_train_pairs

    full = load_train_pairs(["deu", "fra", "spa", "tur"])
    return full.take(list(range(0, len(full), 20))[:2000])


@pytest.fixture(scope="session")
def small_tokenizer(small_corpus):
    from labse_lite.tokenization import train_wordpiece

    return train_wordpiece(small_corpus.monolingual_texts(), vocab_size=1500)


@pytest.fixture
def tiny_model(small_tokenizer):
    from labse_lite.model import DualEncoder

    torch.manual_seed(0)
    return DualEncoder.from_config(
        small_tokenizer, "tiny", pooling="mean", max_length=24, dropout=0.0
    )


@pytest.fixture(scope="session")
def hub_standin(tmp_path_factory):
    """The offline hub stand-in (tests/hub_standin.py): tiny models and
    small datasets under the real hub ids.  Built once per test session
    (about 12 s), shared by the xdist workers under one lock; returns the
    environment (HF_HOME, HF_*_OFFLINE...) that points the hub clients at
    it."""
    pytest.importorskip("datasets")
    import hub_standin as standin
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent  # shared by workers
    root = shared / "hub-standin"
    with FileLock(str(shared / "hub-standin.lock")):
        return standin.build(root)
