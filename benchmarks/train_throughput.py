#!/usr/bin/env python
"""Training throughput: labse-lite's loop vs sentence-transformers' trainer.

Both train the *same* randomly initialised BERT (the laptop preset, 1 layer
of hidden 128, a WordPiece vocabulary of the default size, 64k, mean
pooling) on the *same* pairs
(a fixed, language-balanced sample of the shipped training data), with the
same batch size, maximum sequence length, learning rate and number of torch
threads, one after the other in this process.  sentence-transformers uses
its `SentenceTransformerTrainer` with `MultipleNegativesRankingLoss` (one
direction; ours sums both, which costs one extra 128x128 matrix product).

Reported: pairs/second of the training loop alone, and end to end (with
the tokenisation each side needs), and the ratio ours / theirs.  The ratio
is noisy on a shared machine, so the two alternate for ``--rounds`` rounds
(theirs, ours, theirs, ours, ...), each round in a fresh process (so
neither inherits the other's allocator or thread state), and every round
is recorded beside the median ratio.  Also measured, in the same process:

- encoding: ``DualEncoder.encode`` vs ``SentenceTransformer.encode`` of the
  same sentences with the same (untrained) weights, alternating too;
- bf16: our loop with ``precision="bf16"`` (autocast, fp32 master weights
  and loss) for ``--bf16-steps`` steps, against fp32, with the CPU's
  bf16 support (``avx512_bf16``/``amx_bf16`` flags) recorded;
- ``torch.compile`` of the training step: compile time and step time
  against eager on fixed-shape batches, and whether it pays for its
  compile time within the 5-minute laptop run (TrainConfig's max_steps).

    python benchmarks/train_throughput.py [--steps 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_DISABLED", "true")

import numpy as np  # noqa: E402
import torch  # noqa: E402


def sample_pairs(n: int, seed: int = 0):
    from labse_lite.data import load_train_pairs

    full = load_train_pairs()
    rng = np.random.default_rng(seed)
    by_lang = {}
    for i, lang in enumerate(full.langs):
        by_lang.setdefault(lang, []).append(i)
    langs = sorted(by_lang)
    p = np.array([len(by_lang[l]) for l in langs], dtype=float) ** 0.5
    p /= p.sum()
    picked, used = [], set()
    while len(picked) < n:
        lang = langs[rng.choice(len(langs), p=p)]
        i = int(rng.choice(by_lang[lang]))
        if i not in used:
            used.add(i)
            picked.append(i)
    return full.take(picked)


def run_ours(
    corpus, tokenizer_dir, args, workdir, precision="fp32", steps=None
):
    from labse_lite.train import TrainConfig, train

    steps = steps or args.steps
    config = TrainConfig(
        output_dir=str(workdir / "ours"),
        tokenizer=str(tokenizer_dir),
        model_preset="laptop",
        pooling="mean",
        max_length=args.max_length,
        batch_size=args.batch_size,
        max_steps=steps,
        lr=args.lr,
        warmup_steps=steps // 10,
        checkpoint_every=0,
        resume=False,
        final_eval=False,
        progress=False,
        threads=args.threads,
        language_alpha=0.5,
        seed=0,
        precision=precision,
    )
    t0 = time.perf_counter()
    summary = train(config, corpus)
    total = time.perf_counter() - t0
    pairs = summary["pairs_seen"]
    return {
        "pairs": pairs,
        "loop_seconds": summary["train_seconds"],
        "tokenize_seconds": summary["tokenize_seconds"],
        "loop_pairs_per_second": pairs / summary["train_seconds"],
        "end_to_end_pairs_per_second": pairs
        / (summary["train_seconds"] + summary["tokenize_seconds"]),
        "wall_seconds_incl_setup": total,
    }


def run_theirs(corpus, tokenizer_dir, args, workdir):
    import datasets
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
        losses,
        models,
    )
    from transformers import AutoTokenizer, BertModel

    from labse_lite.model import bert_config

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    torch.manual_seed(0)
    bert = BertModel(
        bert_config(len(tok), "laptop", dropout=0.0), add_pooling_layer=False
    )
    model_dir = workdir / "st_init"
    bert.save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    word = models.Transformer(str(model_dir), max_seq_length=args.max_length)
    pool = models.Pooling(word.get_word_embedding_dimension(), "mean")
    norm = models.Normalize()
    model = SentenceTransformer(modules=[word, pool, norm], device="cpu")
    n = args.steps * args.batch_size
    train_ds = datasets.Dataset.from_dict(
        {"anchor": corpus.xx[:n], "positive": corpus.en[:n]}
    )
    loss = losses.MultipleNegativesRankingLoss(model, scale=10.0)
    targs = SentenceTransformerTrainingArguments(
        output_dir=str(workdir / "st_out"),
        max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr,
        warmup_steps=args.steps // 10,
        weight_decay=0.01,
        max_grad_norm=1.0,
        save_strategy="no",
        logging_steps=max(1, args.steps // 5),
        report_to="none",
        dataloader_num_workers=0,
        seed=0,
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = SentenceTransformerTrainer(
        model=model, args=targs, train_dataset=train_ds, loss=loss
    )
    t0 = time.perf_counter()
    trainer.train()
    loop = time.perf_counter() - t0
    pairs = args.steps * args.batch_size
    # Tokenisation happens inside their loop, so loop == end to end.
    return {
        "pairs": pairs,
        "loop_seconds": loop,
        "loop_pairs_per_second": pairs / loop,
        "end_to_end_pairs_per_second": pairs / loop,
    }


def _round(fn, corpus, workdir, args) -> dict:
    torch.set_num_threads(args.threads)
    return fn(corpus, workdir / "tok", args, workdir)


def isolated(fn, corpus, workdir, args) -> dict:
    """One training round, ``fn`` (run_ours or run_theirs), in a fresh
    process: neither library inherits what the other left behind in this
    one (allocator settings, thread pools, caches), as when each is used
    on its own.  Start-up is outside the timed loop."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
        return pool.submit(_round, fn, corpus, workdir, args).result()


