"""The settings that training (:class:`~labse_lite.train.TrainConfig`) and
pre-training (:class:`~labse_lite.pretrain.PretrainConfig`) share, and
their validation.

:class:`RunConfig` declares the shared fields once; each subclass adds its
own and redeclares the shared fields whose defaults differ (``output_dir``,
``max_length``, ``vocab_size``, ``num_layers``, ``dropout``, ``max_steps``,
``lr``, ``warmup_steps``).  :meth:`RunConfig.validate` reports every problem of
:meth:`RunConfig.problems` at once; a subclass extends ``problems`` with
its own checks and names itself in the message (``_kind``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

__all__ = ["RunConfig"]


@dataclass
class RunConfig:
    """Settings every run has: data, vocabulary, model shape, optimisation
    and bookkeeping (defaults: the training run's)."""

    output_dir: str = "runs/laptop"  # checkpoints, final model, logs
    # --- data (training pairs; never Tatoeba/FLORES)
    languages: list[str] | None = None  # training labels; None: all
    exclude_languages: list[str] = field(
        default_factory=list
    )  # labels left out
    language_alpha: float = 0.5  # sample language l ∝ n_l ** alpha
    max_length: int = 32  # tokens per sequence
    # --- vocabulary
    tokenizer: str | None = None  # saved/hub tokenizer; None: train one
    vocab_size: int = 64000  # WordPiece size when training one
    vocab_alpha: float = 0.3  # vocabulary smoothing exponent (paper)
    # --- model
    model_preset: str = "laptop"  # model.MODEL_PRESETS shape
    num_layers: int | None = None  # override the preset's depth
    hidden_size: int | None = None  # override the preset's width
    num_heads: int | None = None  # ... attention heads
    ffn_size: int | None = None  # ... feed-forward width
    dropout: float = 0.0  # hidden and attention dropout
    # --- optimisation
    batch_size: int = 128  # pairs/sequences per rank and step
    max_steps: int = 7711  # optimiser steps
    lr: float = 2e-3  # peak learning rate (AdamW)
    weight_decay: float = 0.01  # AdamW decoupled weight decay
    warmup_steps: int = 643  # linear warm-up, then linear decay
    grad_clip: float = 1.0  # max global grad norm (0: off)
    seed: int = 0  # data order, init, dropout, masking
    # --- bookkeeping
    log_every: int = 10  # steps between lines of log.jsonl
    resume: bool = True  # continue the run in output_dir
    threads: int | None = None  # torch CPU threads (None: default)
    device: str = "auto"  # auto | cpu | cuda | cuda:1 ...
    dist_timeout_seconds: float = 60.0  # max wait for a peer rank (torchrun)
    dist_wait_timeout_seconds: float = (
        3600.0  # max wait for rank 0's eval/saving
    )
    progress: bool = True  # show a tqdm progress bar

    _kind = "run"  # "invalid {_kind} config: ..." (not a field)

    def problems(self) -> list[str]:
        """What is wrong with the shared settings (empty: nothing);
        subclasses add their own."""
        problems = []
        if not self.lr > 0:
            problems.append(f"lr={self.lr} must be > 0")
        if not 0 <= self.language_alpha <= 1:
            problems.append(
                f"language_alpha={self.language_alpha} must be in [0, 1]"
            )
        if not 0 <= self.dropout < 1:
            problems.append(f"dropout={self.dropout} must be in [0, 1)")
        if isinstance(self.languages, str):
            problems.append("languages must be a list of codes")
        return problems

    def validate(self) -> None:
        """Raise ValueError naming every problem of :meth:`problems`."""
        problems = self.problems()
        if problems:
            raise ValueError(
                f"invalid {self._kind} config: " + "; ".join(problems)
            )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
