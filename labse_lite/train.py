"""A plain PyTorch training loop for the dual encoder (Feng et al., 2022).

Everything is in view: language-balanced sampling, length-bucketed batches,
AdamW with warm-up and linear decay, gradient clipping, periodic evaluation,
and checkpoints that resume to the same result.  The loop is written for
data parallelism from the start: step ``s`` draws one *global* batch of
``batch_size × world_size`` pairs and each rank trains on its own slice, so a
single process is just world size 1.
"""

from __future__ import annotations

import functools
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from .config import RunConfig
from .data import (
    ParallelCorpus,
    distinct_rows,
    load_tatoeba,
    normalize_for_overlap,
    select_corpus,
    smoothed_probabilities,
)
from .gradcache import cached_gradient_step
from .languages import XTREME_36
from .model import DualEncoder
from .objectives import Batch, Objective, build_objective
from .runtime import (
    ProcessCache,
    machine_fingerprint,
    make_optimizer,
    make_scheduler,
    reuse_freed_memory,
    start_run,
)
from .st_format import write_model_card

__all__ = ["TrainConfig", "PairBatcher", "train", "build_model"]


@dataclass
class TrainConfig(RunConfig):
    """Settings of one training run (defaults: the laptop preset)."""

    output_dir: str = "runs/laptop"  # checkpoints, final model, logs
    # --- data
    max_length: int = 32  # tokens per sentence, [CLS]/[SEP] incl.
    # --- model
    init_model: str | None = None  # encoder to start from (hub/path)
    num_layers: int | None = None  # override the preset's depth
    pooling: str = "mean"  # cls | pooler | mean | max
    hidden_layer: int = (
        -1
    )  # layer whose states are pooled (-2: second-to-last)
    projection_dim: int | None = None  # optional output projection
    dropout: float = 0.0  # hidden and attention dropout
    # --- loss (eqs. 2-4)
    margin: float = 0.3  # additive margin m
    scale: float = 10.0  # score scale s (paper's footnote 11)
    bidirectional: bool = True  # sum of x→y and y→x losses
    ams_weight: float = 1.0  # α: weight of the AMS loss
    hard_negatives: int = 0  # mined hard negatives per pair (App. B)
    hard_negative_start: int = 0  # step at which the model mines them
    # --- distillation from a frozen teacher (LEALLA, labse_lite.distill)
    teacher: str | None = None  # teacher folder or hub id; None: off
    feature_weight: float = 1e3  # β: feature loss (eq. 3) with a teacher
    logit_weight: float = 1e-2  # γ: logit loss (eq. 4) with a teacher
    distill_temperature: float = 100.0  # T of the logit loss
    kd_weight: float = (
        0.0  # δ: multilingual KD (Reimers & Gurevych) with a teacher
    )
    freeze_encoder: bool = False  # train only the projection (LEALLA)
    freeze_embeddings: bool = False  # keep the word-embedding table fixed
    freeze_layers: int = 0  # keep the lowest N transformer layers fixed
    # --- optimisation
    # The laptop recipe (issue 28, benchmarks/recipe_sweep.py): the step
    # count that filled 5 minutes on the reference machine (2 cores, AMD
    # EPYC, 25.7 steps/s); slower machines take longer, never other numbers.
    max_steps: int = 7711  # optimiser steps (~5 min on 2 cores)
    lr: float = 2e-3  # peak learning rate (AdamW)
    warmup_steps: int = 643  # linear warm-up (8.3%), then linear decay
    grad_cache_chunk: int | None = (
        None  # GradCache mini-batch (pairs); None: off
    )
    precision: str = "fp32"  # fp32 | bf16 | fp16 (autocast, GPUs)
    # --- bookkeeping
    eval_every: int = 0  # steps between evaluations (0: end)
    eval_languages: list[str] = field(default_factory=lambda: list(XTREME_36))
    final_eval_languages: list[str] | None = (
        None  # Tatoeba at the end; None: all 112
    )
    final_eval: bool = True  # evaluate all of Tatoeba at the end
    # encode-time length of evaluations: "auto" (truncates < 5% of the
    # sentences), an int, or None (the training length)
    eval_length: int | str | None = "auto"
    final_pool_languages: list[str] | None = (
        None  # large-pool query languages; None: all
    )
    checkpoint_every: int = 500  # steps between checkpoints (0: off)
    time_limit_minutes: float | None = None  # stop early after this long
    # (and RunConfig's shared fields: languages, tokenizer, batch_size ...)

    _kind = "training"

    def problems(self) -> list[str]:
        """What cannot train correctly (empty: nothing)."""
        return (
            super().problems()
            + self._optimisation_problems()
            + self._model_problems()
            + self._loss_problems()
            + self._distillation_problems()
            + self._hard_negative_problems()
        )

    def _optimisation_problems(self) -> list[str]:
        problems = []
        if self.batch_size < 2:
            problems.append(
                f"batch_size={self.batch_size}: in-batch negatives need at "
                f"least 2 pairs per batch"
            )
        if self.max_steps < 1:
            problems.append(f"max_steps={self.max_steps} must be >= 1")
        if self.warmup_steps < 0:
            problems.append(f"warmup_steps={self.warmup_steps} must be >= 0")
        if self.max_length < 3:
            problems.append(f"max_length={self.max_length} must be >= 3")
        if not (
            self.eval_length in (None, "auto")
            or (isinstance(self.eval_length, int) and self.eval_length >= 3)
        ):
            problems.append(
                f"eval_length={self.eval_length!r} must be None, 'auto' or "
                f"an int >= 3"
            )
        if self.grad_cache_chunk is not None and self.grad_cache_chunk < 1:
            problems.append(
                f"grad_cache_chunk={self.grad_cache_chunk} "
                f"must be >= 1 (or None)"
            )
        if self.precision not in ("fp32", "bf16", "fp16"):
            problems.append(
                f"precision={self.precision!r} is not one of fp32, bf16, fp16"
            )
        if self.precision == "fp16" and self.grad_cache_chunk:
            problems.append(
                "precision='fp16' needs a loss scaler, which "
                "the cached-gradient path does not have; use "
                "bf16 with grad_cache_chunk"
            )
        return problems

    def _model_problems(self) -> list[str]:
        problems = []
        if self.pooling not in ("cls", "pooler", "mean", "max"):
            problems.append(
                f"pooling={self.pooling!r} is not one of cls, "
                f"pooler, mean, max"
            )
        if self.freeze_layers < 0:
            problems.append(f"freeze_layers={self.freeze_layers} must be >= 0")
        if self.freeze_encoder and not self.projection_dim:
            problems.append(
                "freeze_encoder trains only the projection: set projection_dim"
            )
        return problems

    def _loss_problems(self) -> list[str]:
        problems = []
        if not self.margin >= 0:
            problems.append(f"margin={self.margin} must be >= 0")
        if not self.scale > 0:
            problems.append(f"scale={self.scale} must be > 0")
        for name in (
            "ams_weight",
            "feature_weight",
            "logit_weight",
            "kd_weight",
        ):
            if not getattr(self, name) >= 0:
                problems.append(f"{name}={getattr(self, name)} must be >= 0")
        if self.ams_weight == 0 and (
            self.teacher is None
            or (
                self.feature_weight == 0
                and self.logit_weight == 0
                and self.kd_weight == 0
            )
        ):
            problems.append("every loss term has weight 0: nothing to train")
        return problems

    def _distillation_problems(self) -> list[str]:
        problems = []
        if not self.distill_temperature > 0:
            problems.append(
                f"distill_temperature={self.distill_temperature} must be > 0"
            )
        if self.teacher is not None and self.grad_cache_chunk:
            problems.append(
                "distillation (teacher) does not combine with "
                "grad_cache_chunk yet"
            )
        return problems

    def _hard_negative_problems(self) -> list[str]:
        problems = []
        if self.hard_negatives < 0:
            problems.append(
                f"hard_negatives={self.hard_negatives} must be >= 0"
            )
        if self.hard_negatives and not (
            0 <= self.hard_negative_start < self.max_steps
        ):
            problems.append(
                f"hard_negative_start="
                f"{self.hard_negative_start} must be in [0, "
                f"max_steps={self.max_steps})"
            )
        if (
            self.hard_negatives
            and self.hard_negative_start == 0
            and self.init_model is None
        ):
            problems.append(
                "hard negatives mined at step 0 by a randomly "
                "initialised model are random sentences: set "
                "init_model or hard_negative_start > 0"
            )
        if self.hard_negatives and (
            self.grad_cache_chunk or self.teacher is not None
        ):
            problems.append(
                "hard_negatives does not combine with "
                "grad_cache_chunk or a teacher yet"
            )
        return problems