def st_init(tokenizer_dir, args, workdir) -> Path:
    """The randomly initialised laptop BERT both sides encode with."""
    from transformers import AutoTokenizer, BertModel

    from labse_lite.model import bert_config

    model_dir = workdir / "encode_init"
    if not model_dir.is_dir():
        tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        torch.manual_seed(0)
        BertModel(
            bert_config(len(tok), "laptop", dropout=0.0),
            add_pooling_layer=False,
        ).save_pretrained(model_dir)
        tok.save_pretrained(model_dir)
    return model_dir


def encode_round(sentences, model_dir, args) -> dict:
    """Seconds of one ``encode`` of ``sentences`` by each library."""
    from sentence_transformers import SentenceTransformer, models

    from labse_lite.model import DualEncoder

    word = models.Transformer(str(model_dir), max_seq_length=args.max_length)
    st = SentenceTransformer(
        modules=[
            word,
            models.Pooling(word.get_word_embedding_dimension(), "mean"),
            models.Normalize(),
        ],
        device="cpu",
    )
    ours = DualEncoder.from_pretrained(
        str(model_dir), pooling="mean", max_length=args.max_length
    )
    t0 = time.perf_counter()
    theirs_emb = st.encode(sentences, batch_size=256, convert_to_tensor=True)
    t_theirs = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours_emb = ours.encode(sentences, batch_size=256, show_progress_bar=False)
    t_ours = time.perf_counter() - t0
    return {
        "ours_seconds": t_ours,
        "theirs_seconds": t_theirs,
        "ratio": t_theirs / t_ours,
        "max_abs_diff": float((ours_emb - theirs_emb).abs().max()),
    }


def measure_compile(tokenizer_dir, args) -> dict:
    """Eager vs ``torch.compile`` training steps of the laptop model on
    fixed-shape random batches (real batches vary in length and would
    recompile or need dynamic shapes)."""

    from labse_lite.losses import additive_margin_softmax_loss
    from labse_lite.model import DualEncoder
    from labse_lite.runtime import adamw
    from labse_lite.tokenization import load_tokenizer

    tok = load_tokenizer(str(tokenizer_dir))
    result = {}
    for name in ("eager", "compiled"):
        torch.manual_seed(0)
        model = DualEncoder.from_config(
            tok, "laptop", pooling="mean", max_length=args.max_length
        )
        params = list(model.parameters())
        opt = adamw(
            [p for p in params if p.dim() >= 2],
            [p for p in params if p.dim() < 2],
            1e-3,
            0.01,
        )
        step_model = torch.compile(model) if name == "compiled" else model
        g = torch.Generator().manual_seed(1)
        ids = torch.randint(
            5, len(tok), (2 * args.batch_size, 24), generator=g
        )
        mask = torch.ones_like(ids)

        def step():
            emb = step_model(ids, mask)
            x, y = emb[: args.batch_size], emb[args.batch_size :]
            loss = additive_margin_softmax_loss(x, y, check_normalized=False)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        t0 = time.perf_counter()
        step()
        first = time.perf_counter() - t0
        times = []
        for _ in range(args.compile_steps):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        result[name] = {
            "first_step_seconds": first,
            "step_ms_median": 1000 * statistics.median(times),
        }
    saved = (
        result["eager"]["step_ms_median"]
        - result["compiled"]["step_ms_median"]
    ) / 1000
    compile_cost = (
        result["compiled"]["first_step_seconds"]
        - result["eager"]["first_step_seconds"]
    )
    result["saved_per_step_seconds"] = saved
    result["compile_seconds"] = compile_cost
    from labse_lite.train import TrainConfig

    laptop_steps = TrainConfig().max_steps
    result["laptop_run_steps"] = laptop_steps
    result["pays_off_within_laptop_run"] = saved * laptop_steps > compile_cost
    return result


