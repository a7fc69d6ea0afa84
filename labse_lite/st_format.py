"""The sentence-transformers folder layout, written and read.

A sentence-transformers model is a folder whose ``modules.json`` lists a
pipeline: ``Transformer`` (the encoder, usually at the folder's root) →
``Pooling`` (cls / mean / max) → zero or more ``Dense`` layers (a linear map
and an activation) → ``Normalize``.  The released LaBSE is
BERT → CLS → Dense 768→768 tanh → Normalize: BERT's own pooler, stored as a
Dense layer.

:func:`write_st_layout` writes that description of a
:class:`~labse_lite.model.DualEncoder` beside its own files (no
sentence-transformers needed), so ``SentenceTransformer(path).encode(x)``
equals ``DualEncoder.encode(x)``.  :func:`read_st_layout` reads a
sentence-transformers folder into the settings and head weights of a
DualEncoder: ``cls`` pooling followed by a square tanh Dense is
``pooling="pooler"`` (the weights go into the encoder's pooler); a Dense
without activation is the ``projection``.  Other pipelines raise a clear
error instead of being evaluated wrongly.

The module also holds the rest of a saved DualEncoder's files, so that
:class:`~labse_lite.model.DualEncoder` only builds and runs the network:
:func:`read_model` tells the three folders ``from_pretrained`` accepts
apart (labse-lite's own, sentence-transformers', a plain ``transformers``
encoder or hub id) and says in one line what is missing when a path is
none of them; :func:`write_model` writes labse-lite's settings, the
projection head, the sentence-transformers layout and the model card
(:func:`write_model_card`, ``README.md``).
"""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path

import torch

__all__ = [
    "write_st_layout",
    "read_st_layout",
    "is_st_folder",
    "read_model",
    "load_heads",
    "write_model",
    "write_model_card",
    "hub_snapshot",
    "CONFIG_FILE",
    "HEAD_FILE",
]

# labse-lite's own files beside the encoder's: the settings and the
# projection head.
CONFIG_FILE = "dual_encoder.json"
HEAD_FILE = "dual_encoder_head.safetensors"

_T = "sentence_transformers.models."
_IDENTITY = "torch.nn.modules.linear.Identity"
_TANH = "torch.nn.modules.activation.Tanh"
_POOL_KEYS = {
    "cls": "pooling_mode_cls_token",
    "mean": "pooling_mode_mean_tokens",
    "max": "pooling_mode_max_tokens",
}


def is_st_folder(path: Path) -> bool:
    return (Path(path) / "modules.json").is_file()


def _write_dense(
    folder: Path, linear: torch.nn.Linear, activation: str
) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(
        json.dumps(
            {
                "in_features": linear.in_features,
                "out_features": linear.out_features,
                "bias": linear.bias is not None,
                "activation_function": activation,
            },
            indent=1,
        )
    )
    state = {"linear.weight": linear.weight.detach().contiguous()}
    if linear.bias is not None:
        state["linear.bias"] = linear.bias.detach().contiguous()
    save_file(state, str(folder / "model.safetensors"))


def write_st_layout(model, directory: Path) -> None:
    """``modules.json``, ``sentence_bert_config.json`` and one folder per
    module after the Transformer, for ``model`` saved in ``directory``."""
    hidden = model.encoder.config.hidden_size
    modules = [{"idx": 0, "name": "0", "path": "", "type": _T + "Transformer"}]

    def add(kind: str, path: str):
        modules.append(
            {
                "idx": len(modules),
                "name": str(len(modules)),
                "path": path,
                "type": _T + kind,
            }
        )

    pooling = "cls" if model.pooling == "pooler" else model.pooling
    add("Pooling", "1_Pooling")
    (directory / "1_Pooling").mkdir(exist_ok=True)
    config = {
        "word_embedding_dimension": hidden,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }
    config.update({key: mode == pooling for mode, key in _POOL_KEYS.items()})
    (directory / "1_Pooling" / "config.json").write_text(
        json.dumps(config, indent=1)
    )
    if model.pooling == "pooler":
        path = f"{len(modules)}_Dense"
        add("Dense", path)
        _write_dense(directory / path, model.encoder.pooler.dense, _TANH)
    if model.projection is not None:
        path = f"{len(modules)}_Dense"
        add("Dense", path)
        _write_dense(directory / path, model.projection, _IDENTITY)
    if model.normalize:
        path = f"{len(modules)}_Normalize"
        add("Normalize", path)
        (directory / path).mkdir(exist_ok=True)
    (directory / "modules.json").write_text(json.dumps(modules, indent=1))
    (directory / "sentence_bert_config.json").write_text(
        json.dumps(
            {"max_seq_length": model.max_length, "do_lower_case": False},
            indent=1,
        )
    )


