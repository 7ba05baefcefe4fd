"""speed.py's child protocol for a peer script (runs in the peer's own environment; numpy only).

`run(load)`: parses the arguments speed.py hands over, builds the engine with
`load(variant, model_dir)` (untimed), warms it up on a few texts, then times `reps` runs over
all texts. Each run sorts the texts by length, embeds them in that order and puts the vectors
back in the input order, all inside the timed region (as every bertex path pays its own
batching). Saves the (N, H) float32 vectors of the last run and prints one JSON line
{"times": [...], "peak_mib": ...}.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

BATCH = 32  # texts per batch, as every path of the benchmark
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length: every path truncates here

Embed = Callable[[list[str]], np.ndarray]  # texts (sorted by length) -> (N, H) unit vectors


def sorted_run(embed: Embed, texts: list[str]) -> np.ndarray:
    """Embeds `texts` in length order and returns the vectors in the input order."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors = embed([texts[i] for i in order])  # (N, H), in length order
    out = np.empty_like(vectors)
    out[order] = vectors
    return out


def run(load: Callable[[str, Path], Embed]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", required=True)
    ap.add_argument("--model-dir", type=Path, required=True)
    ap.add_argument("--texts", type=Path, required=True)
    ap.add_argument("--vectors", type=Path, required=True)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    texts = json.loads(args.texts.read_text())
    embed = load(args.variant, args.model_dir)
    sorted_run(embed, texts[: max(1, min(64, len(texts) // 8))])  # warm-up
    times = []
    for _ in range(args.reps):
        start = time.perf_counter()
        vectors = sorted_run(embed, texts)
        times.append(time.perf_counter() - start)
    np.save(args.vectors, np.asarray(vectors, dtype=np.float32))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"times": times, "peak_mib": peak}))
