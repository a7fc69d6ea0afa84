"""An offline stand-in for the Hugging Face hub: tiny models and small
datasets under the *real* repository ids, where ``transformers``,
``huggingface_hub``, ``sentence-transformers`` and ``datasets`` look for
them with the network off.

    env = build(Path("/tmp/hub"))   # {"HF_HOME": ..., "HF_HUB_OFFLINE": "1"}
    os.environ.update(env)

What it holds (everything built from the shipped data, no download):

* models, in the hub cache layout (``hub/models--org--name/refs/main`` and
  ``snapshots/<commit>/``: config, tokenizer files, safetensors weights):
  ``bert-base-multilingual-cased`` (a tiny ``BertForMaskedLM`` with its MLM
  head, as the hub's mBERT, and a WordPiece vocabulary trained on the
  shipped data by :func:`labse_lite.tokenization.train_wordpiece`);
  ``sentence-transformers/LaBSE`` (the released pipeline: BERT at the
  folder's root → ``1_Pooling`` CLS → ``2_Dense`` 768→768 tanh →
  ``3_Normalize``, here tiny; the Dense weights differ from the BERT
  pooler's, as a wrong pipeline would show);
  ``sentence-transformers/all-MiniLM-L6-v2`` (BERT → mean → Normalize).
* datasets, with the configs, splits and columns the package asks for:
  ``mteb/tatoeba-bitext-mining`` (``{lang}-eng``, ``test``,
  ``sentence1``/``sentence2``; all 112 languages, a few pairs each),
  ``facebook/flores`` (one config per FLORES code, ``devtest``,
  ``sentence``; every code, line i parallel across codes) and
  ``sentence-transformers/all-nli`` (``pair``, ``train``,
  ``anchor``/``positive``; English paraphrase pairs of the shipped data).

How ``datasets`` resolves a hub id offline: ``datasets`` 5.x refuses the
hub (and the hub cache) as soon as ``HF_HUB_OFFLINE`` is set and falls back
to *its own* cache of prepared datasets, ``$HF_HOME/datasets/
org___name/<config>/<version>/<hash>/`` (Arrow files named
``name-<split>.arrow`` and ``dataset_info.json``), which is what a reader's
earlier online ``load_dataset`` leaves behind.  So each dataset is written
there, and also, as raw files with the README's YAML ``configs:``, in the
hub cache layout (``hub/datasets--org--name``), where an online-capable
``datasets`` would read it.

The result is a pure function of the shipped data and the arguments; a
finished build is marked by ``READY`` and reused.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

COMMIT = "0" * 39 + "1"  # the snapshot every stand-in repo is at

MBERT = "bert-base-multilingual-cased"
LABSE = "sentence-transformers/LaBSE"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
TATOEBA = "mteb/tatoeba-bitext-mining"
FLORES = "facebook/flores"
NLI = "sentence-transformers/all-nli"

# The shape of every stand-in encoder: labse-lite's "tiny" preset
# (2 layers x 64), so that a chapter told model_preset="tiny" builds
# random encoders of the stand-in mBERT's architecture, as the colab
# preset's "labse-base" is mBERT's.
SHAPE = dict(
    num_hidden_layers=2,
    hidden_size=64,
    num_attention_heads=2,
    intermediate_size=128,
)


def env(root: str | Path) -> dict[str, str]:
    """The environment that points every hub client at the stand-in."""
    root = Path(root)
    return {
        "HF_HOME": str(root),
        "HF_HUB_CACHE": str(root / "hub"),
        "HF_DATASETS_CACHE": str(root / "datasets"),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }


def _snapshot(root: Path, repo_id: str, kind: str = "models") -> Path:
    repo = root / "hub" / f"{kind}--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)
    snap = repo / "snapshots" / COMMIT
    snap.mkdir(parents=True, exist_ok=True)
    return snap


def _tokenizer(vocab_size: int):
    from labse_lite.data import load_train_pairs
    from labse_lite.tokenization import train_wordpiece

    corpus = load_train_pairs().sample_per_language(60, seed=0)
    return train_wordpiece(
        corpus.monolingual_texts(), vocab_size=vocab_size, model_max_length=512
    )


def _bert_config(tokenizer, **extra):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        **SHAPE,
        **extra,
    )


def _save_tokenizer(tokenizer, folder: Path) -> None:
    tokenizer.save_pretrained(str(folder))
    # The hub's BERT repositories carry vocab.txt beside tokenizer.json.
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    (folder / "vocab.txt").write_text(
        "".join(f"{t}\n" for t, _ in vocab), encoding="utf-8"
    )


def build_models(root: Path, vocab_size: int = 3000) -> None:
    import torch
    from safetensors.torch import save_file
    from transformers import BertForMaskedLM, BertModel

    tokenizer = _tokenizer(vocab_size)
    torch.manual_seed(0)

    # mBERT: a pre-training checkpoint (encoder + MLM head).
    snap = _snapshot(root, MBERT)
    mlm = BertForMaskedLM(
        _bert_config(tokenizer, architectures=["BertForMaskedLM"])
    )
    mlm.save_pretrained(str(snap), safe_serialization=True)
    _save_tokenizer(tokenizer, snap)

    def st_model(repo_id: str, pooling: str, dense: bool) -> None:
        snap = _snapshot(root, repo_id)
        bert = BertModel(
            _bert_config(tokenizer, architectures=["BertModel"]),
            add_pooling_layer=True,
        )
        bert.save_pretrained(str(snap), safe_serialization=True)
        _save_tokenizer(tokenizer, snap)
        hidden = SHAPE["hidden_size"]
        modules = [
            {
                "idx": 0,
                "name": "0",
                "path": "",
                "type": "sentence_transformers.models.Transformer",
            },
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
        ]
        (snap / "1_Pooling").mkdir(exist_ok=True)
        (snap / "1_Pooling" / "config.json").write_text(
            json.dumps(
                {
                    "word_embedding_dimension": hidden,
                    "pooling_mode_cls_token": pooling == "cls",
                    "pooling_mode_mean_tokens": pooling == "mean",
                    "pooling_mode_max_tokens": False,
                    "pooling_mode_mean_sqrt_len_tokens": False,
                },
                indent=2,
            )
        )
        if dense:
            modules.append(
                {
                    "idx": 2,
                    "name": "2",
                    "path": "2_Dense",
                    "type": "sentence_transformers.models.Dense",
                }
            )
            (snap / "2_Dense").mkdir(exist_ok=True)
            (snap / "2_Dense" / "config.json").write_text(
                json.dumps(
                    {
                        "in_features": hidden,
                        "out_features": hidden,
                        "bias": True,
                        "activation_function": (
                            "torch.nn.modules.activation.Tanh"
                        ),
                    },
                    indent=2,
                )
            )
            # Not the BERT pooler's weights: the released pipeline uses the
            # Dense layer, and a loader that used the pooler would differ.
            gen = torch.Generator().manual_seed(1)
            save_file(
                {
                    "linear.weight": torch.randn(hidden, hidden, generator=gen)
                    * 0.2,
                    "linear.bias": torch.randn(hidden, generator=gen) * 0.1,
                },
                str(snap / "2_Dense" / "model.safetensors"),
            )
        modules.append(
            {
                "idx": len(modules),
                "name": str(len(modules)),
                "path": f"{len(modules)}_Normalize",
                "type": "sentence_transformers.models.Normalize",
            }
        )
        (snap / modules[-1]["path"]).mkdir(exist_ok=True)
        (snap / "modules.json").write_text(json.dumps(modules, indent=2))
        (snap / "sentence_bert_config.json").write_text(
            json.dumps({"max_seq_length": 64, "do_lower_case": False})
        )
        (snap / "config_sentence_transformers.json").write_text(
            json.dumps({"similarity_fn_name": "cosine"})
        )

    st_model(LABSE, "cls", dense=True)
    st_model(MINILM, "mean", dense=False)


def _write_dataset(
    root: Path,
    repo_id: str,
    split: str,
    configs: dict[str, dict[str, list[str]]],
) -> None:
    """``configs``: {config name: {column: values}}, into the datasets
    cache (what offline ``load_dataset`` reads) and the hub layout."""
    from datasets import DatasetInfo, Features, SplitDict, SplitInfo, Value
    from datasets.arrow_writer import ArrowWriter

    org, name = repo_id.split("/")
    snap = _snapshot(root, repo_id, "datasets")
    card = ["---", "configs:"]
    for config, columns in configs.items():
        features = Features({c: Value("string") for c in columns})
        folder = (
            root / "datasets" / f"{org}___{name}" / config / "0.0.0" / COMMIT
        )
        folder.mkdir(parents=True, exist_ok=True)
        with ArrowWriter(
            features=features, path=str(folder / f"{name}-{split}.arrow")
        ) as w:
            w.write_batch(columns)
            n, nbytes = w.finalize()
        DatasetInfo(
            features=features,
            config_name=config,
            dataset_name=name,
            builder_name="json",
            version="0.0.0",
            splits=SplitDict(
                {
                    split: SplitInfo(
                        name=split,
                        num_bytes=nbytes,
                        num_examples=n,
                        dataset_name=name,
                    )
                }
            ),
        ).write_to_directory(str(folder))
        (snap / config).mkdir(exist_ok=True)
        rows = [
            dict(zip(columns, values)) for values in zip(*columns.values())
        ]
        (snap / config / f"{split}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
            encoding="utf-8",
        )
        card += [
            f"- config_name: {config}",
            "  data_files:",
            f"  - split: {split}",
            f"    path: {config}/{split}.jsonl",
        ]
    (snap / "README.md").write_text("\n".join(card + ["---", ""]))


def build_datasets(
    root: Path,
    tatoeba_pairs: int = 25,
    flores_sentences: int = 100,
    nli_pairs: int = 3000,
) -> None:
    from labse_lite.data import (
        english_paraphrases,
        load_flores,
        load_tatoeba,
        load_train_pairs,
    )

    tatoeba = load_tatoeba().by_language()
    _write_dataset(
        root,
        TATOEBA,
        "test",
        {
            f"{lang}-eng": {
                "sentence1": xx[:tatoeba_pairs],
                "sentence2": en[:tatoeba_pairs],
            }
            for lang, (xx, en) in sorted(tatoeba.items())
        },
    )
    flores = load_flores()
    _write_dataset(
        root,
        FLORES,
        "devtest",
        {
            code: {"sentence": sents[:flores_sentences]}
            for code, sents in sorted(flores.items())
        },
    )
    nli = english_paraphrases(load_train_pairs(["deu", "fra", "spa"]))
    _write_dataset(
        root,
        NLI,
        "train",
        {
            "pair": {
                "anchor": nli.xx[:nli_pairs],
                "positive": nli.en[:nli_pairs],
            }
        },
    )


def build(root: str | Path, **kwargs) -> dict[str, str]:
    """Build the stand-in under ``root`` (once: reused when ``READY``
    exists) and return :func:`env` of it."""
    root = Path(root)
    if not (root / "READY").is_file():
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        build_models(
            root, **{k: v for k, v in kwargs.items() if k == "vocab_size"}
        )
        build_datasets(
            root, **{k: v for k, v in kwargs.items() if k != "vocab_size"}
        )
        (root / "READY").write_text(COMMIT)
    return env(root)


if __name__ == "__main__":
    import sys

    print(json.dumps(build(sys.argv[1]), indent=1))
