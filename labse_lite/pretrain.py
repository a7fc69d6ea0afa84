"""Pre-training the encoder: MLM + TLM with progressive stacking.

LaBSE (Feng et al., 2022) pre-trains its BERT encoder before the
dual-encoder fine-tuning with two masked-language-model objectives:

* **MLM** on monolingual sentences: 20% of the (non-special) tokens of each
  sequence are chosen for prediction, at most ``max_predictions`` per
  sequence (the paper: 80 in sequences of 512); as in BERT, a chosen token
  becomes [MASK] 80% of the time, a random token 10% and stays 10%.
* **TLM** (Conneau & Lample, 2019) on translation pairs: both sentences form
  one sequence ``[CLS] a [SEP] b [SEP]``, masked jointly, so a masked word
  can be recovered from its translation.  There is no language hint: no
  language embeddings, one segment id, and the order of the two sides is
  random.

**Progressive stacking** (Gong et al., 2019): train an L/4-layer model,
copy its layers to make L/2 layers (new layer ``j`` is old layer
``j mod L/4``), train, copy again to make L layers, train.  The shallow
stages are cheap, and the copy starts the deeper model close to where the
shallow one ended (:func:`stack_layers`).

The result is a normal ``transformers`` ``BertForMaskedLM`` checkpoint
(``output_dir/model``) with its tokenizer; ``TrainConfig.init_model`` (or
``labse-lite train --init-model``) loads it as the dual encoder's
initialisation, dropping the MLM head.

The loop runs unchanged under ``torchrun`` (each rank trains on its slice
of a global batch, DDP averages the gradients).
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .config import RunConfig
from .data import (
    ParallelCorpus,
    normalize_for_overlap,
    select_corpus,
    smoothed_probabilities,
)
from .model import pad_batch
from .runtime import (
    make_optimizer,
    make_scheduler,
    quiet_hub_progress,
    reuse_freed_memory,
    start_run,
)

__all__ = [
    "PretrainConfig",
    "pretrain",
    "stack_layers",
    "encoder_layers",
    "mask_tokens",
    "stage_plan",
    "PretrainingData",
    "mlm_loss",
    "split_heldout",
    "tlm_pair",
]

# The paper's stage lengths: 400k, 800k and 1.8M steps.
PAPER_STAGE_FRACTIONS = (400 / 3000, 800 / 3000, 1800 / 3000)


@dataclass
class PretrainConfig(RunConfig):
    """Settings of one pre-training run (defaults: a laptop-sized run)."""

    output_dir: str = "runs/pretrain"  # stages, final model, logs
    # --- data (both sides of the training pairs; Tatoeba/FLORES never)
    tlm_fraction: float = 0.5  # share of sequences that are TLM pairs
    max_length: int = 64  # tokens per sequence (TLM: both sides)
    # --- vocabulary (32k: a 64k MLM output layer doubles its cost)
    vocab_size: int = 32000  # WordPiece size when training one
    heldout_pairs: int = 500  # pairs kept out to measure MLM loss
    # --- masking (paper: 20%, at most 80 per sequence)
    mask_prob: float = 0.2  # share of tokens to predict
    max_predictions: int = 80  # cap per sequence
    # --- model
    num_layers: int | None = 4  # final depth L (None: the preset's)
    dropout: float = 0.1  # hidden and attention dropout
    tie_embeddings: bool = False  # MLM decoder = input embeddings (BERT: yes)
    # --- progressive stacking
    stacking: bool = True  # L/4 -> L/2 -> L (False: L only)
    stage_steps: list[int] | None = (
        None  # steps per stage; None: split max_steps
    )
    # --- optimisation
    max_steps: int = 1500  # total steps (split 2:4:9 when stacking)
    lr: float = 1e-3  # peak learning rate (AdamW), per stage
    warmup_steps: int = 100  # linear warm-up in each stage
    # (and RunConfig's shared fields: languages, tokenizer, batch_size ...)

    _kind = "pre-training"

    def final_depth(self) -> int:
        from .model import MODEL_PRESETS

        if self.num_layers is not None:
            return self.num_layers
        if self.model_preset not in MODEL_PRESETS:
            raise ValueError(
                f"unknown model preset {self.model_preset!r}; "
                f"choose from {sorted(MODEL_PRESETS)}"
            )
        return MODEL_PRESETS[self.model_preset]["num_hidden_layers"]

    def problems(self) -> list[str]:
        """What cannot pre-train correctly (empty: nothing)."""
        problems = super().problems() + self._plan_problems()
        if not 0 < self.mask_prob < 1:
            problems.append(f"mask_prob={self.mask_prob} must be in (0, 1)")
        if self.max_predictions < 1:
            problems.append(
                f"max_predictions={self.max_predictions} must be >= 1"
            )
        if not 0 <= self.tlm_fraction <= 1:
            problems.append(
                f"tlm_fraction={self.tlm_fraction} must be in [0, 1]"
            )
        if self.max_length < 5:
            problems.append(
                f"max_length={self.max_length} must be >= 5 "
                f"(TLM needs [CLS] a [SEP] b [SEP])"
            )
        if self.batch_size < 1:
            problems.append(f"batch_size={self.batch_size} must be >= 1")
        if self.heldout_pairs < 0:
            problems.append(f"heldout_pairs={self.heldout_pairs} must be >= 0")
        return problems

    def _plan_problems(self) -> list[str]:
        """The model preset, its depth and the stages."""
        from .model import MODEL_PRESETS

        problems = []
        if self.model_preset not in MODEL_PRESETS:
            problems.append(
                f"unknown model preset {self.model_preset!r}; "
                f"choose from {sorted(MODEL_PRESETS)}"
            )
        try:
            depth = self.final_depth()
        except ValueError:
            depth = None
        if depth is not None and depth < 1:
            problems.append(f"num_layers={depth} must be >= 1")
        if self.stacking and depth is not None and depth % 4:
            problems.append(
                f"progressive stacking needs a depth divisible by 4 "
                f"(L/4 -> L/2 -> L); the model has {depth} layers. Use "
                f"num_layers=4, 8, 12... or stacking=False"
            )
        if self.stage_steps is not None:
            want = 3 if self.stacking else 1
            if len(self.stage_steps) != want:
                problems.append(
                    f"stage_steps needs {want} value(s), got "
                    f"{self.stage_steps}"
                )
            if any(s < 0 for s in self.stage_steps):
                problems.append(
                    f"stage_steps must be >= 0: {self.stage_steps}"
                )
        elif self.max_steps < 1:
            problems.append(f"max_steps={self.max_steps} must be >= 1")
        return problems


def stage_plan(config: PretrainConfig) -> list[tuple[int, int]]:
    """``[(depth, steps), ...]`` of the run: three stages L/4, L/2, L when
    stacking (steps in the paper's 400k:800k:1.8M proportions unless
    ``stage_steps`` is given), else one stage of depth L."""
    depth = config.final_depth()
    if not config.stacking:
        steps = (
            config.stage_steps[0]
            if config.stage_steps is not None
            else config.max_steps
        )
        return [(depth, steps)]
    depths = [depth // 4, depth // 2, depth]
    if config.stage_steps is not None:
        return list(zip(depths, config.stage_steps))
    steps = [int(round(config.max_steps * f)) for f in PAPER_STAGE_FRACTIONS]
    steps[-1] = config.max_steps - sum(steps[:-1])
    return list(zip(depths, steps))


def layer_steps(plan: Sequence[tuple[int, int]]) -> int:
    """Compute of a plan in layer-steps (sum of depth x steps): the
    transformer layers dominate the cost, so two plans with equal
    layer-steps cost about the same."""
    return sum(d * s for d, s in plan)


# ------------------------------------------------------------------ stacking
def encoder_layers(model: nn.Module) -> nn.ModuleList:
    """The transformer layers of a ``transformers`` encoder (BERT-like:
    ``base_model.encoder.layer``)."""
    base = getattr(model, "base_model", model)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList):
        raise TypeError(
            f"{type(model).__name__} has no encoder.layer "
            f"ModuleList; stacking supports BERT-like models"
        )
    return layers


def stack_layers(model: nn.Module, factor: int = 2) -> nn.Module:
    """Progressive stacking (Gong et al., 2019): a copy of ``model`` with
    ``factor`` times as many layers, new layer ``j`` a copy of old layer
    ``j mod depth`` (so old layer ``i`` goes to ``i`` and ``i + depth``).
    Embeddings, the MLM head and everything else are copied unchanged;
    ``model`` itself is not modified."""
    if factor < 1 or int(factor) != factor:
        raise ValueError(f"factor must be a positive integer, got {factor}")
    old = encoder_layers(model)
    depth = len(old)
    new_model = copy.deepcopy(model)
    new_layers = nn.ModuleList(
        copy.deepcopy(old[j % depth]) for j in range(depth * factor)
    )
    for j, layer in enumerate(new_layers):  # keep per-layer indices
        for module in layer.modules():  # (used by KV caches)
            if hasattr(module, "layer_idx"):
                module.layer_idx = j
    base = getattr(new_model, "base_model", new_model)
    base.encoder.layer = new_layers
    new_model.config.num_hidden_layers = depth * factor
    return new_model


# ------------------------------------------------------------------- masking
def mask_tokens(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    special_ids: Sequence[int],
    mask_token_id: int,
    random_ids: torch.Tensor,
    mask_prob: float = 0.2,
    max_predictions: int = 80,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Choose tokens to predict and corrupt them (BERT's recipe).

    In each row, ``round(mask_prob x n)`` of its ``n`` real non-special
    tokens are chosen (at least 1, at most ``max_predictions``); a chosen
    token becomes ``mask_token_id`` with probability 0.8, a token drawn
    from ``random_ids`` with 0.1, and stays with 0.1.  Returns the
    corrupted ids and labels (the original id where chosen, -100 elsewhere).
    """
    if input_ids.shape != attention_mask.shape:
        raise ValueError(
            f"input_ids {tuple(input_ids.shape)} and "
            f"attention_mask {tuple(attention_mask.shape)} "
            f"differ in shape"
        )
    candidate = attention_mask.bool()
    for sid in special_ids:
        candidate &= input_ids != sid
    n = candidate.sum(1)  # (B,)
    k = torch.clamp(
        torch.round(n.float() * mask_prob).long(), min=1, max=max_predictions
    )
    k = torch.minimum(k, n)
    scores = torch.rand(input_ids.shape, generator=generator)
    scores[~candidate] = 2.0  # never chosen: sorted last
    rank = scores.argsort(1).argsort(1)
    chosen = rank < k.unsqueeze(1)
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))
    action = torch.rand(input_ids.shape, generator=generator)
    corrupted = input_ids.clone()
    to_mask = chosen & (action < 0.8)
    to_random = chosen & (action >= 0.8) & (action < 0.9)
    corrupted[to_mask] = mask_token_id
    picks = torch.randint(
        len(random_ids), (int(to_random.sum()),), generator=generator
    )
    corrupted[to_random] = random_ids[picks]
    return corrupted, labels


