"""A plain PyTorch training loop for the dual encoder (Feng et al., 2022, §3).

Everything is in view: language-balanced sampling, length-bucketed batches,
AdamW with warm-up and linear decay, gradient clipping, periodic evaluation,
and checkpoints that resume to the same result.  The loop is written for
data parallelism from the start: step ``s`` draws one *global* batch of
``batch_size × world_size`` pairs and each rank trains on its own slice, so a
single process is just world size 1.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from .data import ParallelCorpus, load_tatoeba, load_train_pairs
from .data import normalize_for_overlap
from .languages import XTREME_36
from .gradcache import cached_gradient_step
from .model import DualEncoder

__all__ = ["TrainConfig", "PairBatcher", "train", "lr_lambda"]


@dataclass
class TrainConfig:
    """Settings of one training run (defaults: the laptop preset)."""

    output_dir: str = "runs/laptop"        # checkpoints, final model, logs
    # --- data
    languages: list[str] | None = None     # training labels; None: all
    exclude_languages: list[str] = field(default_factory=list)  # labels left out
    language_alpha: float = 0.5            # sample language l ∝ n_l ** alpha
    max_length: int = 32                   # tokens per sentence, [CLS]/[SEP] incl.
    # --- vocabulary
    tokenizer: str | None = None           # saved/hub tokenizer; None: train one
    vocab_size: int = 32000                # WordPiece size when training one
    vocab_alpha: float = 0.3               # vocabulary smoothing exponent (paper)
    # --- model
    init_model: str | None = None          # encoder to start from (hub/path)
    model_preset: str = "laptop"           # model.MODEL_PRESETS shape
    num_layers: int | None = None          # override the preset's depth
    hidden_size: int | None = None         # ... width
    num_heads: int | None = None           # ... attention heads
    ffn_size: int | None = None            # ... feed-forward width
    pooling: str = "mean"                  # cls | pooler | mean | max
    projection_dim: int | None = None      # optional output projection
    dropout: float = 0.0                   # hidden and attention dropout
    # --- loss (eqs. 2-4)
    margin: float = 0.3                    # additive margin m
    scale: float = 10.0                    # score scale s (paper's footnote 11)
    bidirectional: bool = True             # sum of x→y and y→x losses
    # --- optimisation
    batch_size: int = 128                  # pairs per rank and step
    max_steps: int = 2400                  # optimiser steps (~5 min on 2 cores)
    lr: float = 2e-3                       # peak learning rate (AdamW)
    weight_decay: float = 0.01             # AdamW decoupled weight decay
    warmup_steps: int = 200                # linear warm-up, then linear decay
    grad_clip: float = 1.0                 # max global grad norm (0: off)
    grad_cache_chunk: int | None = None    # GradCache mini-batch (pairs); None: off
    precision: str = "fp32"                # fp32 | bf16 | fp16 (autocast, GPUs)
    seed: int = 0                          # data order, init and dropout
    # --- bookkeeping
    eval_every: int = 0                    # steps between evaluations (0: end)
    eval_languages: list[str] = field(default_factory=lambda: list(XTREME_36))
    final_eval_languages: list[str] | None = None  # Tatoeba at the end; None: all 112
    final_eval: bool = True                # evaluate all of Tatoeba at the end
    checkpoint_every: int = 500            # steps between checkpoints (0: off)
    log_every: int = 10                    # steps between lines of log.jsonl
    resume: bool = True                    # continue from output_dir's checkpoint
    time_limit_minutes: float | None = None  # stop early after this long
    threads: int | None = None             # torch CPU threads (None: default)
    device: str = "auto"                   # auto | cpu | cuda | cuda:1 ...
    dist_timeout_seconds: float = 60.0     # max wait for a peer rank (torchrun)
    progress: bool = True                  # show a tqdm progress bar

    def validate(self) -> None:
        """Raise ValueError for settings that cannot train correctly."""
        problems = []
        if self.batch_size < 2:
            problems.append(
                f"batch_size={self.batch_size}: in-batch negatives need at "
                f"least 2 pairs per batch")
        if not self.margin >= 0:
            problems.append(f"margin={self.margin} must be >= 0")
        if not self.scale > 0:
            problems.append(f"scale={self.scale} must be > 0")
        if not self.lr > 0:
            problems.append(f"lr={self.lr} must be > 0")
        if self.max_steps < 1:
            problems.append(f"max_steps={self.max_steps} must be >= 1")
        if self.warmup_steps < 0:
            problems.append(f"warmup_steps={self.warmup_steps} must be >= 0")
        if self.max_length < 3:
            problems.append(f"max_length={self.max_length} must be >= 3")
        if not 0 <= self.language_alpha <= 1:
            problems.append(f"language_alpha={self.language_alpha} must be "
                            f"in [0, 1]")
        if not 0 <= self.dropout < 1:
            problems.append(f"dropout={self.dropout} must be in [0, 1)")
        if self.grad_cache_chunk is not None and self.grad_cache_chunk < 1:
            problems.append(f"grad_cache_chunk={self.grad_cache_chunk} "
                            f"must be >= 1 (or None)")
        if self.precision not in ("fp32", "bf16", "fp16"):
            problems.append(f"precision={self.precision!r} is not one of "
                            f"fp32, bf16, fp16")
        if self.precision == "fp16" and self.grad_cache_chunk:
            problems.append("precision='fp16' needs a loss scaler, which "
                            "the cached-gradient path does not have; use "
                            "bf16 with grad_cache_chunk")
        if self.pooling not in ("cls", "pooler", "mean", "max"):
            problems.append(f"pooling={self.pooling!r} is not one of cls, "
                            f"pooler, mean, max")
        if isinstance(self.languages, str):
            problems.append("languages must be a list of codes")
        if problems:
            raise ValueError("invalid training config: " + "; ".join(problems))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def lr_lambda(step: int, warmup_steps: int, max_steps: int) -> float:
    """Linear warm-up to 1 over ``warmup_steps``, then linear decay to 0."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return max(0.0, (max_steps - step) / max(1, max_steps - warmup_steps))


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

    def __init__(self, xx_ids: Sequence[Sequence[int]],
                 en_ids: Sequence[Sequence[int]], langs: Sequence[str],
                 batch_size: int, alpha: float, seed: int,
                 chunk_batches: int = 50,
                 xx_keys: Sequence[int] | None = None,
                 en_keys: Sequence[int] | None = None):
        self.xx_ids, self.en_ids = xx_ids, en_ids
        self.batch_size, self.seed = batch_size, seed
        self.chunk_batches = chunk_batches
        self.lengths = np.array([max(len(a), len(b))
                                 for a, b in zip(xx_ids, en_ids)])
        langs = np.asarray(langs)
        self.languages, lang_idx = np.unique(langs, return_inverse=True)
        self.members = [np.flatnonzero(lang_idx == k)
                        for k in range(len(self.languages))]
        sizes = np.array([len(m) for m in self.members], dtype=np.float64)
        probs = sizes ** alpha
        self.probs = probs / probs.sum()
        self.xx_keys = np.asarray(xx_keys if xx_keys is not None
                                  else np.arange(len(xx_ids)))
        self.en_keys = np.asarray(en_keys if en_keys is not None
                                  else np.arange(len(en_ids)))
        self._cache: dict[int, list[np.ndarray]] = {}

    def language_probabilities(self) -> dict[str, float]:
        return dict(zip(self.languages.tolist(), self.probs.tolist()))

    def _chunk(self, chunk: int) -> list[np.ndarray]:
        if chunk in self._cache:
            return self._cache[chunk]
        rng = np.random.default_rng([self.seed, chunk])
        n = self.batch_size * self.chunk_batches
        draw = int(n * 1.05) + self.batch_size   # spare pairs for duplicates
        lang = rng.choice(len(self.members), size=draw, p=self.probs)
        picks = np.empty(draw, dtype=np.int64)
        for k in np.unique(lang):
            where = np.flatnonzero(lang == k)
            picks[where] = rng.choice(self.members[k], size=len(where))
        picks = picks[np.argsort(self.lengths[picks], kind="stable")]
        batches, current, seen_x, seen_e, deferred = [], [], set(), set(), []
        queue = list(picks)
        i = 0
        while len(batches) < self.chunk_batches and (i < len(queue)
                                                      or deferred):
            if deferred and len(current) == 0:
                pending, deferred = deferred, []
                queue[i:i] = pending
            if i >= len(queue):
                break
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
            raise RuntimeError("not enough distinct pairs to fill a chunk; "
                               "use a smaller batch_size")
        order = rng.permutation(len(batches))
        batches = [batches[j] for j in order]
        self._cache = {chunk: batches}   # keep one chunk in memory
        return batches

    def batch(self, step: int) -> np.ndarray:
        """Pair indices of the global batch at ``step``."""
        chunk, within = divmod(step, self.chunk_batches)
        return self._chunk(chunk)[within]


