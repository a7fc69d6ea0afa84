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
    keep = list(range(0, len(full), 20))[:2000]
    from labse_lite.data import ParallelCorpus

    return ParallelCorpus([full.langs[i] for i in keep],
                          [full.xx[i] for i in keep],
                          [full.en[i] for i in keep])


@pytest.fixture(scope="session")
def small_tokenizer(small_corpus):
    from labse_lite.tokenization import train_wordpiece

    return train_wordpiece(small_corpus.monolingual_texts(),
                           vocab_size=1500)


@pytest.fixture
def tiny_model(small_tokenizer):
    from labse_lite.model import DualEncoder

    torch.manual_seed(0)
    return DualEncoder.from_config(small_tokenizer, "tiny", pooling="mean",
                                   max_length=24, dropout=0.0)