# ---------------------------------------------------------------------- data
def tlm_pair(
    ia: list[int], ib: list[int], cls_id: int, sep_id: int, max_length: int
) -> list[int]:
    """The TLM input of a translation pair, ``[CLS] a [SEP] b [SEP]``, at
    most ``max_length`` ids: the longer side is truncated first."""
    room = max_length - 3
    half = room // 2
    if len(ia) + len(ib) > room:
        if len(ia) <= half:
            ib = ib[: room - len(ia)]
        elif len(ib) <= half:
            ia = ia[: room - len(ib)]
        else:
            ia, ib = ia[:half], ib[: room - half]
    return [cls_id, *ia, sep_id, *ib, sep_id]


class PretrainingData:
    """Token ids of the monolingual sentences (both sides of the pairs,
    each distinct sentence once, English as one more language) and of the
    pairs, with deterministic batch sampling: batch ``s`` is a pure
    function of (seed, s)."""

    def __init__(
        self,
        corpus: ParallelCorpus,
        tokenizer,
        max_length: int,
        language_alpha: float,
        tlm_fraction: float,
    ):
        self.max_length = max_length
        self.tlm_fraction = tlm_fraction
        self.cls_id = tokenizer.cls_token_id
        self.sep_id = tokenizer.sep_token_id
        mono = corpus.monolingual_texts()
        texts = sorted({t for ts in mono.values() for t in ts})
        ids = tokenizer(texts, add_special_tokens=False, verbose=False)[
            "input_ids"
        ]
        index = dict(zip(texts, range(len(texts))))
        self.ids = ids  # bare word pieces
        self.mono = {
            lang: np.array(sorted({index[t] for t in ts}))
            for lang, ts in sorted(mono.items())
        }
        langs = np.asarray(corpus.langs)
        self.pair_xx = np.array([index[t] for t in corpus.xx])
        self.pair_en = np.array([index[t] for t in corpus.en])
        self.pair_langs, pair_idx = np.unique(langs, return_inverse=True)
        self.pair_members = [
            np.flatnonzero(pair_idx == k) for k in range(len(self.pair_langs))
        ]
        self.mono_langs = list(self.mono)
        self.mono_probs = smoothed_probabilities(
            [len(self.mono[lang]) for lang in self.mono_langs], language_alpha
        )
        self.pair_probs = smoothed_probabilities(
            [len(m) for m in self.pair_members], language_alpha
        )

    def _single(self, sid: int) -> list[int]:
        body = self.ids[sid][: self.max_length - 2]
        return [self.cls_id, *body, self.sep_id]

    def _pair(self, a: int, b: int) -> list[int]:
        return tlm_pair(
            self.ids[a], self.ids[b], self.cls_id, self.sep_id, self.max_length
        )

    def sequences(self, rng: np.random.Generator, n: int) -> list[list[int]]:
        """``n`` sequences: TLM pairs with probability ``tlm_fraction``,
        else single sentences, languages sampled ∝ n_l ** alpha."""
        out = []
        is_tlm = rng.random(n) < self.tlm_fraction
        for tlm in is_tlm:
            if tlm:
                lang = rng.choice(len(self.pair_members), p=self.pair_probs)
                p = rng.choice(self.pair_members[lang])
                a, b = self.pair_xx[p], self.pair_en[p]
                if rng.random() < 0.5:  # no position hint of the language
                    a, b = b, a
                out.append(self._pair(a, b))
            else:
                lang = rng.choice(len(self.mono_langs), p=self.mono_probs)
                sid = rng.choice(self.mono[self.mono_langs[lang]])
                out.append(self._single(sid))
        return out

    def batch(self, seed: int, step: int, n: int) -> list[list[int]]:
        return self.sequences(np.random.default_rng([seed, step]), n)