def _pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def start_run(config):
    """What every training entry point (``train``, ``pretrain``) does first:
    validate the config, set CPU threads, join the process group when
    launched by ``torchrun``, pick the device, create ``output_dir``.
    Returns ``(DistContext, device, output_dir)``."""
    from . import distributed as dist_utils

    config.validate()
    if config.threads:
        torch.set_num_threads(config.threads)
    ctx = dist_utils.setup(config.device, config.dist_timeout_seconds)
    device = ctx.device if ctx.world_size > 1 else _pick_device(config.device)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    return ctx, device, out


def select_corpus(config, corpus: ParallelCorpus | None) -> ParallelCorpus:
    """The config's ``languages`` / ``exclude_languages`` of ``corpus``
    (default: the shipped training pairs)."""
    if corpus is None:
        return load_train_pairs(config.languages, config.exclude_languages)
    if config.languages is not None or config.exclude_languages:
        return corpus.subset(config.languages, config.exclude_languages)
    return corpus


def _prepare_tokenizer(config: TrainConfig, corpus: ParallelCorpus,
                       out: Path):
    from .tokenization import load_tokenizer, train_wordpiece

    saved = out / "tokenizer"
    if config.resume and (saved / "tokenizer.json").is_file():
        return load_tokenizer(str(saved))
    if config.tokenizer:
        tok = load_tokenizer(config.tokenizer)
    elif config.init_model:
        tok = load_tokenizer(config.init_model)
    else:
        tok = train_wordpiece(corpus.monolingual_texts(),
                              vocab_size=config.vocab_size,
                              alpha=config.vocab_alpha, seed=config.seed)
    tok.save_pretrained(str(saved))
    return tok


