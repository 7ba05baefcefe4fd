"""The child side of speed.py's peer protocol, for the runners in the peers' own environments
(numpy and the standard library only): warm up, time `reps` runs over all texts, save the last
run's vectors in input order, print one JSON line {"times": [...], "peak_mib": ...}."""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def time_runs(
    run: Callable[[list[str]], np.ndarray], texts: Path, vectors: Path, reps: int
) -> None:
    corpus = json.loads(Path(texts).read_text())
    run(corpus[: max(1, min(64, len(corpus) // 8))])  # warm-up, as speed.py's own paths
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        out = run(corpus)  # (N, H)
        times.append(time.perf_counter() - start)
    np.save(vectors, np.asarray(out, dtype=np.float32))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"times": times, "peak_mib": peak}))