def cpu_bf16_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
    return sorted(f for f in flags if "bf16" in f or f.startswith("amx"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--max-length", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bf16-steps", type=int, default=30)
    parser.add_argument("--encode-sentences", type=int, default=20000)
    parser.add_argument(
        "--vocab-size",
        type=int,
        default=None,
        help="WordPiece size (default: TrainConfig's, the laptop recipe's)",
    )
    parser.add_argument(
        "--compile-steps",
        type=int,
        default=30,
        help="timed steps per mode (0: skip torch.compile)",
    )
    parser.add_argument(
        "--output", default="benchmarks/results/train_throughput.json"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    torch.set_num_threads(args.threads)

    from labse_lite.model import MODEL_PRESETS
    from labse_lite.runtime import provenance
    from labse_lite.tokenization import train_wordpiece
    from labse_lite.train import TrainConfig

    if args.vocab_size is None:
        args.vocab_size = TrainConfig().vocab_size

    corpus = sample_pairs(args.steps * args.batch_size)
    rounds, encode = [], []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        train_wordpiece(
            corpus.monolingual_texts(), vocab_size=args.vocab_size
        ).save_pretrained(str(workdir / "tok"))
        for r in range(args.rounds):
            theirs = isolated(run_theirs, corpus, workdir, args)
            ours = isolated(run_ours, corpus, workdir, args)
            rounds.append(
                {
                    "ours": ours,
                    "sentence_transformers": theirs,
                    "ratio_loop": ours["loop_pairs_per_second"]
                    / theirs["loop_pairs_per_second"],
                    "ratio_end_to_end": ours["end_to_end_pairs_per_second"]
                    / theirs["end_to_end_pairs_per_second"],
                }
            )
            print(
                f"round {r + 1}: ratio {rounds[-1]['ratio_loop']:.2f}",
                file=sys.stderr,
                flush=True,
            )
        model_dir = st_init(workdir / "tok", args, workdir)
        sentences = (corpus.xx + corpus.en)[: args.encode_sentences]
        for r in range(args.rounds):
            encode.append(encode_round(sentences, model_dir, args))
        bf16 = run_ours(
            corpus,
            workdir / "tok",
            args,
            workdir,
            precision="bf16",
            steps=args.bf16_steps,
        )
        fp32_short = run_ours(
            corpus, workdir / "tok", args, workdir, steps=args.bf16_steps
        )
        compiled = (
            measure_compile(workdir / "tok", args)
            if args.compile_steps
            else None
        )
    import sentence_transformers
    import transformers

    median = statistics.median
    result = {
        "setting": {
            **vars(args),
            "pairs": len(corpus),
            "model": {
                **MODEL_PRESETS["laptop"],
                "pooling": "mean",
                "wordpiece": args.vocab_size,
            },
        },
        "rounds": rounds,
        "ratio_loop_median": median(r["ratio_loop"] for r in rounds),
        "ratio_end_to_end_median": median(
            r["ratio_end_to_end"] for r in rounds
        ),
        "encode": {
            "sentences": len(sentences),
            "rounds": encode,
            "ratio_median": median(e["ratio"] for e in encode),
        },
        "bf16": {
            "cpu_bf16_flags": cpu_bf16_flags(),
            "steps": args.bf16_steps,
            "bf16_loop_pairs_per_second": bf16["loop_pairs_per_second"],
            "fp32_loop_pairs_per_second": fp32_short["loop_pairs_per_second"],
            "speedup": bf16["loop_pairs_per_second"]
            / fp32_short["loop_pairs_per_second"],
        },
        "torch_compile": compiled,
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__,
            "python": platform.python_version(),
        },
        "machine": {"cpus": os.cpu_count(), "threads": args.threads},
        "provenance": provenance(
            __file__, sys.argv[1:] if argv is None else list(argv)
        ),
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
    print(
        json.dumps(
            {k: v for k, v in result.items() if k != "rounds"}, indent=1
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
