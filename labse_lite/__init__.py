"""labse-lite: language-agnostic sentence embeddings (LaBSE) you can train
and measure on a laptop.

Modules are named after the paper's sections: :mod:`labse_lite.data`,
:mod:`labse_lite.tokenization`, :mod:`labse_lite.model`,
:mod:`labse_lite.losses`, :mod:`labse_lite.train`,
:mod:`labse_lite.evaluate`.
"""

__version__ = "0.1.0"
