"""Seconds per stage, for `timings` (Model.embed) and `--profile`.

timings[stage] is wall seconds; timings[stage + ":cpu"] the CPU seconds of the thread that ran
the stage (time.thread_time), for the stages that are Python's own work (plan, pool, report,
output, write). Wall seconds of a stage on a machine whose cores the forward pass fills also
hold the time the forward threads had the cores; its CPU seconds do not. `tokenize` and
`forward` have no CPU figure: the Rust tokenizer and most engines compute on threads of their
own, so the calling thread's CPU would understate them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

CPU = ":cpu"  # the suffix of a stage's CPU seconds
_LOCK = threading.Lock()  # stages of one call run on several threads; jobs share a dict


def add(timings: dict[str, float] | None, name: str, wall: float, cpu: float | None) -> None:
    """Adds `wall` (and `cpu`, when given) seconds to stage `name` of `timings`."""
    if timings is None:
        return
    with _LOCK:
        timings[name] = timings.get(name, 0.0) + wall
        if cpu is not None:
            timings[name + CPU] = timings.get(name + CPU, 0.0) + cpu


class Clock:
    """Laps and stages of one call into `timings` (nothing when timings is None)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.reset()

    def reset(self) -> None:
        """The next lap starts now (on this thread)."""
        self.last, self.last_cpu = time.perf_counter(), time.thread_time()

    def lap(self, name: str, cpu: bool = True) -> None:
        """Adds the time since the last lap (or reset) to `name`."""
        now, used = time.perf_counter(), time.thread_time()
        add(self.timings, name, now - self.last, used - self.last_cpu if cpu else None)
        self.last, self.last_cpu = now, used

    def add(self, name: str, wall: float, cpu: float | None = None) -> None:
        add(self.timings, name, wall, cpu)

    @contextmanager
    def stage(self, name: str, cpu: bool = True) -> Iterator[None]:
        """The block's wall (and, with `cpu`, thread CPU) seconds, added to `name`."""
        with stage(self.timings, name, cpu):
            yield

    def total(self, name: str) -> float:
        return self.timings.get(name, 0.0) if self.timings is not None else 0.0


@contextmanager
def stage(timings: dict[str, float] | None, name: str, cpu: bool = True) -> Iterator[None]:
    """The block's wall (and, with `cpu`, thread CPU) seconds, added to `name` of `timings`."""
    start, used = time.perf_counter(), time.thread_time()
    try:
        yield
    finally:
        spent = time.thread_time() - used if cpu else None
        add(timings, name, time.perf_counter() - start, spent)