class PairBatcher:
    """Deterministic, language-balanced, length-bucketed batches.

    Batch ``s`` is a pure function of (seed, s): pairs are drawn by first
    sampling a language with probability ∝ n_l ** alpha, then a pair of that
    language uniformly; a *chunk* of ``chunk_batches`` batches is drawn at
    once, sorted by length and cut into batches (so each batch pads little),
    and the batches of a chunk are shuffled.  A pair whose English or
    non-English side already occurs in the batch is moved to the next batch,
    so no in-batch "negative" is secretly a positive.
    """

    def __init__(
        self,
        xx_ids: Sequence[Sequence[int]],
        en_ids: Sequence[Sequence[int]],
        langs: Sequence[str],
        batch_size: int,
        alpha: float,
        seed: int,
        chunk_batches: int = 50,
        xx_keys: Sequence[int] | None = None,
        en_keys: Sequence[int] | None = None,
    ):
        self.xx_ids, self.en_ids = xx_ids, en_ids
        self.batch_size, self.seed = batch_size, seed
        self.chunk_batches = chunk_batches
        self.lengths = np.array(
            [max(len(a), len(b)) for a, b in zip(xx_ids, en_ids)]
        )
        langs = np.asarray(langs)
        self.languages, lang_idx = np.unique(langs, return_inverse=True)
        self.members = [
            np.flatnonzero(lang_idx == k) for k in range(len(self.languages))
        ]
        sizes = np.array([len(m) for m in self.members], dtype=np.float64)
        self.probs = smoothed_probabilities(sizes, alpha)
        self.xx_keys = np.asarray(
            xx_keys if xx_keys is not None else np.arange(len(xx_ids))
        )
        self.en_keys = np.asarray(
            en_keys if en_keys is not None else np.arange(len(en_ids))
        )
        self._cache: dict[int, list[np.ndarray]] = {}

    def language_probabilities(self) -> dict[str, float]:
        return dict(zip(self.languages.tolist(), self.probs.tolist()))

    def _chunk(self, chunk: int) -> list[np.ndarray]:
        if chunk in self._cache:
            return self._cache[chunk]
        rng = np.random.default_rng([self.seed, chunk])
        n = self.batch_size * self.chunk_batches
        # spare pairs for duplicates; a small corpus (many copies of each
        # pair in one chunk) gets up to three more draws when they run out
        queue = self._draw(rng, int(n * 1.05) + self.batch_size)
        batches, current, seen_x, seen_e, deferred = [], [], set(), set(), []
        i, top_ups = 0, 0
        while len(batches) < self.chunk_batches:
            if deferred and len(current) == 0:
                pending, deferred = deferred, []
                queue[i:i] = pending
            if i >= len(queue):
                if top_ups == 3:
                    break
                queue += self._draw(rng, n // 4 + self.batch_size)
                top_ups += 1
                continue
            p = queue[i]
            i += 1
            kx, ke = self.xx_keys[p], self.en_keys[p]
            if kx in seen_x or ke in seen_e:
                deferred.append(p)
                continue
            current.append(p)
            seen_x.add(kx)
            seen_e.add(ke)
            if len(current) == self.batch_size:
                batches.append(np.array(current))
                current, seen_x, seen_e = [], set(), set()
        if len(batches) < self.chunk_batches:
            raise RuntimeError(
                "not enough distinct pairs to fill a chunk; "
                "use a smaller batch_size"
            )
        order = rng.permutation(len(batches))
        batches = [batches[j] for j in order]
        self._cache = {chunk: batches}  # keep one chunk in memory
        return batches

    def _draw(self, rng, size: int) -> list:
        """``size`` pairs: a language each (∝ n_l ** alpha), then a pair of
        it uniformly; sorted by length."""
        lang = rng.choice(len(self.members), size=size, p=self.probs)
        picks = np.empty(size, dtype=np.int64)
        for k in np.unique(lang):
            where = np.flatnonzero(lang == k)
            picks[where] = rng.choice(self.members[k], size=len(where))
        return list(picks[np.argsort(self.lengths[picks], kind="stable")])

    def batch(self, step: int) -> np.ndarray:
        """Pair indices of the global batch at ``step``."""
        chunk, within = divmod(step, self.chunk_batches)
        return self._chunk(chunk)[within]


def _prepare_tokenizer(config: TrainConfig, corpus: ParallelCorpus, out: Path):
    from .tokenization import load_tokenizer, train_wordpiece

    saved = out / "tokenizer"
    if config.resume and (saved / "tokenizer.json").is_file():
        return load_tokenizer(str(saved))
    if config.tokenizer:
        tok = load_tokenizer(config.tokenizer)
    elif config.init_model:
        tok = load_tokenizer(config.init_model)
    else:
        tok = train_wordpiece(
            corpus.monolingual_texts(),
            vocab_size=config.vocab_size,
            alpha=config.vocab_alpha,
            seed=config.seed,
        )
    tok.save_pretrained(str(saved))
    return tok


def build_model(config: TrainConfig, tokenizer) -> DualEncoder:
    """The dual encoder a config describes (random or from ``init_model``)."""
    if config.init_model:
        # The config's dropout applies to a loaded encoder too, so that a
        # pre-trained and a random initialisation train alike.
        return DualEncoder.from_pretrained(
            config.init_model,
            pooling=config.pooling,
            projection_dim=config.projection_dim,
            max_length=config.max_length,
            hidden_layer=config.hidden_layer,
            hidden_dropout_prob=config.dropout,
            attention_probs_dropout_prob=config.dropout,
        )
    return DualEncoder.from_config(
        tokenizer,
        config.model_preset,
        pooling=config.pooling,
        projection_dim=config.projection_dim,
        max_length=config.max_length,
        dropout=config.dropout,
        hidden_layer=config.hidden_layer,
        num_hidden_layers=config.num_layers,
        hidden_size=config.hidden_size,
        num_attention_heads=config.num_heads,
        intermediate_size=config.ffn_size,
    )


def _teacher_targets(config: TrainConfig, corpus: ParallelCorpus, ctx):
    """With a teacher: its embeddings of the pairs (computed once, cached).
    The non-English side is embedded only for the LEALLA terms:
    multilingual KD's targets are the teacher's English embeddings alone.
    Rank 0 builds what is missing; the others then read the cache.
    Returns ``(teacher_xx, teacher_en)``, (N, D) each or None."""
    from . import distributed as dist_utils
    from .distill import teacher_embeddings

    if config.teacher is None:
        return None, None
    need_xx = config.feature_weight > 0 or config.logit_weight > 0
    t_xx = None
    for rank_turn in (True, False):  # rank 0 first, then the others
        if (ctx.rank == 0) == rank_turn:
            if need_xx:
                t_xx = teacher_embeddings(
                    config.teacher, corpus.xx, progress=config.progress
                )
            t_en = teacher_embeddings(
                config.teacher, corpus.en, progress=config.progress
            )
        if rank_turn:
            dist_utils.barrier(ctx)
    return t_xx, t_en


def freeze_parameters(config: TrainConfig, model: DualEncoder) -> None:
    """Exclude parameters from training: the whole encoder
    (``freeze_encoder``: dimension reduction trains only the projection),
    the word-embedding table (``freeze_embeddings``: English-only tuning
    must not move the English rows away from the other languages'), or
    the lowest ``freeze_layers`` transformer layers."""
    encoder = model.encoder
    if config.freeze_encoder:
        encoder.requires_grad_(False)
    if config.freeze_embeddings:
        encoder.get_input_embeddings().requires_grad_(False)
    if config.freeze_layers:
        layers = getattr(getattr(encoder, "encoder", None), "layer", None)
        if layers is None or config.freeze_layers > len(layers):
            raise ValueError(
                f"freeze_layers={config.freeze_layers}: the encoder has "
                f"{len(layers) if layers is not None else 'no'} layers"
            )
        for layer in layers[: config.freeze_layers]:
            layer.requires_grad_(False)


# The last corpus tokenised in this process, by (vocabulary, max_length,
# texts): a sweep of runs that share one tokenizer and one corpus (the
# students of chapter 08) tokenises it once, not once per run.
_TOKENIZED = ProcessCache(entries=1)


def _tokenize_corpus(model: DualEncoder, corpus: ParallelCorpus):
    """Token ids for every pair; each distinct sentence tokenised once,
    and the same corpus with the same vocabulary once per process."""
    import hashlib

    from .model import tokenizer_key

    key = (
        tokenizer_key(model.tokenizer),
        model.max_length,
        hashlib.sha256(
            "\0".join(corpus.xx + ["\1"] + corpus.en).encode()
        ).hexdigest(),
    )
    return _TOKENIZED.get(key, lambda: _tokenize_pairs(model, corpus))


def _tokenize_pairs(model: DualEncoder, corpus: ParallelCorpus):
    def ids_and_keys(texts):
        distinct, keys = distinct_rows(texts, normalize_for_overlap)
        ids = model.tokenize(distinct)
        return [ids[k] for k in keys], keys

    xx_ids, xx_keys = ids_and_keys(corpus.xx)
    en_ids, en_keys = ids_and_keys(corpus.en)
    return xx_ids, en_ids, xx_keys, en_keys


def _validate_corpus(corpus: ParallelCorpus) -> None:
    for name, col in (("non-English", corpus.xx), ("English", corpus.en)):
        for i, s in enumerate(col):
            if not isinstance(s, str) or not s.strip():
                raise ValueError(
                    f"training pair {i}: {name} side is "
                    f"empty or not a string ({s!r})"
                )


def train(
    config: TrainConfig,
    corpus: ParallelCorpus | None = None,
    on_step: Callable[[int, dict], None] | None = None,
    benchmark: ParallelCorpus | None = None,
) -> dict:
    """Train a dual encoder; returns a summary with the final evaluation.

    ``corpus`` defaults to the shipped training pairs; ``benchmark`` to the
    shipped Tatoeba-v1.  ``on_step(step, logs)`` is called after every
    optimiser step (used by tests to simulate an interruption).  The final
    model is written to ``output_dir/model`` and the evaluation to
    ``output_dir/summary.json``.
    """
    from . import distributed as dist_utils

    ctx, device, out = start_run(config)
    t_start = time.perf_counter()
    corpus = select_corpus(config, corpus)
    if len(corpus) == 0:
        raise ValueError(
            "the training corpus is empty (check languages / "
            "exclude_languages)"
        )
    _validate_corpus(corpus)
    torch.manual_seed(config.seed)
    tokenizer = _shared_tokenizer(config, corpus, out, ctx)
    model = build_model(config, tokenizer)
    freeze_parameters(config, model)
    teacher = _teacher_targets(config, corpus, ctx)
    # built here, before anything else draws from torch's generator: the
    # feature term's W is initialised from it
    objective = build_objective(config, ctx, model.embedding_dim, teacher)
    model, objective = model.to(device), objective.to(device)
    t_vocab = time.perf_counter() - t_start

    t_tok = time.perf_counter()
    xx_ids, en_ids, xx_keys, en_keys = _tokenize_corpus(model, corpus)
    t_tok = time.perf_counter() - t_tok
    batcher = PairBatcher(
        xx_ids,
        en_ids,
        corpus.langs,
        config.batch_size * ctx.world_size,
        config.language_alpha,
        config.seed,
        xx_keys=xx_keys,
        en_keys=en_keys,
    )
    run = _Run(
        config,
        ctx,
        device,
        out,
        model,
        objective,
        batcher,
        xx_ids,
        en_ids,
        np.asarray(en_keys),
    )
    benchmark = benchmark if benchmark is not None else load_tatoeba()
    eval_corpus = benchmark.subset(
        [l for l in config.eval_languages if l in set(benchmark.langs)]
    )

    with reuse_freed_memory(device):
        loop = _train_loop(run, eval_corpus, on_step)
    summary = {
        "config": config.to_dict(),
        "steps": run.step,
        "stopped_early": loop["stopped_early"],
        "train_seconds": loop["seconds"],
        "vocab_and_setup_seconds": t_vocab,
        "tokenize_seconds": t_tok,
        "pairs_seen": loop["pairs_seen"],
        "pairs_per_second": loop["pairs_seen"] / max(loop["seconds"], 1e-9),
        "world_size": ctx.world_size,
        "final_loss": loop["final_loss"],
        # what the numbers can depend on besides the seed
        "machine": machine_fingerprint(),
    }
    _finish(run, summary, benchmark, trained=corpus.languages())
    dist_utils.cleanup(ctx)
    return summary


class _Run:
    """The state one training run's steps share: model, optimiser,
    schedule, loss scaler, data and where it all lives."""

    def __init__(
        self,
        config: TrainConfig,
        ctx,
        device,
        out: Path,
        model: DualEncoder,
        objective: Objective,
        batcher: PairBatcher,
        xx_ids,
        en_ids,
        en_keys: np.ndarray,
    ):
        from . import distributed as dist_utils

        self.config, self.ctx, self.device, self.out = config, ctx, device, out
        self.model, self.objective, self.batcher = model, objective, batcher
        self.xx_ids, self.en_ids = xx_ids, en_ids
        self.en_keys = en_keys  # distinct-English-text ids (N,)
        self.hard = None  # (N, hard_negatives) rows, mined
        self.hard_negative_seconds = None  # time the mining took
        self.is_main = ctx.rank == 0
        self.optimizer = make_optimizer([model, objective], config)
        self.scheduler = make_scheduler(
            self.optimizer, config.warmup_steps, config.max_steps
        )
        self.amp_dtype = {
            "fp32": None,
            "bf16": torch.bfloat16,
            "fp16": torch.float16,
        }[config.precision]
        self.scaler = torch.amp.GradScaler(
            device.type, enabled=config.precision == "fp16"
        )
        self.ckpt_path = out / "checkpoint.pt"
        self.step = 0
        if config.resume and self.ckpt_path.is_file():
            self.step = _load_checkpoint(
                self.ckpt_path,
                model,
                objective,
                self.optimizer,
                self.scheduler,
                self.scaler,
            )
        self.wrapped = dist_utils.wrap_model(model, ctx)

    def encode(self, input_ids, mask):
        """Embeddings in float32 (the loss is always computed in fp32)."""
        if self.amp_dtype is None:
            return self.wrapped(input_ids, mask)
        with torch.autocast(self.device.type, dtype=self.amp_dtype):
            return self.wrapped(input_ids, mask).float()

    def save_checkpoint(self) -> None:
        _save_checkpoint(
            self.ckpt_path,
            self.model,
            self.objective,
            self.optimizer,
            self.scheduler,
            self.scaler,
            self.step,
            self.config,
        )


def _shared_tokenizer(
    config: TrainConfig, corpus: ParallelCorpus, out: Path, ctx
):
    """Rank 0 trains (or loads) the vocabulary and saves it; the others
    wait and read the saved copy, so every rank has the same tokenizer."""
    from . import distributed as dist_utils
    from .tokenization import load_tokenizer

    if ctx.rank == 0:
        tokenizer = _prepare_tokenizer(config, corpus, out)
    dist_utils.barrier(ctx)
    if ctx.rank != 0:
        tokenizer = load_tokenizer(str(out / "tokenizer"))
    return tokenizer


def _train_step(run: _Run) -> dict:
    """One optimiser step on this rank's slice of the global batch at
    ``run.step``; returns the step's log entry."""
    from . import distributed as dist_utils

    config, ctx = run.config, run.ctx
    if (
        config.hard_negatives
        and run.hard is None
        and run.step >= config.hard_negative_start
    ):
        _mine_hard_negatives(run)
    rows = run.batcher.batch(run.step)
    local = rows[
        ctx.rank * config.batch_size : (ctx.rank + 1) * config.batch_size
    ]
    loss_fn = _objective(run, local, rows)
    run.optimizer.zero_grad(set_to_none=True)
    chunk = config.grad_cache_chunk or len(local)
    negatives = (
        [] if run.hard is None else run.hard[local].reshape(-1).tolist()
    )  # (B·h,)
    batches = []
    for start in range(0, len(local), chunk):
        part = local[start : start + chunk]
        ids = [run.xx_ids[i] for i in part] + [run.en_ids[i] for i in part]
        if start == 0:
            ids += [run.en_ids[i] for i in negatives]
        input_ids, mask = run.model.collate(ids)  # (2m [+B·h], T)
        batches.append((input_ids.to(run.device), mask.to(run.device)))
    check = functools.partial(_check_loss, step=run.step, config=config)
    if len(batches) == 1:
        emb = run.encode(*batches[0])  # (2B+B·h, D)
        b = len(local)
        x, y = emb[:b], emb[b : 2 * b]  # (B, D) each
        loss = (
            loss_fn(x, y, negatives=emb[2 * b :])
            if negatives
            else loss_fn(x, y)
        )
        check(loss)
        run.scaler.scale(loss).backward()
    else:  # cached gradients: big batch, one mini-batch of memory
        loss = cached_gradient_step(
            run.encode,
            batches,
            loss_fn,
            check_loss=check,
            no_sync=getattr(run.wrapped, "no_sync", None),
        )
    # the loss terms' own parameters (W) sit outside DDP: average them here
    dist_utils.average_gradients(run.objective.parameters(), ctx)
    run.scaler.unscale_(run.optimizer)
    trained = [*run.model.parameters(), *run.objective.parameters()]
    grad_norm = (
        torch.nn.utils.clip_grad_norm_(trained, config.grad_clip)
        if config.grad_clip > 0
        else torch.tensor(0.0)
    )
    run.scaler.step(run.optimizer)
    run.scaler.update()
    run.scheduler.step()
    run.step += 1
    # The logged loss is the global batch's: the mean of the ranks' losses.
    return {
        "step": run.step,
        "loss": dist_utils.mean_over_ranks(loss.detach(), ctx),
        "lr": run.scheduler.get_last_lr()[0],
        "grad_norm": float(grad_norm),
        "seq_len": int(batches[-1][0].shape[1]),
        **({"hard_negatives": len(negatives)} if negatives else {}),
        **run.objective.log_parts(),
    }


def _mine_hard_negatives(run: _Run) -> None:
    """The model mines ``hard_negatives`` English sentences for every pair
    of the steps still to come (LaBSE App. B); every rank mines the same
    ones (same weights, same rows), so no rank waits for another."""
    from .hard_negatives import mine_hard_negatives

    config = run.config
    upcoming = np.concatenate(
        [run.batcher.batch(s) for s in range(run.step, config.max_steps)]
    )
    t0 = time.perf_counter()
    run.hard = mine_hard_negatives(
        run.model,
        run.xx_ids,
        run.en_ids,
        run.en_keys,
        upcoming,
        config.hard_negatives,
    )
    run.hard_negative_seconds = time.perf_counter() - t0
    if run.is_main and config.progress:
        print(
            f"step {run.step}: mined {config.hard_negatives} hard "
            f"negative(s) for {len(np.unique(upcoming))} pairs in "
            f"{run.hard_negative_seconds:.0f} s",
            flush=True,
        )


def _objective(run: _Run, local: np.ndarray, rows: np.ndarray):
    """The loss of this rank's batch as a function of its embeddings
    ``(x, y)`` (and mined negatives): the run's weighted terms
    (:mod:`labse_lite.objectives`).  ``local`` are this rank's pair
    indices, ``rows`` the global batch's (for the logit loss's candidates,
    which every rank can look up in the teacher's table)."""

    def loss(x, y, negatives=None):
        return run.objective(Batch(x, y, local, rows, negatives))

    return loss


def _periodic_eval(
    run: _Run, eval_corpus: ParallelCorpus, logs: dict, bar
) -> None:
    """Rank 0 evaluates Tatoeba on ``eval_languages``; the other ranks wait
    for it in a barrier with the long wait timeout (not the collective
    timeout: a large model's evaluation can take minutes)."""
    from . import distributed as dist_utils
    from .evaluate import evaluate_tatoeba, group_averages

    if run.is_main:
        _delay_for_tests()
        res = evaluate_tatoeba(run.model, eval_corpus, show_progress_bar=False)
        logs["tatoeba_xx2en"] = group_averages(res)["all"]
        bar.write(
            f"step {run.step}: loss {logs['loss']:.3f}, Tatoeba "
            f"({len(res)} langs) {logs['tatoeba_xx2en']:.1f}"
        )
        run.model.train()
    dist_utils.barrier(run.ctx)


def _train_loop(
    run: _Run,
    eval_corpus: ParallelCorpus,
    on_step: Callable[[int, dict], None] | None,
) -> dict:
    """Steps until ``max_steps`` (or the time limit, decided by all ranks
    together); logs, evaluates and checkpoints on the way."""
    from tqdm import tqdm

    from . import distributed as dist_utils

    config, ctx = run.config, run.ctx
    bar = tqdm(
        total=config.max_steps,
        initial=run.step,
        desc="train",
        disable=not (config.progress and run.is_main),
        unit="step",
        dynamic_ncols=True,
    )
    t_train = time.perf_counter()
    stopped_early, pairs_seen, logs = False, 0, None
    run.model.train()
    try:
        while run.step < config.max_steps:
            logs = _train_step(run)
            step = run.step
            pairs_seen += config.batch_size * ctx.world_size
            bar.update(1)
            if step % 10 == 0:
                bar.set_postfix(loss=f"{logs['loss']:.3f}")
            if (
                config.eval_every
                and step % config.eval_every == 0
                and step < config.max_steps
            ):
                _periodic_eval(run, eval_corpus, logs, bar)
            if run.is_main and (
                step % config.log_every == 0
                or step == config.max_steps
                or "tatoeba_xx2en" in logs
            ):
                with open(run.out / "log.jsonl", "a") as handle:
                    handle.write(json.dumps(logs) + "\n")
            if (
                config.checkpoint_every
                and step % config.checkpoint_every == 0
                and step < config.max_steps
            ):
                if run.is_main:
                    run.save_checkpoint()
                dist_utils.barrier(ctx)
            if on_step is not None:
                on_step(step, logs)
            if config.time_limit_minutes is not None and dist_utils.any_rank(
                time.perf_counter() - t_train > 60 * config.time_limit_minutes,
                ctx,
            ):
                # Every rank stops at the same step (rank clocks differ).
                stopped_early = True
                break
    except RuntimeError as err:
        if ctx.world_size == 1:
            raise
        raise RuntimeError(
            f"rank {ctx.rank}: lost contact with another rank at step "
            f"{run.step} ({type(err).__name__}: "
            f"{str(err).splitlines()[0]}). A peer process probably died or "
            f"was killed; see its log. Resume from {run.ckpt_path} once all "
            f"ranks are back."
        ) from err
    bar.close()
    return {
        "stopped_early": stopped_early,
        "pairs_seen": pairs_seen,
        "seconds": time.perf_counter() - t_train,
        "final_loss": logs["loss"] if logs else None,
    }


def _finish(
    run: _Run, summary: dict, benchmark: ParallelCorpus, trained: Sequence[str]
) -> None:
    """Rank 0 saves the model and the last checkpoint, evaluates all of
    Tatoeba and the large pool, and writes ``summary.json``; the other
    ranks wait (long wait timeout)."""
    from . import distributed as dist_utils
    from .evaluate import evaluate_all

    config = run.config
    if run.is_main:
        run.model.save_pretrained(run.out / "model")
        run.save_checkpoint()
    if run.is_main and config.final_eval:
        _delay_for_tests()
        t_eval = time.perf_counter()
        run.model.eval()
        final = (
            benchmark
            if config.final_eval_languages is None
            else benchmark.subset(config.final_eval_languages)
        )
        pool_langs = (
            None
            if config.final_pool_languages is None
            else [
                l for l in config.final_pool_languages if l in set(final.langs)
            ]
        )
        summary["eval"] = evaluate_all(
            run.model,
            final,
            large_pool_languages=pool_langs,
            trained=trained,
            show_progress_bar=config.progress,
            pool=benchmark,
            encode_length=config.eval_length,
        )
        summary["eval_seconds"] = time.perf_counter() - t_eval
    if run.is_main:
        # the model card says how the model was trained and what it scores
        write_model_card(run.model, run.out / "model", summary)
        (run.out / "summary.json").write_text(json.dumps(summary, indent=1))
    dist_utils.barrier(run.ctx)


def _delay_for_tests() -> None:
    """Test hook: rank 0's evaluation sleeps ``LABSE_LITE_TEST_EVAL_DELAY``
    seconds, to show that waiting ranks survive slow rank-0 work."""
    delay = float(os.environ.get("LABSE_LITE_TEST_EVAL_DELAY", "0"))
    if delay > 0:
        time.sleep(delay)


def _check_loss(loss: torch.Tensor, step: int, config: TrainConfig) -> None:
    if not torch.isfinite(loss):
        raise FloatingPointError(
            f"loss is {loss.item()} at step {step}: training diverged. "
            f"Lower lr (now {config.lr}) or raise warmup_steps; the last "
            f"checkpoint is in {config.output_dir}"
        )


def _save_checkpoint(
    path: Path,
    model,
    objective,
    optimizer,
    scheduler,
    scaler,
    step: int,
    config: TrainConfig,
) -> None:
    """Everything a resumed run needs to continue as the same run: weights,
    optimiser and schedule, the mixed-precision loss scaler, and the CPU
    and (when present) every CUDA device's random state (dropout)."""
    state = {
        "model": model.state_dict(),
        "objective": objective.state_dict(),  # e.g. the feature map W
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "step": step,
        "config": config.to_dict(),
    }
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: an interruption never leaves half a file


def _load_checkpoint(
    path: Path, model, objective, optimizer, scheduler, scaler
) -> int:
    """Restore what :func:`_save_checkpoint` wrote; returns the step."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    objective.load_state_dict(state.get("objective", {}))
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if state.get("scaler"):  # empty when the scaler was disabled
        scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["torch_rng"])
    if "cuda_rng" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return state["step"]