def build_model(config: TrainConfig, tokenizer) -> DualEncoder:
    """The dual encoder a config describes (random or from ``init_model``)."""
    if config.init_model:
        # The config's dropout applies to a loaded encoder too, so that a
        # pre-trained and a random initialisation train alike.
        return DualEncoder.from_pretrained(
            config.init_model, pooling=config.pooling,
            projection_dim=config.projection_dim,
            max_length=config.max_length,
            hidden_dropout_prob=config.dropout,
            attention_probs_dropout_prob=config.dropout)
    return DualEncoder.from_config(
        tokenizer, config.model_preset, pooling=config.pooling,
        projection_dim=config.projection_dim, max_length=config.max_length,
        dropout=config.dropout, num_hidden_layers=config.num_layers,
        hidden_size=config.hidden_size,
        num_attention_heads=config.num_heads,
        intermediate_size=config.ffn_size)


def _tokenize_corpus(model: DualEncoder, corpus: ParallelCorpus):
    """Token ids for every pair; each distinct sentence tokenised once."""
    def ids_and_keys(texts):
        index: dict[str, int] = {}
        keys = np.empty(len(texts), dtype=np.int64)
        distinct = []
        for i, text in enumerate(texts):
            key = normalize_for_overlap(text)
            k = index.get(key)
            if k is None:
                k = index[key] = len(distinct)
                distinct.append(text)
            keys[i] = k
        ids = model.tokenize(distinct)
        return [ids[k] for k in keys], keys

    xx_ids, xx_keys = ids_and_keys(corpus.xx)
    en_ids, en_keys = ids_and_keys(corpus.en)
    return xx_ids, en_ids, xx_keys, en_keys


def _validate_corpus(corpus: ParallelCorpus) -> None:
    for name, col in (("non-English", corpus.xx), ("English", corpus.en)):
        for i, s in enumerate(col):
            if not isinstance(s, str) or not s.strip():
                raise ValueError(f"training pair {i}: {name} side is "
                                 f"empty or not a string ({s!r})")