# ---------------------------------------------------------------------- loss
class _MaskedLMObjective(nn.Module):
    """Cross-entropy of the MLM head on the chosen positions only (the head
    runs on those rows, not on every position: much cheaper with a large
    vocabulary).  A module of its own so DDP can wrap it."""

    def __init__(self, mlm_model):
        super().__init__()
        self.mlm = mlm_model

    def forward(self, input_ids, attention_mask, labels):
        hidden = self.mlm.base_model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=torch.zeros_like(input_ids),
        ).last_hidden_state
        chosen = labels != -100
        logits = self.mlm.cls(hidden[chosen])  # (n, V)
        return nn.functional.cross_entropy(logits.float(), labels[chosen])


def mlm_loss(model, batches: Sequence[tuple[torch.Tensor, ...]]) -> float:
    """Mean MLM loss (nats per predicted token) of ``model`` over fixed,
    already-masked ``(ids, mask, labels)`` batches, in eval mode."""
    objective = _MaskedLMObjective(model)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    device = next(model.parameters()).device
    with torch.inference_mode():
        for ids, mask, labels in batches:
            n = int((labels != -100).sum())
            loss = objective(
                ids.to(device), mask.to(device), labels.to(device)
            )
            total += float(loss) * n
            count += n
    model.train(was_training)
    return total / max(count, 1)