def _pooling_mode(config: dict) -> str:
    mode = config.get("pooling_mode")  # newer sentence-transformers
    if isinstance(mode, list) and len(mode) == 1:
        mode = mode[0]
    if mode is None:
        chosen = [m for m, key in _POOL_KEYS.items() if config.get(key)]
        others = [
            k
            for k, v in config.items()
            if k.startswith("pooling_mode")
            and v
            and k not in _POOL_KEYS.values()
        ]
        if len(chosen) != 1 or others:
            raise ValueError(
                f"unsupported sentence-transformers pooling "
                f"{config}: labse-lite pools by one of cls, "
                f"mean, max"
            )
        mode = chosen[0]
    if mode not in _POOL_KEYS:
        raise ValueError(
            f"unsupported sentence-transformers pooling "
            f"{mode!r}: labse-lite pools by one of cls, mean, "
            f"max"
        )
    return mode


def _read_dense(folder: Path) -> tuple[dict, dict]:
    config = json.loads((folder / "config.json").read_text())
    if (folder / "model.safetensors").is_file():
        from safetensors.torch import load_file

        state = load_file(str(folder / "model.safetensors"))
    else:
        state = torch.load(
            folder / "pytorch_model.bin", map_location="cpu", weights_only=True
        )
    state = {k.removeprefix("linear."): v for k, v in state.items()}
    return config, state


def read_st_layout(directory: Path) -> dict:
    """The DualEncoder settings of a sentence-transformers folder:
    ``{"encoder_path", "pooling", "projection_dim", "max_length",
    "normalize", "pooler_state", "projection_state"}``."""
    directory = Path(directory)
    modules = json.loads((directory / "modules.json").read_text())
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    if not kinds or kinds[0] != "Transformer" or "Pooling" not in kinds:
        raise ValueError(
            f"{directory}: expected Transformer → Pooling → "
            f"[Dense] → [Normalize], found {kinds}"
        )
    out = {
        "encoder_path": directory / modules[0]["path"],
        "pooling": None,
        "projection_dim": None,
        "max_length": None,
        "normalize": False,
        "pooler_state": None,
        "projection_state": None,
    }
    settings = out["encoder_path"] / "sentence_bert_config.json"
    if not settings.is_file():
        settings = directory / "sentence_bert_config.json"
    if settings.is_file():
        out["max_length"] = json.loads(settings.read_text()).get(
            "max_seq_length"
        )
    tok_config = out["encoder_path"] / "tokenizer_config.json"
    if out["max_length"] is None and tok_config.is_file():
        # Newer sentence-transformers keep it as the tokenizer's limit.
        limit = json.loads(tok_config.read_text()).get("model_max_length")
        if isinstance(limit, int) and limit < 100_000:
            out["max_length"] = limit
    for module, kind in zip(modules[1:], kinds[1:]):
        folder = directory / module["path"]
        if kind == "Pooling":
            out["pooling"] = _pooling_mode(
                json.loads((folder / "config.json").read_text())
            )
        elif kind == "Dense":
            config, state = _read_dense(folder)
            act = config.get("activation_function", _TANH)
            square = config["in_features"] == config["out_features"]
            if (
                act == _TANH
                and out["pooling"] == "cls"
                and square
                and out["pooler_state"] is None
                and out["projection_state"] is None
            ):
                out["pooling"], out["pooler_state"] = "pooler", state
            elif act == _IDENTITY and out["projection_state"] is None:
                out["projection_dim"] = config["out_features"]
                out["projection_state"] = state
            else:
                raise ValueError(
                    f"{folder}: a Dense layer ({config['in_features']}→"
                    f"{config['out_features']}, {act}) that labse-lite "
                    f"cannot represent: it supports a tanh Dense right "
                    f"after CLS pooling (BERT's pooler) and one linear "
                    f"projection"
                )
        elif kind == "Normalize":
            out["normalize"] = True
        else:
            raise ValueError(f"{directory}: unsupported module {kind}")
    return out