def train(config: TrainConfig, corpus: ParallelCorpus | None = None,
          on_step: Callable[[int, dict], None] | None = None,
          benchmark: ParallelCorpus | None = None) -> dict:
    """Train a dual encoder; returns a summary with the final evaluation.

    ``corpus`` defaults to the shipped training pairs; ``benchmark`` to the
    shipped Tatoeba-v1.  ``on_step(step, logs)`` is called after every
    optimiser step (used by tests to simulate an interruption).  The final
    model is written to ``output_dir/model`` and the evaluation to
    ``output_dir/summary.json``.
    """
    from tqdm import tqdm

    from . import distributed as dist_utils
    from .evaluate import evaluate_all, evaluate_tatoeba, group_averages

    ctx, device, out = start_run(config)
    is_main = ctx.rank == 0
    t_start = time.perf_counter()

    corpus = select_corpus(config, corpus)
    if len(corpus) == 0:
        raise ValueError("the training corpus is empty (check languages / "
                         "exclude_languages)")
    _validate_corpus(corpus)
    torch.manual_seed(config.seed)
    # Rank 0 trains (or loads) the vocabulary and saves it; the others wait
    # and read the saved copy, so every rank has the very same tokenizer.
    if is_main:
        tokenizer = _prepare_tokenizer(config, corpus, out)
    dist_utils.barrier(ctx)
    if not is_main:
        from .tokenization import load_tokenizer

        tokenizer = load_tokenizer(str(out / "tokenizer"))
    model = build_model(config, tokenizer).to(device)
    t_vocab = time.perf_counter() - t_start

    t_tok = time.perf_counter()
    xx_ids, en_ids, xx_keys, en_keys = _tokenize_corpus(model, corpus)
    t_tok = time.perf_counter() - t_tok
    global_batch = config.batch_size * ctx.world_size
    batcher = PairBatcher(xx_ids, en_ids, corpus.langs, global_batch,
                          config.language_alpha, config.seed,
                          xx_keys=xx_keys, en_keys=en_keys)

    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (no_decay if param.dim() < 2 or "LayerNorm" in name
         or "embeddings" in name else decay).append(param)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}], lr=config.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_lambda(s, config.warmup_steps,
                                       config.max_steps))
    amp_dtype = {"fp32": None, "bf16": torch.bfloat16,
                 "fp16": torch.float16}[config.precision]
    scaler = torch.amp.GradScaler(device.type,
                                  enabled=config.precision == "fp16")
    step = 0
    ckpt_path = out / "checkpoint.pt"
    if config.resume and ckpt_path.is_file():
        step = _load_checkpoint(ckpt_path, model, optimizer, scheduler,
                                scaler)
    wrapped = dist_utils.wrap_model(model, ctx)

    def encode(input_ids, mask):
        """Embeddings in float32 (the loss is always computed in fp32)."""
        if amp_dtype is None:
            return wrapped(input_ids, mask)
        with torch.autocast(device.type, dtype=amp_dtype):
            return wrapped(input_ids, mask).float()

    benchmark = benchmark if benchmark is not None else load_tatoeba()
    eval_corpus = benchmark.subset(
        [l for l in config.eval_languages if l in set(benchmark.langs)])
    log_path = out / "log.jsonl"
    history = []
    bar = tqdm(total=config.max_steps, initial=step, desc="train",
               disable=not (config.progress and is_main), unit="step",
               dynamic_ncols=True)
    t_train = time.perf_counter()
    stopped_early = False
    pairs_seen = 0
    model.train()
    try:
        while step < config.max_steps:
            rows = batcher.batch(step)
            local = rows[ctx.rank * config.batch_size:
                         (ctx.rank + 1) * config.batch_size]
            loss_fn = functools.partial(
                dist_utils.global_batch_loss, ctx=ctx, margin=config.margin,
                scale=config.scale, bidirectional=config.bidirectional)
            optimizer.zero_grad(set_to_none=True)
            chunk = config.grad_cache_chunk or len(local)
            batches = []
            for start in range(0, len(local), chunk):
                part = local[start:start + chunk]
                ids = [xx_ids[i] for i in part] + [en_ids[i] for i in part]
                input_ids, mask = model.collate(ids)              # (2m, T)
                batches.append((input_ids.to(device), mask.to(device)))
            check = functools.partial(_check_loss, step=step, config=config)
            if len(batches) == 1:
                emb = encode(*batches[0])                         # (2B, D)
                x, y = emb[:len(local)], emb[len(local):]         # (B, D) each
                loss = loss_fn(x, y)
                check(loss)
                scaler.scale(loss).backward()
            else:   # cached gradients: big batch, one mini-batch of memory
                loss = cached_gradient_step(
                    encode, batches, loss_fn, check_loss=check,
                    no_sync=getattr(wrapped, "no_sync", None))
            input_ids = batches[-1][0]
            scaler.unscale_(optimizer)
            grad_norm = (torch.nn.utils.clip_grad_norm_(model.parameters(),
                                                        config.grad_clip)
                         if config.grad_clip > 0 else torch.tensor(0.0))
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            step += 1
            pairs_seen += global_batch
            logs = {"step": step, "loss": loss.item(),
                    "lr": scheduler.get_last_lr()[0],
                    "grad_norm": float(grad_norm),
                    "seq_len": int(input_ids.shape[1])}
            bar.update(1)
            if step % 10 == 0:
                bar.set_postfix(loss=f"{logs['loss']:.3f}")
            if config.eval_every and step % config.eval_every == 0 \
                    and step < config.max_steps and is_main:
                res = evaluate_tatoeba(model, eval_corpus,
                                       show_progress_bar=False)
                logs["tatoeba_xx2en"] = group_averages(res)["all"]
                bar.write(f"step {step}: loss {logs['loss']:.3f}, Tatoeba "
                          f"({len(res)} langs) {logs['tatoeba_xx2en']:.1f}")
                model.train()
            if is_main and (step % config.log_every == 0
                                or step == config.max_steps
                                or "tatoeba_xx2en" in logs):
                with open(log_path, "a") as handle:
                    handle.write(json.dumps(logs) + "\n")
            history.append(logs)
            if config.checkpoint_every and step % config.checkpoint_every == 0 \
                    and step < config.max_steps:
                if is_main:
                    _save_checkpoint(ckpt_path, model, optimizer, scheduler,
                                     scaler, step, config)
                dist_utils.barrier(ctx)
            if on_step is not None:
                on_step(step, logs)
            if config.time_limit_minutes is not None and \
                    time.perf_counter() - t_train > 60 * config.time_limit_minutes:
                stopped_early = True
                break
    except RuntimeError as err:
        if ctx.world_size == 1:
            raise
        raise RuntimeError(
            f"rank {ctx.rank}: lost contact with another rank at step "
            f"{step} ({type(err).__name__}: {str(err).splitlines()[0]}). A "
            f"peer process probably died or was killed; see its log. "
            f"Resume from {ckpt_path} once all ranks are back.") from err
    bar.close()
    train_seconds = time.perf_counter() - t_train

    summary = {"config": config.to_dict(), "steps": step,
               "stopped_early": stopped_early,
               "train_seconds": train_seconds,
               "vocab_and_setup_seconds": t_vocab,
               "tokenize_seconds": t_tok,
               "pairs_seen": pairs_seen,
               "pairs_per_second": pairs_seen / max(train_seconds, 1e-9),
               "world_size": ctx.world_size,
               "final_loss": history[-1]["loss"] if history else None}
    if is_main:
        model.save_pretrained(out / "model")
        _save_checkpoint(ckpt_path, model, optimizer, scheduler, scaler,
                         step, config)
    if is_main and config.final_eval:
        t_eval = time.perf_counter()
        model.eval()
        final = benchmark if config.final_eval_languages is None else \
            benchmark.subset(config.final_eval_languages)
        results = evaluate_all(model, final, trained=corpus.languages(),
                               show_progress_bar=config.progress,
                               pool=benchmark)
        summary["eval_seconds"] = time.perf_counter() - t_eval
        summary["eval"] = results
    if is_main:
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
    dist_utils.barrier(ctx)
    dist_utils.cleanup(ctx)
    return summary


def _check_loss(loss: torch.Tensor, step: int, config: TrainConfig) -> None:
    if not torch.isfinite(loss):
        raise FloatingPointError(
            f"loss is {loss.item()} at step {step}: training diverged. "
            f"Lower lr (now {config.lr}) or raise warmup_steps; the last "
            f"checkpoint is in {config.output_dir}")


def _save_checkpoint(path: Path, model, optimizer, scheduler, scaler,
                     step: int, config: TrainConfig) -> None:
    """Everything a resumed run needs to continue as the same run: weights,
    optimiser and schedule, the mixed-precision loss scaler, and the CPU
    and (when present) every CUDA device's random state (dropout)."""
    state = {"model": model.state_dict(),
             "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(),
             "scaler": scaler.state_dict(),
             "torch_rng": torch.get_rng_state(),
             "step": step, "config": config.to_dict()}
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)   # atomic: an interruption never leaves half a file


def _load_checkpoint(path: Path, model, optimizer, scheduler,
                     scaler) -> int:
    """Restore what :func:`_save_checkpoint` wrote; returns the step."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if state.get("scaler"):      # empty when the scaler was disabled
        scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["torch_rng"])
    if "cuda_rng" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return state["step"]
