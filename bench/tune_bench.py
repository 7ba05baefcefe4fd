"""Fine-tuning: `bertex tune pairs` and `bertex tune simcse` from the default model on STS-B,
against sentence-transformers' own trainer on the same data, batch, loss and CPU.

    python bench/tune_bench.py                 # 2 epochs (about 15 minutes on a busy 2-core CPU)
    python bench/tune_bench.py --epochs 1 --json out.json

The shared STS-B English dev split (1,500 scored pairs) is shuffled with a fixed seed into
train (--train pairs, default 600), dev (150; bertex's per-epoch score) and a held-out part
(300) that no training sees. Both trainers run CoSENT, batch 16, lr 2e-5, 10% warm-up, weight
decay 0.01, clipping at 1.0, seed 42, keeping the last epoch, on the same CPU in this one run.

- Quality: held-out Spearman (cosine vs gold) of the base model, of sentence-transformers'
  trainer and of `bertex tune pairs` (its default precision: bf16 autocast where the CPU has
  it), each a full run of --epochs.
- Throughput: training pairs/s of the training steps alone (model load, per-epoch evaluation
  and writing excluded for both), in short bursts of --burst steps taken in turn (ST, bertex
  fp32, bertex default; --rounds times) so that a load change on a shared machine hits every
  trainer alike; the median of each.
- sentence-transformers loading bertex's folder gives bertex's vectors (max |difference|).
- `tune simcse` on the train part's sentences without their scores: held-out Spearman
  before/after.

Torch runs --threads threads (default 1: on a shared, oversubscribed 2-core machine two
spinning threads per process ran 5x slower than one).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
STSB = ROOT.parent / "shared/data/stsb/stsb-en-dev.csv"
SEED = 42


def split(n_train: int) -> dict[str, list[list[str]]]:
    with STSB.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    random.Random(SEED).shuffle(rows)
    return {"train": rows[:n_train], "dev": rows[1050:1200], "held_out": rows[1200:1500]}


def write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sentence1", "sentence2", "score"])
        w.writerows(rows)
    return path


def spearman_of(folder: str, rows: list[list[str]]) -> float:
    """Held-out Spearman through bertex (the model's own pooling and normalization)."""
    import bertex
    from bertex.analysis.sts import row_cosine, spearman

    model = bertex.load(folder)
    a = model.embed([r[0] for r in rows]).vectors
    b = model.embed([r[1] for r in rows]).vectors
    return spearman(row_cosine(a, b), np.array([float(r[2]) for r in rows]))


def bertex_pairs(
    train: Path, dev: Path, out: Path, epochs: int, precision: str, steps: int = 0
) -> dict:
    import bertex

    r = bertex.tune(
        "pairs", train=str(train), dev=str(dev), out=str(out), epochs=epochs, batch_size=16,
        lr=2e-5, precision=precision, keep="last", quiet=True, overwrite=True, max_steps=steps,
    )  # fmt: skip
    seconds = sum(e["seconds"] for e in r.record["epochs"])
    return {
        "seconds": seconds,
        "pairs_s": 16 * r.record["steps"] / seconds,
        "precision": r.record["precision"],
        "wall_s": r.record["wall_seconds"],
        "dev": [round(e["metrics"]["spearman"], 4) for e in r.record["epochs"]],
    }


def st_pairs(base: str, rows: list[list[str]], out: Path, epochs: int, steps: int = -1) -> dict:
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import CoSENTLoss

    model = SentenceTransformer(base, device="cpu")
    data = Dataset.from_dict(
        {
            "sentence1": [r[0] for r in rows],
            "sentence2": [r[1] for r in rows],
            "score": [float(r[2]) / 5 for r in rows],
        }
    )
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out / "st-run"), num_train_epochs=epochs, per_device_train_batch_size=16,
        learning_rate=2e-5, warmup_steps=0.1, weight_decay=0.01, max_grad_norm=1.0, seed=SEED,
        save_strategy="no", logging_strategy="no", report_to="none", use_cpu=True,
        disable_tqdm=True, max_steps=steps,
    )  # fmt: skip
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=data, loss=CoSENTLoss(model)
    )
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # the Trainer prints its summary
        done = trainer.train().global_step
    seconds = time.perf_counter() - t0
    model.save(str(out / "st-model"))
    return {"seconds": seconds, "pairs_s": 16 * done / seconds, "precision": "fp32"}