def _masking_vocab(tokenizer) -> tuple[list[int], torch.Tensor]:
    special = sorted(set(tokenizer.all_special_ids))
    keep = torch.ones(len(tokenizer), dtype=torch.bool)
    keep[special] = False
    return special, torch.nonzero(keep).squeeze(1)


def _build_mlm_model(config: PretrainConfig, tokenizer, depth: int):
    from transformers import BertForMaskedLM

    from .model import bert_config

    bert = bert_config(
        len(tokenizer),
        config.model_preset,
        max_position_embeddings=max(512, config.max_length),
        dropout=config.dropout,
        num_hidden_layers=depth,
        hidden_size=config.hidden_size,
        num_attention_heads=config.num_heads,
        intermediate_size=config.ffn_size,
    )
    bert.pad_token_id = tokenizer.pad_token_id
    bert.tie_word_embeddings = config.tie_embeddings
    bert.tie_encoder_decoder = False
    return BertForMaskedLM(bert)


def _freeze_unused(model) -> None:
    """With untied embeddings, ``BertLMPredictionHead.bias`` is not tied to
    the decoder's bias and never used; DDP refuses parameters that get no
    gradient, so mark it as not trainable."""
    head = getattr(getattr(model, "cls", None), "predictions", None)
    if (
        head is not None
        and getattr(head, "bias", None) is not None
        and head.decoder.bias is not head.bias
    ):
        head.bias.requires_grad_(False)


