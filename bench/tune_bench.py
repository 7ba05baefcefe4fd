"""Fine-tuning: `bertex tune pairs` and `bertex tune simcse` from the default model on STS-B,
against sentence-transformers' own trainer on the same data, batch, loss and CPU.

    python bench/tune_bench.py                 # 2 epochs (minutes on 2 CPU cores)
    python bench/tune_bench.py --epochs 1 --json out.json

The shared STS-B English dev split (1,500 scored pairs) is shuffled with a fixed seed into
train (1,000 pairs), dev (200; bertex's per-epoch score) and a held-out part (300) that no
training sees. Reported: held-out Spearman (cosine vs gold) of the base model and of each
tuned one; training throughput in pairs/s (training steps only: the model load, the per-epoch
evaluation and the writing are excluded for both); sentence-transformers loading bertex's
folder gives bertex's vectors (max |difference|); `tune simcse` on the train part's sentences
without their scores, held-out Spearman before/after. Both trainers run CoSENT, batch 16,
lr 2e-5, 10% warm-up, weight decay 0.01, clipping at 1.0, seed 42, keeping the last epoch;
bertex in fp32 (as sentence-transformers) and in its default (bf16 autocast where the CPU has
it), on the same CPU in this one run.
"""

from __future__ import annotations

import argparse
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


def split() -> dict[str, list[list[str]]]:
    with STSB.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    random.Random(SEED).shuffle(rows)
    return {"train": rows[:1000], "dev": rows[1000:1200], "held_out": rows[1200:1500]}


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


def bertex_pairs(train: Path, dev: Path, out: Path, epochs: int, precision: str) -> dict:
    import bertex

    r = bertex.tune(
        "pairs", train=str(train), dev=str(dev), out=str(out), epochs=epochs, batch_size=16,
        lr=2e-5, precision=precision, keep="last", quiet=True, overwrite=True,
    )  # fmt: skip
    seconds = sum(e["seconds"] for e in r.record["epochs"])
    return {
        "seconds": seconds,
        "pairs_s": 1000 * epochs / seconds,
        "precision": r.record["precision"],
        "wall_s": r.record["wall_seconds"],
        "dev": [round(e["metrics"]["spearman"], 4) for e in r.record["epochs"]],
    }


def st_pairs(base: str, rows: list[list[str]], out: Path, epochs: int) -> dict:
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
        disable_tqdm=True,
    )  # fmt: skip
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=data, loss=CoSENTLoss(model)
    )
    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    model.save(str(out / "st-model"))
    return {"seconds": seconds, "pairs_s": 1000 * epochs / seconds, "precision": "fp32"}


def same_vectors(folder: Path, texts: list[str]) -> float:
    import bertex
    from sentence_transformers import SentenceTransformer

    ours = bertex.load(folder).embed(texts).vectors
    theirs = SentenceTransformer(str(folder), device="cpu").encode(texts, batch_size=32)
    return float(np.abs(ours - theirs).max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--simcse-steps", type=int, default=60)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import bertex
    from bertex.backends.precision import cpu_flags, native_bf16
    from bertex.models.source import DEFAULT_MODEL, resolve

    parts = split()
    tmp = Path(tempfile.mkdtemp(prefix="tune-bench-"))
    train, dev = write(tmp / "train.csv", parts["train"]), write(tmp / "dev.csv", parts["dev"])
    held = parts["held_out"]
    base_folder = str(resolve(DEFAULT_MODEL).folder)
    report: dict = {"model": DEFAULT_MODEL, "epochs": args.epochs, "split": "1000/200/300"}
    report["base"] = spearman_of(DEFAULT_MODEL, held)
    # sentence-transformers first, then bertex fp32, then bertex's default precision
    st = st_pairs(base_folder, parts["train"], tmp, args.epochs)
    st["held_out"] = spearman_of(str(tmp / "st-model"), held)
    report["sentence_transformers"] = st
    for name, precision in (("bertex_fp32", "fp32"), ("bertex_default", "auto")):
        out = tmp / name
        row = bertex_pairs(train, dev, out, args.epochs, precision)
        row["held_out"] = spearman_of(str(out), held)
        report[name] = row
    texts = [s for r in held[:100] for s in r[:2]]
    report["st_vs_bertex_max_abs"] = same_vectors(tmp / "bertex_fp32", texts)
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


def render(r: dict) -> str:
    st, b32, bd = r["sentence_transformers"], r["bertex_fp32"], r["bertex_default"]
    rows = [
        ("base model (no tuning)", "", "", r["base"]),
        ("sentence-transformers trainer", st["precision"], f"{st['pairs_s']:.1f}", st["held_out"]),
        ("bertex tune pairs", b32["precision"], f"{b32['pairs_s']:.1f}", b32["held_out"]),
        ("bertex tune pairs (default)", bd["precision"], f"{bd['pairs_s']:.1f}", bd["held_out"]),
    ]
    table = "\n".join(f"| {a} | {p} | {s} | {h:.4f} |" for a, p, s, h in rows)
    sim = r["simcse"]
    return f"""CPU flags: {", ".join(r["cpu"]["flags"])}; native bf16: {r["cpu"]["native_bf16"]}

{r["model"]}, STS-B English dev split {r["split"]} (train/dev/held-out, seed {SEED}), CoSENT,
batch 16, {r["epochs"]} epochs (the last kept):

| trainer | precision | training pairs/s | held-out Spearman |
|---|---|---|---|
{table}

- bertex / sentence-transformers throughput: {b32["pairs_s"] / st["pairs_s"]:.2f}x (fp32),
  {bd["pairs_s"] / st["pairs_s"]:.2f}x (bertex's default, {bd["precision"]}); held-out
  Spearman bertex - sentence-transformers: {b32["held_out"] - st["held_out"]:+.4f} (fp32),
  {bd["held_out"] - st["held_out"]:+.4f} (default)
- bertex's dev Spearman per epoch: {b32["dev"]} (fp32), {bd["dev"]} (default)
- sentence-transformers loading bertex's tuned folder: max |vector difference| against
  bertex = {r["st_vs_bertex_max_abs"]:.2e} (200 held-out sentences)
- `bertex tune simcse` ({sim["sentences"]} train-part sentences without scores, batch 32,
  {sim["steps"]} steps, {sim["seconds"]:.0f} s): held-out Spearman {r["base"]:.4f} ->
  {sim["held_out"]:.4f}"""


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
