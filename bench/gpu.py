"""The CUDA path, checked and timed on one GPU: correctness against transformers on the same
device, precision against fp32, batch invariance, then sentences/s against
sentence-transformers on the same checkpoint.

    python bench/gpu.py [--config DIR] [--n 20000] [--json out.json]

The checkpoint is the default model's configuration and tokenizer (all-MiniLM-L6-v2: 6 layers,
384 wide, 30,522 WordPiece) with seeded random weights: a GPU machine here cannot reach a hub
and its working tree travels with 64 MiB at most, less than the real weights (88 MB). Speed does
not depend on the values of the weights; correctness is checked against transformers running
the same weights. `--config DIR` is a folder with config.json and the tokenizer files (the
default: the installed default model's folder).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpora import corpus  # noqa: E402
from random_models import random_bert  # noqa: E402

DEVICE = "cuda"  # --device cpu runs the same script here (a dry run, no GPU figures)


def checkpoint(config_dir: Path, folder: Path) -> Path:
    """config_dir's configuration and tokenizer, seeded random weights, saved in folder."""
    from transformers import BertConfig

    return random_bert(folder, BertConfig.from_json_file(config_dir / "config.json"), config_dir)


def correctness(folder: Path, texts: list[str]) -> dict[str, Any]:
    """bertex on CUDA against transformers on CUDA (token level, fp32), against bertex on the
    CPU, one text alone against the batch, and fp16/bf16 sentence vectors against fp32."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    import bertex

    gpu = bertex.load(folder, device=DEVICE)
    cpu = bertex.load(folder, device="cpu")
    tok = AutoTokenizer.from_pretrained(folder)
    ref = AutoModel.from_pretrained(folder).eval().to(DEVICE)
    got = gpu.embed(texts, level="token", max_batch_size=64, batch_tokens=16384)
    on_cpu = cpu.embed(texts, level="token")
    worst_ref = worst_cpu = worst_alone = 0.0
    for i, (text, r) in enumerate(zip(texts, got, strict=True)):
        with torch.no_grad():
            b = tok(text, return_tensors="pt").to(DEVICE)
            want = ref(**b).last_hidden_state[0].float().cpu().numpy()  # (T, H)
        worst_ref = max(worst_ref, float(np.abs(r.vectors - want).max()))
        worst_cpu = max(worst_cpu, float(np.abs(r.vectors - on_cpu[i].vectors).max()))
        if i < 16:
            alone = gpu.embed(text, level="token")
            worst_alone = max(worst_alone, float(np.abs(alone.vectors - r.vectors).max()))
    out: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if DEVICE == "cuda" else "cpu",
        "torch": torch.__version__,
        "texts": len(texts),
        "max_abs_vs_transformers_same_device": worst_ref,
        "max_abs_vs_bertex_cpu": worst_cpu,
        "max_abs_alone_vs_batch": worst_alone,
    }
    base = _sentences(gpu, texts)
    for precision in _precisions()[1:]:
        low = _sentences(bertex.load(folder, device=DEVICE, precision=precision), texts)
        cos = np.sum(base * low, axis=1)  # (N,) both unit length
        out[f"cosine_{precision}_mean"] = float(cos.mean())
        out[f"cosine_{precision}_min"] = float(cos.min())
    return out


def _sentences(model: Any, texts: list[str], batch: int = 256, budget: int = 32768) -> np.ndarray:
    opts = {"level": "sentence", "pooling": "mean", "normalize": True}
    return model.embed(texts, max_batch_size=batch, batch_tokens=budget, **opts).vectors


def runners(folder: Path) -> dict[str, Any]:
    """name -> f(texts) -> (N, H); every model is loaded here, untimed."""
    from sentence_transformers import SentenceTransformer

    import bertex

    out: dict[str, Any] = {}
    for precision in _precisions():
        m = bertex.load(folder, device=DEVICE, precision=precision)
        name = f"bertex torch {precision} (max_batch_size 256, batch_tokens 32768)"
        out[name] = lambda t, m=m: _sentences(m, t, 256, 32768)
    big = bertex.load(folder, device=DEVICE)
    out["bertex torch fp32 (max_batch_size 1024, batch_tokens 131072)"] = lambda t: _sentences(
        big, t, 1024, 131072
    )
    os.environ["BERTEX_WORKERS"] = "1"  # one batch at a time: bertex before two in flight
    serial = bertex.load(folder, device=DEVICE)
    del os.environ["BERTEX_WORKERS"]
    out["bertex torch fp32, one batch at a time (BERTEX_WORKERS=1)"] = lambda t: _sentences(
        serial, t
    )
    st32 = SentenceTransformer(str(folder), device=DEVICE)
    st16 = SentenceTransformer(str(folder), device=DEVICE).half()
    for name, st in (("fp32", st32), ("fp16 (model.half())", st16)):
        for batch in (128, 512):
            out[f"sentence-transformers {name} (batch_size {batch})"] = lambda t, st=st, b=batch: (
                st.encode(t, batch_size=b, normalize_embeddings=True)
            )
    _sync()
    return out


def speed(folder: Path, texts: list[str], reps: int) -> list[dict[str, Any]]:
    import torch

    rows = []
    reference = None
    for name, run in runners(folder).items():
        run(texts[:512])  # warm-up: kernels, allocator
        times, vectors = [], None
        for _ in range(reps):
            _sync()
            t0 = time.perf_counter()
            vectors = np.asarray(run(texts), dtype=np.float32)
            _sync()
            times.append(time.perf_counter() - t0)
        if reference is None:
            reference = vectors
        cos = np.sum(reference * vectors, axis=1)  # (N,) against the first path (bertex fp32)
        rows.append(
            {
                "path": name,
                "sentences_per_s": round(len(texts) / statistics.median(times), 1),
                "cosine_to_bertex_fp32_min": round(float(cos.min()), 5),
                "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20)
                if DEVICE == "cuda"
                else None,
            }
        )
        if DEVICE == "cuda":
            torch.cuda.reset_peak_memory_stats()
        print(rows[-1], flush=True)
    return rows


def _precisions() -> tuple[str, ...]:
    return ("fp32", "fp16", "bf16") if DEVICE == "cuda" else ("fp32", "bf16")  # fp16: CUDA only


def _sync() -> None:
    import torch

    if DEVICE == "cuda":
        torch.cuda.synchronize()


def table(rows: list[dict[str, Any]]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", type=Path, help="config.json + tokenizer files")
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    global DEVICE
    DEVICE = args.device
    if args.config is None:
        import bertex

        args.config = Path(bertex.models.source.resolve("all-MiniLM-L6-v2").folder)
    folder = checkpoint(args.config, Path(tempfile.mkdtemp()) / "minilm-shaped")
    texts = corpus(args.n)
    check = correctness(folder, texts[:256])
    print(json.dumps(check, indent=1), flush=True)
    rows = speed(folder, texts, args.reps)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps({"correctness": check, "speed": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