def _quiet_save(model, tokenizer, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with quiet_hub_progress():
        model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)


# --------------------------------------------------------------------- train
@dataclass
class _Masker:
    """Pads sequences and masks them (:func:`mask_tokens`) with one
    tokenizer's special, [MASK] and pad ids."""

    special: list[int]
    mask_id: int
    random_ids: torch.Tensor
    pad_id: int
    mask_prob: float
    max_predictions: int

    @classmethod
    def of(cls, tokenizer, config: PretrainConfig) -> _Masker:
        if tokenizer.mask_token_id is None:
            raise ValueError("the tokenizer has no [MASK] token")
        special, random_ids = _masking_vocab(tokenizer)
        return cls(
            special,
            tokenizer.mask_token_id,
            random_ids,
            tokenizer.pad_token_id or 0,
            config.mask_prob,
            config.max_predictions,
        )

    def __call__(
        self, seqs: list[list[int]], generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(corrupted ids, attention mask, labels)`` of ``seqs``."""
        ids, mask = pad_batch(seqs, self.pad_id)
        cids, labels = mask_tokens(
            ids,
            mask,
            self.special,
            self.mask_id,
            self.random_ids,
            self.mask_prob,
            self.max_predictions,
            generator,
        )
        return cids, mask, labels


@dataclass
class _Run:
    """What the stages of one pre-training run share.  ``step`` (the
    global optimiser step) and ``stages`` (the finished stages' infos)
    advance as it trains."""

    config: PretrainConfig
    ctx: object  # distributed.DistContext
    device: torch.device
    out: Path
    tokenizer: object
    masker: _Masker
    data: PretrainingData
    held_batches: list  # fixed, masked held-out batches
    step: int
    stages: list[dict]
    bar: object  # tqdm over every step of the plan

    @property
    def is_main(self) -> bool:
        return self.ctx.rank == 0

    @property
    def global_batch(self) -> int:
        return self.config.batch_size * self.ctx.world_size

    def heldout_loss(self, model) -> float | None:
        return (
            mlm_loss(model, self.held_batches) if self.held_batches else None
        )


def pretrain(
    config: PretrainConfig, corpus: ParallelCorpus | None = None
) -> dict:
    """Pre-train a BERT encoder with MLM + TLM (and progressive stacking).

    ``corpus`` defaults to the shipped training pairs (``languages`` /
    ``exclude_languages`` applied).  Writes ``output_dir/stage_k`` after
    each stage (a rerun with ``resume`` skips finished stages),
    ``output_dir/model`` (the final ``BertForMaskedLM`` + tokenizer),
    ``log.jsonl`` and ``summary.json``; returns the summary: per stage its
    depth, steps, seconds and held-out MLM loss, and for each stacking step
    the held-out loss just before and just after the copy.
    """
    from . import distributed as dist_utils

    ctx, device, out = start_run(config)
    t_start = time.perf_counter()
    heldout, train_corpus = _split_corpus(config, corpus)
    tokenizer = _shared_tokenizer(config, ctx, out, train_corpus)
    masker = _Masker.of(tokenizer, config)
    data = PretrainingData(
        train_corpus,
        tokenizer,
        config.max_length,
        config.language_alpha,
        config.tlm_fraction,
    )
    held_batches = _heldout_batches(config, heldout, tokenizer, masker)
    plan = stage_plan(config)
    torch.manual_seed(config.seed)  # model init, dropout
    model, first_stage, stages = _resume(out, len(plan), config.resume)
    step = sum(s for _, s in plan[:first_stage])
    run = _Run(
        config,
        ctx,
        device,
        out,
        tokenizer,
        masker,
        data,
        held_batches,
        step,
        stages,
        _progress_bar(config, plan, step, ctx.rank == 0),
    )
    with reuse_freed_memory(device):
        for k in range(first_stage, len(plan)):
            model = _train_stage(run, k, *plan[k], model)
    run.bar.close()
    summary = _summary(run, plan, train_corpus, heldout, t_start)
    if run.is_main:
        _quiet_save(model, tokenizer, out / "model")
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
    dist_utils.barrier(ctx)
    dist_utils.cleanup(ctx)
    return summary


def _split_corpus(
    config: PretrainConfig, corpus: ParallelCorpus | None
) -> tuple[ParallelCorpus, ParallelCorpus]:
    """``(heldout, train)`` of the selected corpus (:func:`split_heldout`)."""
    corpus = select_corpus(config, corpus)
    if len(corpus) <= config.heldout_pairs:
        raise ValueError(
            f"the corpus has {len(corpus)} pairs, not more than "
            f"heldout_pairs={config.heldout_pairs}"
        )
    return split_heldout(corpus, config.heldout_pairs, config.seed)


def _shared_tokenizer(
    config: PretrainConfig, ctx, out: Path, train_corpus: ParallelCorpus
):
    """Rank 0 loads the tokenizer (when resuming, the run's own copy; else
    ``config.tokenizer``) or trains a WordPiece vocabulary on the training
    pairs, and saves it to ``out/tokenizer``; the other ranks load that."""
    from . import distributed as dist_utils
    from .tokenization import load_tokenizer, train_wordpiece

    tok_dir = out / "tokenizer"
    if ctx.rank == 0:
        if config.resume and (tok_dir / "tokenizer.json").is_file():
            tokenizer = load_tokenizer(str(tok_dir))
        elif config.tokenizer:
            tokenizer = load_tokenizer(config.tokenizer)
        else:
            tokenizer = train_wordpiece(
                train_corpus.monolingual_texts(),
                vocab_size=config.vocab_size,
                alpha=config.vocab_alpha,
                seed=config.seed,
            )
        tokenizer.save_pretrained(str(tok_dir))
    dist_utils.barrier(ctx)
    if ctx.rank != 0:
        tokenizer = load_tokenizer(str(tok_dir))
    return tokenizer


def _heldout_batches(
    config: PretrainConfig, heldout: ParallelCorpus, tokenizer, masker: _Masker
) -> list[tuple]:
    """Fixed, masked ``(ids, mask, labels)`` batches of 128 sequences from
    the held-out pairs (about two sequences per pair), for
    :func:`mlm_loss`; none without held-out pairs."""
    if not config.heldout_pairs:
        return []
    held_data = PretrainingData(
        heldout,
        tokenizer,
        config.max_length,
        config.language_alpha,
        config.tlm_fraction,
    )
    gen = torch.Generator().manual_seed(config.seed + 99)
    held_rng = np.random.default_rng([config.seed, 11])
    return [
        masker(held_data.sequences(held_rng, 128), gen)
        for _ in range(max(1, 2 * config.heldout_pairs // 256))
    ]


def _resume(out: Path, n_stages: int, resume: bool) -> tuple:
    """``(model, first stage to train, infos of the finished stages)``:
    with ``resume``, from the deepest ``out/stage_k`` saved; else (or
    without any) ``(None, 0, [])``."""
    from transformers import BertForMaskedLM

    if resume:
        for k in reversed(range(n_stages)):
            stage_dir = out / f"stage_{k}"
            if (stage_dir / "stage.json").is_file():
                model = BertForMaskedLM.from_pretrained(str(stage_dir))
                infos = json.loads((stage_dir / "stage.json").read_text())
                return model, k + 1, infos["stages"]
    return None, 0, []


def _progress_bar(config: PretrainConfig, plan, initial: int, is_main: bool):
    from tqdm import tqdm

    return tqdm(
        total=sum(s for _, s in plan),
        initial=initial,
        desc="pretrain",
        unit="step",
        dynamic_ncols=True,
        disable=not (config.progress and is_main),
    )


def _train_stage(run: _Run, k: int, depth: int, steps: int, model):
    """Stage ``k``: build the model (first stage) or stack it to ``depth``,
    train it ``steps`` steps (fresh optimiser and schedule), measure the
    held-out loss and save ``out/stage_k``.  Returns the model."""
    from . import distributed as dist_utils

    info = {"stage": k, "depth": depth, "steps": steps}
    model = _stage_model(run, model, depth, info)
    model.to(run.device).train()
    _freeze_unused(model)
    objective = dist_utils.wrap_model(_MaskedLMObjective(model), run.ctx)
    optimizer = make_optimizer(model, run.config)
    warmup = min(run.config.warmup_steps, max(steps // 10, 1))
    scheduler = make_scheduler(optimizer, warmup, steps)
    t_stage = time.perf_counter()
    losses = []
    for s in range(steps):
        losses.append(
            _train_step(
                run,
                model,
                objective,
                optimizer,
                scheduler,
                f"stage {k} step {s}",
            )
        )
        _record_step(run, k, depth, losses[-1], scheduler, s == steps - 1)
    info["seconds"] = time.perf_counter() - t_stage
    info["train_loss_last"] = float(np.mean(losses[-20:])) if losses else None
    info["heldout_loss"] = run.heldout_loss(model)
    run.stages.append(info)
    if run.is_main:
        _quiet_save(model, run.tokenizer, run.out / f"stage_{k}")
        (run.out / f"stage_{k}" / "stage.json").write_text(
            json.dumps({"stages": run.stages}, indent=1)
        )
    dist_utils.barrier(run.ctx)
    return model


def _stage_model(run: _Run, model, depth: int, info: dict):
    """The stage's model: a new one of ``depth`` layers when there is none
    yet, else ``model`` stacked to ``depth`` (held-out loss just before and
    just after the copy go into ``info``) or ``model`` as it is."""
    if model is None:
        return _build_mlm_model(run.config, run.tokenizer, depth)
    if len(encoder_layers(model)) != depth:
        factor = depth // len(encoder_layers(model))
        info["heldout_loss_before_copy"] = run.heldout_loss(model)
        model = stack_layers(model, factor)
        info["heldout_loss_after_copy"] = run.heldout_loss(model)
    return model


def _train_step(
    run: _Run, model, objective, optimizer, scheduler, where: str
) -> float:
    """One optimiser step on this rank's slice of global batch ``run.step``
    (its sequences and masking are pure functions of seed, step and rank);
    returns the loss."""
    config, rank, device = run.config, run.ctx.rank, run.device
    seqs = run.data.batch(config.seed, run.step, run.global_batch)[
        rank * config.batch_size : (rank + 1) * config.batch_size
    ]
    step_gen = torch.Generator().manual_seed(
        config.seed * 1_000_003 + run.step * 101 + rank
    )
    cids, mask, labels = run.masker(seqs, step_gen)
    optimizer.zero_grad(set_to_none=True)
    loss = objective(cids.to(device), mask.to(device), labels.to(device))
    if not torch.isfinite(loss):
        raise FloatingPointError(
            f"MLM loss is {loss.item()} at {where}: "
            f"training diverged; lower lr (now {config.lr})"
        )
    loss.backward()
    if config.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    optimizer.step()
    scheduler.step()
    return loss.item()


def _record_step(
    run: _Run, k: int, depth: int, loss: float, scheduler, last: bool
) -> None:
    """Count the step on the progress bar and, on rank 0, write a line of
    ``log.jsonl`` every ``log_every`` steps and at the end of the stage."""
    run.step += 1
    run.bar.update(1)
    if run.step % 10 == 0:
        run.bar.set_postfix(depth=depth, loss=f"{loss:.3f}")
    if run.is_main and (run.step % run.config.log_every == 0 or last):
        with open(run.out / "log.jsonl", "a") as handle:
            handle.write(
                json.dumps(
                    {
                        "step": run.step,
                        "stage": k,
                        "depth": depth,
                        "loss": loss,
                        "lr": scheduler.get_last_lr()[0],
                    }
                )
                + "\n"
            )


def _summary(
    run: _Run,
    plan,
    train_corpus: ParallelCorpus,
    heldout: ParallelCorpus,
    t_start: float,
) -> dict:
    stages = run.stages
    return {
        "config": run.config.to_dict(),
        "plan": plan,
        "layer_steps": layer_steps(plan),
        "stages": stages,
        "world_size": run.ctx.world_size,
        "sequences_per_step": run.global_batch,
        "train_pairs": len(train_corpus),
        "languages": train_corpus.languages(),
        "heldout_pairs": len(heldout),
        "seconds": time.perf_counter() - t_start,
        "heldout_loss": stages[-1]["heldout_loss"] if stages else None,
    }


def split_heldout(
    corpus: ParallelCorpus, n_pairs: int, seed: int
) -> tuple[ParallelCorpus, ParallelCorpus]:
    """A held-out set of ``n_pairs`` random pairs and the training rest,
    split by *sentence*: every pair that shares either sentence (same
    :func:`~labse_lite.data.normalize_for_overlap` key, on either side)
    with a held-out pair is dropped from training, so the held-out MLM loss
    is measured on text the model has never read.  Returns
    ``(heldout, train)``."""
    rng = np.random.default_rng([seed, 7])
    order = rng.permutation(len(corpus))
    held = np.sort(order[:n_pairs])
    seen = {
        normalize_for_overlap(t)
        for i in held
        for t in (corpus.xx[i], corpus.en[i])
    }
    keep = np.array(
        [
            i
            for i in np.sort(order[n_pairs:])
            if normalize_for_overlap(corpus.xx[i]) not in seen
            and normalize_for_overlap(corpus.en[i]) not in seen
        ],
        dtype=np.int64,
    )
    if len(keep) == 0:
        raise ValueError(
            f"no training pairs left after holding out "
            f"{n_pairs} pairs and every pair sharing a "
            f"sentence with them"
        )
    return corpus.take(held), corpus.take(keep)