def same_vectors(folder: Path, texts: list[str]) -> float:
    from sentence_transformers import SentenceTransformer

    import bertex

    ours = bertex.load(folder).embed(texts).vectors
    theirs = SentenceTransformer(str(folder), device="cpu").encode(texts, batch_size=32)
    return float(np.abs(ours - theirs).max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--train", type=int, default=600, help="training pairs (at most 1050)")
    ap.add_argument("--burst", type=int, default=12, help="steps per throughput burst")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--simcse-steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import torch

    import bertex
    from bertex.backends.precision import cpu_flags, native_bf16
    from bertex.models.source import DEFAULT_MODEL, resolve

    torch.set_num_threads(args.threads)
    parts = split(args.train)
    tmp = Path(tempfile.mkdtemp(prefix="tune-bench-"))
    train, dev = write(tmp / "train.csv", parts["train"]), write(tmp / "dev.csv", parts["dev"])
    held = parts["held_out"]
    base_folder = str(resolve(DEFAULT_MODEL).folder)
    report: dict = {"model": DEFAULT_MODEL, "epochs": args.epochs, "threads": args.threads}
    report["split"] = f"{len(parts['train'])}/{len(parts['dev'])}/{len(held)}"
    report["base"] = spearman_of(DEFAULT_MODEL, held)
    # quality: one full run each
    st = st_pairs(base_folder, parts["train"], tmp, args.epochs)
    st["held_out"] = spearman_of(str(tmp / "st-model"), held)
    report["sentence_transformers"] = st
    row = bertex_pairs(train, dev, tmp / "bertex", args.epochs, "auto")
    row["held_out"] = spearman_of(str(tmp / "bertex"), held)
    report["bertex"] = row
    texts = [s for r in held[:100] for s in r[:2]]
    report["st_vs_bertex_max_abs"] = same_vectors(tmp / "bertex", texts)
    # throughput: bursts in turn
    bursts: dict[str, list[float]] = {"st": [], "bertex_fp32": [], "bertex_default": []}
    for _ in range(args.rounds):
        bursts["st"].append(
            st_pairs(base_folder, parts["train"], tmp / "b", 1, args.burst)["pairs_s"]
        )
        for name, precision in (("bertex_fp32", "fp32"), ("bertex_default", "auto")):
            b = bertex_pairs(train, dev, tmp / "b" / name, 1, precision, args.burst)
            bursts[name].append(b["pairs_s"])
    report["throughput"] = {k: float(np.median(v)) for k, v in bursts.items()}
    report["bursts"] = bursts
    # simcse: the train part's sentences, no scores; the dev pairs pick nothing (keep last)
    sentences = sorted({s for r in parts["train"] for s in r[:2]})
    (tmp / "sentences.txt").write_text("\n".join(sentences) + "\n", encoding="utf-8")
    t0 = time.perf_counter()
    r = bertex.tune(
        "simcse", train=str(tmp / "sentences.txt"), dev=str(dev), out=str(tmp / "simcse"),
        max_steps=args.simcse_steps, batch_size=32, lr=1e-5, keep="last", quiet=True,
        overwrite=True,
    )  # fmt: skip
    report["simcse"] = {
        "sentences": len(sentences),
        "steps": r.record["steps"],
        "seconds": time.perf_counter() - t0,
        "held_out": spearman_of(str(tmp / "simcse"), held),
    }
    flags = sorted(f for f in cpu_flags() if f.startswith(("avx", "amx")))
    report["cpu"] = {"flags": flags, "native_bf16": native_bf16()}
    print(render(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


def _list(xs: list[float]) -> str:
    return ", ".join(f"{x:.1f}" for x in xs)


def render(r: dict) -> str:
    st, bx, tp = r["sentence_transformers"], r["bertex"], r["throughput"]
    sim = r["simcse"]
    quality = "\n".join(
        f"| {name} | {prec} | {sec} | {rho:.4f} |"
        for name, prec, sec, rho in (
            ("base model (no tuning)", "", "", r["base"]),
            ("sentence-transformers trainer", "fp32", f"{st['seconds']:.0f}", st["held_out"]),
            ("bertex tune pairs", bx["precision"], f"{bx['seconds']:.0f}", bx["held_out"]),
        )
    )
    speed = "\n".join(
        f"| {name} | {tp[key]:.1f} | {tp[key] / tp['st']:.2f}x | {_list(r['bursts'][key])} |"
        for name, key in (
            ("sentence-transformers trainer (fp32)", "st"),
            ("bertex tune pairs, fp32", "bertex_fp32"),
            (f"bertex tune pairs, default ({bx['precision']})", "bertex_default"),
        )
    )
    return f"""CPU flags: {", ".join(r["cpu"]["flags"])}; native bf16: {r["cpu"]["native_bf16"]};
torch threads: {r["threads"]}

{r["model"]}, STS-B English dev split {r["split"]} (train/dev/held-out, seed {SEED}), CoSENT,
batch 16, {r["epochs"]} epochs (the last kept):

| trainer | precision | training s | held-out Spearman |
|---|---|---|---|
{quality}

Held-out Spearman, bertex - sentence-transformers: {bx["held_out"] - st["held_out"]:+.4f};
bertex's dev Spearman per epoch: {bx["dev"]}.

Training throughput (bursts of the same steps taken in turn; median):

| trainer | pairs/s | vs sentence-transformers | bursts |
|---|---|---|---|
{speed}

- sentence-transformers loading bertex's tuned folder: max |vector difference| against
  bertex = {r["st_vs_bertex_max_abs"]:.2e} (200 held-out sentences)
- `bertex tune simcse` ({sim["sentences"]} train-part sentences without scores, batch 32,
  {sim["steps"]} steps, {sim["seconds"]:.0f} s): held-out Spearman {r["base"]:.4f} ->
  {sim["held_out"]:.4f}"""


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
