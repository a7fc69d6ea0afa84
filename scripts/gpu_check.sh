#!/usr/bin/env bash
# The GPU check of issue 29: the colab presets of chapters 02 and 04 at
# reduced steps on one GPU (under 8 minutes on an H100), with no hub:
#
#   1. a stand-in encoder built here: mBERT's shape (12 x 768, BERT with
#      an MLM head) and a 32k WordPiece vocabulary trained on the shipped
#      data, random weights (the real mBERT needs the hub);
#   2. chapter 02's colab preset (CLS pooling, 64 tokens, global batch
#      256, lr 2e-5) under bf16 autocast, then under fp16 autocast with
#      GradScaler, each for a few hundred steps on the shipped data;
#   3. resume: an fp16 run stopped at a checkpoint and continued;
#   4. chapter 04's colab preset (global batch 1024, cached gradients in
#      chunks of 256, bf16) through torchrun: NCCL with 2 processes where
#      2 GPUs exist; with one GPU a 1-process torchrun job (which starts no
#      process group: NCCL is exercised only with 2 GPUs);
#   5. peak GPU memory (torch.cuda.max_memory_allocated) and pairs/s of
#      every run, into benchmarks/results/gpu_check.json ($GPU_CHECK_OUT).
#
# Usage: bash scripts/gpu_check.sh   (from the repository root; PYTHON
# defaults to .venv/bin/python, else python3).  Exits 3, writing nothing,
# where there is no CUDA device.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
OUT=${GPU_CHECK_OUT:-benchmarks/results/gpu_check.json}
STEPS=${GPU_CHECK_STEPS:-300}          # chapter 02's runs (preset: 3000)
WORK=${GPU_CHECK_WORK:-$(mktemp -d -t gpu_check.XXXXXX)}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export TOKENIZERS_PARALLELISM=false

NGPU=$("$PYTHON" -c 'import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)')
if [ "$NGPU" -lt 1 ]; then
    echo "gpu_check: no CUDA device (torch.cuda.is_available() is False);" \
         "this check needs a GPU. Nothing was written." >&2
    exit 3
fi
NPROC=$(( NGPU >= 2 ? 2 : 1 ))
echo "gpu_check: $NGPU GPU(s); work in $WORK; results to $OUT"
start=$(date +%s)

"$PYTHON" - "$WORK" "$OUT" "$STEPS" "$NPROC" <<'EOF'
import json, os, subprocess, sys, time
from pathlib import Path

import torch

work, out, steps, nproc = Path(sys.argv[1]), Path(sys.argv[2]), \
    int(sys.argv[3]), int(sys.argv[4])
from labse_lite.book import presets
from labse_lite.data import load_train_pairs
from labse_lite.languages import XTREME_36
from labse_lite.runtime import machine_fingerprint
from labse_lite.train import TrainConfig, train

results = {"date": time.strftime("%Y-%m-%d"),
           "gpu": torch.cuda.get_device_name(0),
           "gpus": torch.cuda.device_count(), "torch": torch.__version__,
           "machine": machine_fingerprint(), "runs": {}}

# 1. The stand-in encoder: mBERT's shape, a vocabulary of the shipped data.
t0 = time.time()
encoder = work / "standin-mbert"
if not (encoder / "config.json").is_file():
    from transformers import BertForMaskedLM
    from labse_lite.model import bert_config
    from labse_lite.tokenization import train_wordpiece

    texts = load_train_pairs().monolingual_texts()
    tok = train_wordpiece(texts, vocab_size=32000, model_max_length=512)
    config = bert_config(len(tok), "labse-base")
    config.pad_token_id = tok.pad_token_id
    torch.manual_seed(0)
    BertForMaskedLM(config).save_pretrained(encoder, safe_serialization=True)
    tok.save_pretrained(encoder)
results["standin_seconds"] = round(time.time() - t0, 1)

ch02 = presets.settings("dual_encoder", "colab")
ch04 = presets.settings("cross_device", "colab")
evals = ["deu", "fra", "spa", "rus", "jpn", "tur", "cmn", "ara"]


