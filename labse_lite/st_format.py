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
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

__all__ = ["write_st_layout", "read_st_layout", "is_st_folder"]

_T = "sentence_transformers.models."
_IDENTITY = "torch.nn.modules.linear.Identity"
_TANH = "torch.nn.modules.activation.Tanh"
_POOL_KEYS = {"cls": "pooling_mode_cls_token",
              "mean": "pooling_mode_mean_tokens",
              "max": "pooling_mode_max_tokens"}


def is_st_folder(path: Path) -> bool:
    return (Path(path) / "modules.json").is_file()


def _write_dense(folder: Path, linear: torch.nn.Linear,
                 activation: str) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({
        "in_features": linear.in_features,
        "out_features": linear.out_features,
        "bias": linear.bias is not None,
        "activation_function": activation}, indent=1))
    state = {"linear.weight": linear.weight.detach().contiguous()}
    if linear.bias is not None:
        state["linear.bias"] = linear.bias.detach().contiguous()
    save_file(state, str(folder / "model.safetensors"))


def write_st_layout(model, directory: Path) -> None:
    """``modules.json``, ``sentence_bert_config.json`` and one folder per
    module after the Transformer, for ``model`` saved in ``directory``."""
    hidden = model.encoder.config.hidden_size
    modules = [{"idx": 0, "name": "0", "path": "",
                "type": _T + "Transformer"}]

    def add(kind: str, path: str):
        modules.append({"idx": len(modules), "name": str(len(modules)),
                        "path": path, "type": _T + kind})

    pooling = "cls" if model.pooling == "pooler" else model.pooling
    add("Pooling", "1_Pooling")
    (directory / "1_Pooling").mkdir(exist_ok=True)
    config = {"word_embedding_dimension": hidden,
              "pooling_mode_mean_sqrt_len_tokens": False}
    config.update({key: mode == pooling for mode, key in _POOL_KEYS.items()})
    (directory / "1_Pooling" / "config.json").write_text(
        json.dumps(config, indent=1))
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
    (directory / "sentence_bert_config.json").write_text(json.dumps(
        {"max_seq_length": model.max_length, "do_lower_case": False},
        indent=1))


def _pooling_mode(config: dict) -> str:
    mode = config.get("pooling_mode")          # newer sentence-transformers
    if isinstance(mode, list) and len(mode) == 1:
        mode = mode[0]
    if mode is None:
        chosen = [m for m, key in _POOL_KEYS.items() if config.get(key)]
        others = [k for k, v in config.items() if k.startswith(
            "pooling_mode") and v and k not in _POOL_KEYS.values()]
        if len(chosen) != 1 or others:
            raise ValueError(f"unsupported sentence-transformers pooling "
                             f"{config}: labse-lite pools by one of cls, "
                             f"mean, max")
        mode = chosen[0]
    if mode not in _POOL_KEYS:
        raise ValueError(f"unsupported sentence-transformers pooling "
                         f"{mode!r}: labse-lite pools by one of cls, mean, "
                         f"max")
    return mode


def _read_dense(folder: Path) -> tuple[dict, dict]:
    config = json.loads((folder / "config.json").read_text())
    if (folder / "model.safetensors").is_file():
        from safetensors.torch import load_file

        state = load_file(str(folder / "model.safetensors"))
    else:
        state = torch.load(folder / "pytorch_model.bin", map_location="cpu",
                           weights_only=True)
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
        raise ValueError(f"{directory}: expected Transformer → Pooling → "
                         f"[Dense] → [Normalize], found {kinds}")
    out = {"encoder_path": directory / modules[0]["path"],
           "pooling": None, "projection_dim": None, "max_length": None,
           "normalize": False, "pooler_state": None,
           "projection_state": None}
    settings = out["encoder_path"] / "sentence_bert_config.json"
    if not settings.is_file():
        settings = directory / "sentence_bert_config.json"
    if settings.is_file():
        out["max_length"] = json.loads(settings.read_text()).get(
            "max_seq_length")
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
                json.loads((folder / "config.json").read_text()))
        elif kind == "Dense":
            config, state = _read_dense(folder)
            act = config.get("activation_function", _TANH)
            square = config["in_features"] == config["out_features"]
            if (act == _TANH and out["pooling"] == "cls" and square
                    and out["pooler_state"] is None
                    and out["projection_state"] is None):
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
                    f"projection")
        elif kind == "Normalize":
            out["normalize"] = True
        else:
            raise ValueError(f"{directory}: unsupported module {kind}")
    return out