# ------------------------------------------------- a DualEncoder's folder
# A hub id: ``name`` or ``owner/name``; any other string is a local path.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "vocab.json",
    "sentencepiece.bpe.model",
    "spiece.model",
)
_WEIGHT_FILES = (
    "*.safetensors",
    "pytorch_model*.bin",
    "*.index.json",
    "tf_model.h5",
    "flax_model.msgpack",
)


def hub_snapshot(name: str) -> str:
    """A hub id of a sentence-transformers model (it has ``modules.json``)
    as a local snapshot folder; anything else unchanged.  Offline, or for a
    plain ``transformers`` model, returns ``name``."""
    if Path(name).exists() or not _HUB_ID.match(name) or name.count("/") != 1:
        return name
    try:
        from huggingface_hub import hf_hub_download, snapshot_download

        hf_hub_download(name, "modules.json")
        return snapshot_download(name)
    except Exception:  # offline, no such file, no huggingface_hub
        return name


def _not_a_model(path: Path, missing: str) -> FileNotFoundError:
    hint = ""
    if (path / "model" / "config.json").is_file():
        hint = f"; did you mean {path / 'model'}?"
    return FileNotFoundError(f"{path} holds no model: {missing}{hint}")


def _check_encoder_folder(path: Path) -> None:
    """One-line FileNotFoundError unless ``path`` holds a ``transformers``
    encoder: config.json, a tokenizer and weights."""
    missing = []
    if not (path / "config.json").is_file():
        missing.append("config.json")
    if not any((path / name).is_file() for name in _TOKENIZER_FILES):
        missing.append("tokenizer (tokenizer.json, vocab.txt...)")
    if not any(next(path.glob(pattern), None) for pattern in _WEIGHT_FILES):
        missing.append("weights (model.safetensors, pytorch_model.bin)")
    if missing:
        raise _not_a_model(path, "no " + ", no ".join(missing))


def read_model(name_or_path: str | os.PathLike) -> dict:
    """Where the parts of the model ``name_or_path`` are, for
    :meth:`~labse_lite.model.DualEncoder.from_pretrained`:
    ``{"source": the encoder's and tokenizer's folder or hub id,
    "settings": saved DualEncoder settings, "st": read_st_layout(...) or
    None, "head": labse-lite's projection head file or None, "hub": True
    for a hub id}``.

    Three kinds of folder: labse-lite's (``dual_encoder.json``),
    sentence-transformers' (``modules.json``) and a plain ``transformers``
    encoder (``config.json``); a name that is no local path but could be a
    hub id is left to ``transformers``.  Anything else raises a one-line
    :class:`FileNotFoundError` naming the path and what is missing.
    """
    name = str(name_or_path)
    snapshot = hub_snapshot(name)
    path = Path(snapshot)
    found = {
        "source": snapshot,
        "settings": {},
        "st": None,
        "head": None,
        "hub": False,
    }
    if not path.exists():
        if _HUB_ID.match(name):
            return dict(found, hub=True)
        raise FileNotFoundError(f"no model at {name}: no such folder")
    if not path.is_dir():
        raise FileNotFoundError(f"{name} is a file, not a model folder")
    if (path / CONFIG_FILE).is_file():
        _check_encoder_folder(path)
        head = path / HEAD_FILE
        return dict(
            found,
            settings=json.loads((path / CONFIG_FILE).read_text()),
            head=head if head.is_file() else None,
        )
    if is_st_folder(path):
        st = read_st_layout(path)
        _check_encoder_folder(st["encoder_path"])
        settings = {
            k: st[k]
            for k in ("pooling", "projection_dim", "max_length", "normalize")
            if st[k] is not None
        }
        return dict(
            found, source=str(st["encoder_path"]), settings=settings, st=st
        )
    if not (path / "config.json").is_file():
        raise _not_a_model(
            path, f"no config.json, modules.json or {CONFIG_FILE}"
        )
    _check_encoder_folder(path)
    return found