def config(name, **kw):
    base = dict(output_dir=str(work / name), init_model=str(encoder),
                pooling=ch02["pooling"], max_length=ch02["max_length"],
                batch_size=ch02["batch_size"], lr=ch02["lr"],
                max_steps=steps, warmup_steps=steps // 10,
                precision=ch02["precision"], device="cuda",
                checkpoint_every=0, log_every=50, progress=False,
                eval_languages=evals, final_eval_languages=list(XTREME_36))
    base.update(kw)
    return TrainConfig(**base)


def run(name, cfg):
    torch.cuda.reset_peak_memory_stats()
    t = time.time()
    summary = train(cfg)
    wall = time.time() - t
    row = {"precision": cfg.precision, "batch_size": cfg.batch_size,
           "steps": summary["steps"], "pairs_seen": summary["pairs_seen"],
           "train_seconds": round(summary["train_seconds"], 1),
           "pairs_per_second": round(summary["pairs_seen"]
                                     / summary["train_seconds"], 1),
           "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated()
                                        / 2**30, 2),
           "wall_seconds": round(wall, 1)}
    ev = summary.get("eval") or {}
    if ev.get("tatoeba_avg_xx2en"):
        row["tatoeba_xx2en_xtreme36"] = round(
            ev["tatoeba_avg_xx2en"]["all"], 2)
    results["runs"][name] = row
    print(name, json.dumps(row), flush=True)
    return summary


# 2. Chapter 02's colab preset, bf16 and fp16 (GradScaler).
run("ch02_colab_bf16", config("ch02_bf16"))
run("ch02_colab_fp16", config("ch02_fp16", precision="fp16",
                              max_steps=steps // 2,
                              final_eval_languages=evals))
# 3. Resume: stop at a checkpoint, continue to the end.
half = steps // 4
run("resume_first_half", config("resume", precision="fp16",
                                max_steps=half, checkpoint_every=half // 2,
                                final_eval_languages=evals))
s = run("resume_continued", config("resume", precision="fp16",
                                   max_steps=2 * half, resume=True,
                                   checkpoint_every=half // 2,
                                   final_eval_languages=evals))
lines = (work / "resume" / "log.jsonl").read_text().splitlines()
logged = [json.loads(l)["step"] for l in lines if '"step"' in l]
assert s["steps"] == 2 * half, s["steps"]
results["resume"] = {"steps": s["steps"], "logged_steps": logged[-3:],
                     "ok": s["steps"] == 2 * half}
# 4. Chapter 04's colab preset through torchrun (NCCL with 2 GPUs).
batch, chunk = ch04["global_batches"][1], ch04["chunk"]
job = work / "ch04_torchrun"
argv = [sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc_per_node={nproc}", "-m", "labse_lite", "train",
        "--output-dir", str(job), "--init-model", str(encoder),
        "--pooling", "cls", "--max-length", str(ch04["max_length"]),
        "--batch-size", str(batch // nproc), "--max-steps", "40",
        "--warmup-steps", "4", "--lr", str(ch04["lr"]),
        "--grad-cache-chunk", str(chunk), "--precision", "bf16",
        "--device", "cuda", "--checkpoint-every", "0", "--no-progress",
        "--eval-languages", "deu", "--final-eval-languages", "deu", "fra",
        "--no-resume"]
t = time.time()
proc = subprocess.run(argv, capture_output=True, text=True)
if proc.returncode:
    print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
    raise SystemExit(f"torchrun job failed (exit {proc.returncode})")
summary = json.loads((job / "summary.json").read_text())
results["runs"]["ch04_torchrun"] = {
    "processes": summary["world_size"], "global_batch": batch,
    "grad_cache_chunk": chunk, "steps": summary["steps"],
    "pairs_per_second": round(summary["pairs_seen"]
                              / summary["train_seconds"], 1),
    "wall_seconds": round(time.time() - t, 1),
    "backend": "nccl" if summary["world_size"] > 1 else "none (1 process)"}
print("ch04_torchrun", json.dumps(results["runs"]["ch04_torchrun"]))
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps(results, indent=1) + "\n")
EOF
echo "gpu_check: done in $(( $(date +%s) - start )) s; wrote $OUT"
