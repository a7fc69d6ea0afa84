#!/usr/bin/env python
"""Training throughput: labse-lite's loop vs sentence-transformers' trainer.

Both train the *same* randomly initialised BERT (the laptop preset, 2 layers,
hidden 128, our 32k WordPiece vocabulary, mean pooling) on the *same* pairs
(a fixed, language-balanced sample of the shipped training data), with the
same batch size, maximum sequence length, learning rate and number of torch
threads, one after the other in this process.  sentence-transformers uses
its `SentenceTransformerTrainer` with `MultipleNegativesRankingLoss` (one
direction; ours sums both, which costs one extra 128x128 matrix product).

Reported: pairs/second of the training loop alone, and end to end (with
the tokenisation each side needs), and the ratio ours / theirs.

    python benchmarks/train_throughput.py [--steps 300] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
    from labse_lite.data import ParallelCorpus, load_train_pairs

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
    return ParallelCorpus([full.langs[i] for i in picked],
                          [full.xx[i] for i in picked],
                          [full.en[i] for i in picked])


def run_ours(corpus, tokenizer_dir, args, workdir):
    from labse_lite.train import TrainConfig, train

    config = TrainConfig(
        output_dir=str(workdir / "ours"), tokenizer=str(tokenizer_dir),
        model_preset="laptop", pooling="mean", max_length=args.max_length,
        batch_size=args.batch_size, max_steps=args.steps, lr=args.lr,
        warmup_steps=args.steps // 10, checkpoint_every=0, resume=False,
        final_eval=False, progress=False, threads=args.threads,
        language_alpha=0.5, seed=0)
    t0 = time.perf_counter()
    summary = train(config, corpus)
    total = time.perf_counter() - t0
    pairs = summary["pairs_seen"]
    return {"pairs": pairs, "loop_seconds": summary["train_seconds"],
            "tokenize_seconds": summary["tokenize_seconds"],
            "loop_pairs_per_second": pairs / summary["train_seconds"],
            "end_to_end_pairs_per_second":
                pairs / (summary["train_seconds"]
                         + summary["tokenize_seconds"]),
            "wall_seconds_incl_setup": total}


def run_theirs(corpus, tokenizer_dir, args, workdir):
    import datasets
    from sentence_transformers import (SentenceTransformer,
                                       SentenceTransformerTrainer,
                                       SentenceTransformerTrainingArguments,
                                       losses, models)
    from transformers import AutoTokenizer, BertModel

    from labse_lite.model import bert_config

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    torch.manual_seed(0)
    bert = BertModel(bert_config(len(tok), "laptop", dropout=0.0),
                     add_pooling_layer=False)
    model_dir = workdir / "st_init"
    bert.save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    word = models.Transformer(str(model_dir),
                              max_seq_length=args.max_length)
    pool = models.Pooling(word.get_word_embedding_dimension(), "mean")
    norm = models.Normalize()
    model = SentenceTransformer(modules=[word, pool, norm], device="cpu")
    n = args.steps * args.batch_size
    train_ds = datasets.Dataset.from_dict(
        {"anchor": corpus.xx[:n], "positive": corpus.en[:n]})
    loss = losses.MultipleNegativesRankingLoss(model, scale=10.0)
    targs = SentenceTransformerTrainingArguments(
        output_dir=str(workdir / "st_out"), max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr, warmup_steps=args.steps // 10,
        weight_decay=0.01, max_grad_norm=1.0, save_strategy="no",
        logging_steps=max(1, args.steps // 5), report_to="none",
        dataloader_num_workers=0, seed=0, use_cpu=True, disable_tqdm=True)
    trainer = SentenceTransformerTrainer(model=model, args=targs,
                                         train_dataset=train_ds, loss=loss)
    t0 = time.perf_counter()
    trainer.train()
    loop = time.perf_counter() - t0
    pairs = args.steps * args.batch_size
    # Tokenisation happens inside their loop, so loop == end to end.
    return {"pairs": pairs, "loop_seconds": loop,
            "loop_pairs_per_second": pairs / loop,
            "end_to_end_pairs_per_second": pairs / loop}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--max-length", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default="benchmarks/results/"
                        "train_throughput.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from labse_lite.tokenization import train_wordpiece

    corpus = sample_pairs(args.steps * args.batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        train_wordpiece(corpus.monolingual_texts(),
                        vocab_size=32000).save_pretrained(
            str(workdir / "tok"))
        theirs = run_theirs(corpus, workdir / "tok", args, workdir)
        ours = run_ours(corpus, workdir / "tok", args, workdir)
    import sentence_transformers
    import transformers

    result = {
        "setting": {**vars(args), "pairs": len(corpus),
                    "model": "BERT 2 layers, hidden 128, 2 heads, FFN 512,"
                             " mean pooling, 32k WordPiece"},
        "ours": ours, "sentence_transformers": theirs,
        "ratio_loop": ours["loop_pairs_per_second"]
        / theirs["loop_pairs_per_second"],
        "ratio_end_to_end": ours["end_to_end_pairs_per_second"]
        / theirs["end_to_end_pairs_per_second"],
        "versions": {"torch": torch.__version__,
                     "transformers": transformers.__version__,
                     "sentence_transformers": sentence_transformers.__version__,
                     "python": platform.python_version()},
        "machine": {"cpus": os.cpu_count(), "threads": args.threads},
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