def hub_error(found: dict, err: OSError) -> FileNotFoundError:
    """For a hub id that ``transformers`` could not load: a one-line
    :class:`FileNotFoundError`."""
    reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return FileNotFoundError(
        f"no model at {found['source']}: not a local folder, and the "
        f"Hugging Face hub did not provide it ({reason[:200]})"
    )


def load_heads(model, found: dict) -> None:
    """The weights outside the encoder, into ``model``: a
    sentence-transformers pipeline's Dense layers (BERT's pooler, a tanh
    Dense after CLS; the projection), or labse-lite's projection head."""
    st = found["st"]
    if st is None:
        if model.projection is not None and found["head"] is not None:
            from safetensors.torch import load_file

            state = load_file(str(found["head"]))
            model.projection.load_state_dict(
                {k.removeprefix("projection."): v for k, v in state.items()}
            )
        return
    if st["pooler_state"] is not None:
        if model.pooling != "pooler":
            raise ValueError(
                "this sentence-transformers model pools by "
                "CLS + tanh Dense (pooling='pooler'); another "
                "pooling would drop that layer"
            )
        model.encoder.pooler.dense.load_state_dict(st["pooler_state"])
    if st["projection_state"] is not None:
        if (
            model.projection is None
            or model.projection.out_features != st["projection_dim"]
        ):
            raise ValueError(
                "the model's projection does not match the "
                "sentence-transformers Dense layer"
            )
        model.projection.load_state_dict(st["projection_state"])


def write_model(model, directory: Path, card: dict | None = None) -> None:
    """Beside the encoder and tokenizer files: labse-lite's settings
    (``dual_encoder.json``), the projection head, the sentence-transformers
    layout (not for a model pooling a lower layer, which
    sentence-transformers cannot) and the model card (``README.md``)."""
    directory = Path(directory)
    settings = dict(
        pooling=model.pooling,
        max_length=model.max_length,
        normalize=model.normalize,
        projection_dim=(
            model.projection.out_features if model.projection else None
        ),
    )
    if model.hidden_layer != -1:
        settings["hidden_layer"] = model.hidden_layer
    (directory / CONFIG_FILE).write_text(json.dumps(settings, indent=1))
    if model.projection is not None:
        from safetensors.torch import save_file

        save_file(
            {
                f"projection.{k}": v.contiguous()
                for k, v in model.projection.state_dict().items()
            },
            str(directory / HEAD_FILE),
        )
    if model.hidden_layer != -1:
        warnings.warn(
            f"sentence-transformers pools the last layer only: "
            f"{directory} gets no modules.json for this model "
            f"(hidden_layer={model.hidden_layer}); load it with "
            f"labse-lite",
            stacklevel=3,
        )
    else:
        write_st_layout(model, directory)  # SentenceTransformer(directory)
    write_model_card(model, directory, card)


# ------------------------------------------------------------ model card
_POOLING_TEXT = {
    "cls": "the [CLS] token's state",
    "pooler": "[CLS] → dense + tanh (BERT's pooler, as the released LaBSE)",
    "mean": "the mean of the tokens' states",
    "max": "the maximum over the tokens' states",
}


def write_model_card(
    model, directory: str | os.PathLike, card: dict | None = None
) -> Path:
    """Write ``directory/README.md``, the model card of ``model`` (see
    :func:`model_card`); returns its path.  Call it again after an
    evaluation to add the numbers."""
    path = Path(directory) / "README.md"
    path.write_text(model_card(model, card), encoding="utf-8")
    return path


