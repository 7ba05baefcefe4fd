"""What a tuning job tells the user: a progress bar (loss, steps/s, ETA) on a terminal, one
line per epoch under --quiet or without one. Only the main process speaks; all to stderr."""

from __future__ import annotations

import sys
import time
from typing import Any


class Reporter:
    def __init__(self, enabled: bool, quiet: bool, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.bar_on = enabled and not quiet and self.stream.isatty()
        self.bar: Any = None
        self.t0 = 0.0
        self.t1: float | None = None  # the training steps' end (before the evaluation)
        self.steps = 0
        self.loss_sum = 0.0

    def say(self, line: str) -> None:
        if self.enabled:
            print(line, file=self.stream, flush=True)

    def start_epoch(self, epoch: int, epochs: int, total: int, done: int) -> None:
        self.t0, self.t1, self.steps, self.loss_sum = time.perf_counter(), None, 0, 0.0
        if self.bar_on:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=total,
                initial=done,
                desc=f"epoch {epoch + 1}/{epochs}",
                unit="step",
                file=self.stream,
                dynamic_ncols=True,
            )

    def step(self, loss: float) -> None:
        self.steps += 1
        self.loss_sum += loss
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
            self.bar.update(1)

    def stop_clock(self) -> None:
        """The epoch's steps are done: what follows (the dev evaluation) is not training."""
        self.t1 = time.perf_counter()

    def end_epoch(self, epoch: int, epochs: int, metrics: str) -> dict[str, float]:
        """Close the bar, print the epoch's line; returns its mean loss, training seconds
        (this run's steps, the evaluation excluded), steps/s and the evaluation's seconds."""
        now = time.perf_counter()
        seconds = (self.t1 or now) - self.t0
        eval_seconds = now - (self.t1 or now)
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        rate = self.steps / seconds if seconds > 0 else 0.0
        mean = self.loss_sum / self.steps if self.steps else float("nan")
        self.say(
            f"epoch {epoch + 1}/{epochs}: {self.steps} steps, loss {mean:.4f}, "
            f"{rate:.2f} steps/s, {seconds:.0f} s; {metrics}"
        )
        return {
            "train_loss": mean,
            "seconds": round(seconds, 3),
            "steps": self.steps,
            "steps_per_second": round(rate, 4),
            "eval_seconds": round(eval_seconds, 3),
        }
