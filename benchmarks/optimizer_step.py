#!/usr/bin/env python
"""The optimiser step: PyTorch's AdamW per tensor, multi-tensor and fused.

On a CPU, ``torch.optim.AdamW`` defaults to updating one parameter tensor
at a time; for the laptop model (2 layers x 128 with a 32k vocabulary:
4.8M parameters, 4.1M of them the word embeddings, which receive a dense
gradient every step) that costs a noticeable share of a training step.
``labse_lite.train.adamw`` asks for the fused kernel.  This benchmark
builds the laptop model (and, for scale, the tiny one) with the shipped
data's 32k vocabulary, gives every parameter a random gradient, and times
the three implementations in alternating rounds in this process, beside
one forward + backward pass of a batch of 128 real pairs (the rest of a
training step).  It also reports how far each implementation's weights
are from the per-tensor ones after the timed steps.

    python benchmarks/optimizer_step.py [--threads 1] [--steps 50]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

IMPLEMENTATIONS = {
    "per-tensor (PyTorch's CPU default)": dict(foreach=False),
    "multi-tensor (foreach)": dict(foreach=True),
    "fused": dict(fused=True),
}


def _groups(model):
    from labse_lite.runtime import parameter_groups

    decay, no_decay = parameter_groups(model.named_parameters())
    return [
        {"params": decay, "weight_decay": 0.01},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _time_steps(optimizer, steps: int) -> float:
    for _ in range(3):  # warm-up
        optimizer.step()
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.step()
    return (time.perf_counter() - start) / steps * 1000  # ms per step


def _forward_backward_ms(model, batch, repeats: int = 5) -> float:
    from labse_lite.losses import additive_margin_softmax_loss

    xx, en = batch
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        loss = additive_margin_softmax_loss(
            model(*xx), model(*en), margin=0.3, scale=10.0
        )
        loss.backward()
        times.append((time.perf_counter() - start) * 1000)
    model.zero_grad(set_to_none=True)
    return statistics.median(times[1:])


def measure(preset: str, tokenizer, pairs, steps: int, rounds: int) -> dict:
    from labse_lite.model import DualEncoder

    torch.manual_seed(0)
    model = DualEncoder.from_config(
        tokenizer, preset, pooling="mean", max_length=32
    )
    batch = (
        model.collate(model.tokenize(pairs.xx)),
        model.collate(model.tokenize(pairs.en)),
    )
    fwd_bwd = _forward_backward_ms(model, batch)
    grads = [torch.randn_like(p) * 1e-3 for p in model.parameters()]
    copies, optimizers = {}, {}
    for name, kwargs in IMPLEMENTATIONS.items():
        copies[name] = copy.deepcopy(model)
        for p, g in zip(copies[name].parameters(), grads):
            p.grad = g.clone()
        optimizers[name] = torch.optim.AdamW(
            _groups(copies[name]), lr=1e-3, **kwargs
        )
    ms = {name: [] for name in IMPLEMENTATIONS}
    for _ in range(rounds):
        for name, optimizer in optimizers.items():
            ms[name].append(_time_steps(optimizer, steps))
    reference = list(copies[next(iter(IMPLEMENTATIONS))].parameters())
    out = {
        "preset": preset,
        "parameters": sum(p.numel() for p in model.parameters()),
        "forward_backward_ms_batch128": fwd_bwd,
        "optimizer": {},
    }
    for name in IMPLEMENTATIONS:
        diff = max(
            (a - b).abs().max().item()
            for a, b in zip(reference, copies[name].parameters())
        )
        out["optimizer"][name] = {
            "ms_per_step_median": statistics.median(ms[name]),
            "ms_per_step_rounds": ms[name],
            "max_abs_weight_diff_vs_per_tensor": diff,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--output", default="benchmarks/results/optimizer_step.json"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from labse_lite.data import load_train_pairs
    from labse_lite.tokenization import train_wordpiece

    corpus = load_train_pairs()
    tokenizer = train_wordpiece(corpus.monolingual_texts(), vocab_size=32000)
    pairs = corpus.sample(128, seed=0)
    results = [
        measure(preset, tokenizer, pairs, args.steps, args.rounds)
        for preset in ("laptop", "tiny")
    ]
    report = {
        "threads": args.threads,
        "steps_per_round": args.steps,
        "torch": torch.__version__,
        "results": results,
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
        },
        "date": time.strftime("%Y-%m-%d"),
    }
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as handle:
        json.dump(report, handle, indent=1)
    for r in results:
        base = r["optimizer"][next(iter(IMPLEMENTATIONS))][
            "ms_per_step_median"
        ]
        print(
            f"{r['preset']} ({r['parameters']:,} parameters; forward + "
            f"backward of 128 pairs: {r['forward_backward_ms_batch128']:.1f}"
            f" ms)"
        )
        for name, o in r["optimizer"].items():
            print(
                f"  {name:>36}: {o['ms_per_step_median']:6.2f} ms/step "
                f"(x{base / o['ms_per_step_median']:.1f}), weights within "
                f"{o['max_abs_weight_diff_vs_per_tensor']:.1e}"
            )


if __name__ == "__main__":
    main()