def model_card(model, card: dict | None = None) -> str:
    """A Markdown model card with YAML front matter, as sentence-
    transformers and the Hugging Face hub write them: what the model is
    (shape, pooling, max_length, vocabulary, parameters), how to load it,
    and, when ``card`` gives them, how it was trained and its Tatoeba
    numbers.

    ``card`` takes the shape of :func:`labse_lite.train.train`'s summary:
    ``config`` (the TrainConfig as a dict), ``steps``, ``train_seconds``,
    ``pairs_per_second``, ``final_loss``, ``eval`` (an
    :func:`~labse_lite.evaluate.evaluate_all` result) or ``tatoeba`` (an
    :func:`~labse_lite.evaluate.evaluate_tatoeba` result), and an optional
    ``description`` paragraph.  Other keys are ignored.
    """
    from . import __version__

    card = card or {}
    st_ok = model.hidden_layer == -1
    tags = [
        "labse-lite",
        "sentence-similarity",
        "feature-extraction",
        "bitext-mining",
    ] + (["sentence-transformers"] if st_ok else [])
    lines = [
        "---",
        "library_name: "
        + ("sentence-transformers" if st_ok else "labse-lite"),
        "pipeline_tag: sentence-similarity",
        "tags:",
    ]
    lines += [f"- {tag}" for tag in tags] + [
        "---",
        "",
        "# labse-lite dual encoder",
        "",
    ]
    lines += [
        f"A LaBSE-style (Feng et al., 2022) language-agnostic sentence "
        f"encoder saved by labse-lite {__version__}: one shared "
        f"transformer embeds a sentence of any of its languages, and "
        f"translations land close together (bitext retrieval and "
        f"mining, cross-lingual similarity).",
        "",
    ]
    if card.get("description"):
        lines += [str(card["description"]), ""]
    lines += ["## Model", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in _card_model_rows(model)]
    lines += [
        "",
        "## Usage",
        "",
        "```python",
        "from labse_lite.model import DualEncoder",
        "",
        'model = DualEncoder.from_pretrained("path/to/this/folder")',
        'emb = model.encode(["Der Hund schläft.", "The dog is sleeping."])',
        "print(emb @ emb.T)   # cosine similarities",
        "```",
        "",
    ]
    if st_ok:
        lines += [
            "It also loads in sentence-transformers, with the same vectors:",
            "",
            "```python",
            "from sentence_transformers import SentenceTransformer",
            "",
            'model = SentenceTransformer("path/to/this/folder")',
            "```",
            "",
        ]
    lines += _card_training(card) + _card_tatoeba(card)
    return "\n".join(lines).rstrip("\n") + "\n"


def _card_model_rows(model) -> list[tuple[str, str]]:
    config = model.encoder.config
    shape = ", ".join(
        text.format(getattr(config, key))
        for key, text in (
            ("num_hidden_layers", "{} layers"),
            ("hidden_size", "hidden size {}"),
            ("num_attention_heads", "{} attention heads"),
            ("intermediate_size", "FFN size {}"),
        )
        if hasattr(config, key)
    )
    layer = (
        "the last layer"
        if model.hidden_layer == -1
        else f"hidden layer {model.hidden_layer}"
    )
    hidden = config.hidden_size
    projection = (
        f"linear {hidden} → {model.projection.out_features}"
        if model.projection is not None
        else "none"
    )
    output = f"{model.embedding_dim}-d" + (
        ", L2-normalised (dot product = cosine)" if model.normalize else ""
    )
    n_params = sum(p.numel() for p in model.parameters())
    return [
        ("encoder", f"{getattr(config, 'model_type', '?')}: {shape}"),
        (
            "pooling",
            f"`{model.pooling}`: {_POOLING_TEXT[model.pooling]} of {layer}",
        ),
        ("projection", projection),
        ("output", output),
        (
            "max_length",
            f"{model.max_length} tokens, [CLS]/[SEP] "
            f"included (longer sentences are truncated)",
        ),
        ("vocabulary", f"{len(model.tokenizer):,} tokens"),
        ("parameters", f"{n_params:,}"),
    ]


