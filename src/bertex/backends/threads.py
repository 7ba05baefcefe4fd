"""How a backend uses the cores: `workers` batches at once, each on `threads` threads.

Two batches at once with one thread each was measured faster than one batch on two threads on
a 2-core AVX2 machine (MiniLM: torch fp32 +13%, bit-identical vectors; ONNX Runtime fp32 and
int8 +5-15%): between the small matrix products of a sentence batch a shared thread pool idles.
Cores are split evenly and never oversubscribed; at most two workers, so the per-batch latency
stays low on big machines (each worker then gets several threads).

BERTEX_CPUS caps the cores bertex counts as its own (the Ray engine sets it to an actor's
share); BERTEX_WORKERS overrides the number of workers. On a GPU two workers keep it fed
(gpu_workers).
"""

from __future__ import annotations

import os

MAX_WORKERS = 2


def cores() -> int:
    have = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    have = max(1, have or 1)
    cap = _positive(os.environ.get("BERTEX_CPUS"))
    return min(have, cap) if cap else have


def plan() -> tuple[int, int]:
    """(workers, threads per worker)."""
    n = cores()
    workers = _positive(os.environ.get("BERTEX_WORKERS")) or min(MAX_WORKERS, n)
    workers = min(workers, n)
    return workers, max(1, n // workers)


def gpu_workers() -> int:
    """Batches in flight on one GPU: two threads feed it, so one batch's host work (padding,
    the copy back, the caller's pooling) overlaps the other's kernels; BERTEX_WORKERS
    overrides (1: one batch at a time)."""
    return _positive(os.environ.get("BERTEX_WORKERS")) or MAX_WORKERS


def _positive(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None
