"""labse-lite: language-agnostic sentence embeddings (LaBSE) you can train
and measure on a laptop.

Modules are named after the paper's sections: :mod:`labse_lite.data`,
:mod:`labse_lite.tokenization`, :mod:`labse_lite.model`,
:mod:`labse_lite.losses`, :mod:`labse_lite.train`,
:mod:`labse_lite.evaluate`.  The main entry points are also importable from
the package itself (``from labse_lite import DualEncoder, train``); they
are loaded on first use, so ``import labse_lite`` imports neither torch nor
transformers.
"""

from __future__ import annotations

import sys
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING

# The one version number: pyproject.toml reads it (setuptools' dynamic
# version), so keep it a plain string literal.
__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "DualEncoder": "model",
    "TrainConfig": "train",
    "train": "train",
    "PretrainConfig": "pretrain",
    "pretrain": "pretrain",
    "evaluate_all": "evaluate",
    "evaluate_tatoeba": "evaluate",
    "mine": "mining",
    "load_tatoeba": "data",
    "load_train_pairs": "data",
}

__all__ = [
    "__version__",
    "DualEncoder",
    "TrainConfig",
    "train",
    "PretrainConfig",
    "pretrain",
    "evaluate_all",
    "evaluate_tatoeba",
    "mine",
    "load_tatoeba",
    "load_train_pairs",
]

if TYPE_CHECKING:  # for type checkers and IDEs only
    from .data import load_tatoeba, load_train_pairs
    from .evaluate import evaluate_all, evaluate_tatoeba
    from .mining import mine
    from .model import DualEncoder
    from .pretrain import PretrainConfig, pretrain
    from .train import TrainConfig, train


def __getattr__(name: str):
    """PEP 562: import the module behind a public name on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    loaded = import_module(f".{module}", __name__)
    if name == module:  # train, pretrain: see _Package
        return globals()[name]
    value = getattr(loaded, name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


# ``train`` and ``pretrain`` name both a function and the module defining
# it, and Python sets ``labse_lite.train`` to the module whenever it is
# imported.  So that ``labse_lite.train(config)``, ``from labse_lite import
# train`` and ``import labse_lite.train as T; T.TrainConfig`` all work, in
# any import order, those two modules are made callable: calling one calls
# its function of the same name.
class _CallableModule(ModuleType):
    def __call__(self, *args, **kwargs):
        return getattr(self, self.__name__.rpartition(".")[2])(*args, **kwargs)


class _Package(ModuleType):
    def __setattr__(self, name, value):
        if (
            name in _EXPORTS
            and _EXPORTS[name] == name
            and isinstance(value, ModuleType)
            and value.__name__ == f"{__name__}.{name}"
        ):
            value.__class__ = _CallableModule
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