_TRAINING_KEYS = (
    ("languages", "languages"),
    ("model_preset", "preset"),
    ("batch_size", "batch size (pairs per rank)"),
    ("max_steps", "max steps"),
    ("lr", "peak learning rate"),
    ("margin", "AMS margin"),
    ("scale", "AMS scale"),
    ("bidirectional", "bidirectional loss"),
    ("hard_negatives", "hard negatives per pair"),
    ("teacher", "teacher"),
    ("precision", "precision"),
    ("seed", "seed"),
)


def _card_training(card: dict) -> list[str]:
    config = card.get("config") or {}
    rows = []
    for key, label in _TRAINING_KEYS:
        if key in config and (config[key] is not None or key == "languages"):
            value = config[key]
            if key == "languages":
                value = (
                    "all shipped"
                    if value is None
                    else f"{len(value)}: {' '.join(value)}"
                )
            rows.append((label, value))
    if card.get("steps") is not None:
        rows.append(("steps trained", card["steps"]))
    if card.get("train_seconds") is not None:
        rows.append(("training time", f"{card['train_seconds'] / 60:.1f} min"))
    if card.get("pairs_per_second") is not None:
        rows.append(("pairs per second", f"{card['pairs_per_second']:.0f}"))
    if card.get("final_loss") is not None:
        rows.append(("final loss", f"{card['final_loss']:.4f}"))
    if not rows and not config:
        return []
    lines = [
        "## Training",
        "",
        "Translation ranking with the additive margin softmax loss "
        "(LaBSE, Feng et al., 2022) over in-batch negatives.",
        "",
        "| | |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in rows] + [""]
    if config:
        lines += [
            "The full configuration (`labse_lite.train.TrainConfig`):",
            "",
            "```json",
            "{",
            ",\n".join(
                f" {json.dumps(k)}: {json.dumps(v, default=str)}"
                for k, v in config.items()
            ),
            "}",
            "```",
            "",
        ]
    return lines


def _card_tatoeba(card: dict) -> list[str]:
    ev = card.get("eval") or {}
    per = card.get("tatoeba") or ev.get("tatoeba")
    if not per:
        return []
    n_pairs = sum(r.get("n", 0) for r in per.values())
    lines = [
        "## Tatoeba",
        "",
        "Accuracy (%) of retrieving each sentence's translation among "
        "all of its language's Tatoeba-v1 sentences "
        f"({len(per)} languages, {n_pairs:,} pairs), averaged over the "
        "paper's groups of languages:",
        "",
        "| languages | xx→en | en→xx |",
        "|---|---|---|",
    ]
    xx2en = ev.get("tatoeba_avg_xx2en") or {}
    en2xx = ev.get("tatoeba_avg_en2xx") or {}
    if "all" not in xx2en:
        xx2en = {"all": sum(r["xx2en"] for r in per.values()) / len(per)}
        en2xx = {"all": sum(r["en2xx"] for r in per.values()) / len(per)}
    lines += [
        f"| {g} | {v:.2f} | {en2xx.get(g, float('nan')):.2f} |"
        for g, v in xx2en.items()
    ] + [""]
    if ev.get("large_pool_avg"):
        size = (ev.get("large_pool") or {}).get("pool_size", "all")
        lines += [
            f"Large pool (xx→en among {size} English candidates): "
            + ", ".join(
                f"{g} {v:.2f}" for g, v in ev["large_pool_avg"].items()
            )
            + ".",
            "",
        ]
    lines += ["| language | pairs | xx→en | en→xx |", "|---|---|---|---|"]
    lines += [
        f"| {lang} | {r.get('n', '')} | {r['xx2en']:.2f} | {r['en2xx']:.2f} |"
        for lang, r in sorted(per.items())
    ]
    return lines + [""]
