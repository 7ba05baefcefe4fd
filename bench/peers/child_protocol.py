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


def peak_mib() -> float:
    """This process's peak resident memory since its exec (VmHWM: ru_maxrss would carry the
    parent's peak over fork and exec on Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_runs(embed: Embed, texts_path: Path, vectors: Path, reps: int) -> None:
    """Warm up, time `reps` runs of embed(all texts), save the last run's vectors, print the
    JSON line."""
    texts = json.loads(Path(texts_path).read_text())
    embed(texts[: max(1, min(64, len(texts) // 8))])  # warm-up, as speed.py's own paths
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        out = embed(texts)  # (N, H), in input order
        times.append(time.perf_counter() - start)
    np.save(vectors, np.asarray(out, dtype=np.float32))
    print(json.dumps({"times": times, "peak_mib": peak_mib()}), flush=True)


def run(load: Callable[[str, Path], Embed]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", required=True)
    ap.add_argument("--model-dir", type=Path, required=True)
    ap.add_argument("--texts", type=Path, required=True)
    ap.add_argument("--vectors", type=Path, required=True)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    embed = load(args.variant, args.model_dir)
    time_runs(lambda texts: sorted_run(embed, texts), args.texts, args.vectors, args.reps)
