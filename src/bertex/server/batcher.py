"""Dynamic batching across concurrent requests, off the event loop.

Requests become Jobs in a bounded queue. One worker thread takes the oldest job, adds the
jobs queued behind it that ask for the same options until a token budget is reached, runs one
`Model.embed` over all their texts, and hands each job its slice. Vectors do not depend on
the neighbours in a batch (bertex tests this), so a batched answer equals a lone one.
Cancelled jobs (client gone, deadline passed) are dropped before they reach the model.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from ..config import EmbedOptions
from ..errors import InputError
from ..types import SentenceEmbeddings


class QueueFullError(Exception):
    """More texts are waiting than the queue holds."""


@dataclass(eq=False)
class Job:
    texts: list[Any]
    pairs: list[str] | None
    options: EmbedOptions
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    enqueued: float = field(default_factory=time.monotonic)
    cancelled: bool = False

    @property
    def cost(self) -> int:
        """A cheap token estimate before tokenization (about 4 characters per token)."""
        return sum(
            len(t) if isinstance(t, str) else sum(map(len, t)) for t in self.texts
        ) // 4 + 2 * len(self.texts)

    def key(self) -> tuple[Any, ...]:
        return (self.options, self.pairs is None)


class Batcher:
    def __init__(
        self,
        model: Any,
        batch_tokens: int,
        max_queue: int,
        wait_ms: float,
        metrics: Any,
        max_requests: int = 256,
    ) -> None:
        self.model, self.metrics = model, metrics
        self.max_requests = max_requests
        self.batch_tokens, self.max_queue, self.wait_s = batch_tokens, max_queue, wait_ms / 1000
        self._queue: deque[Job] = deque()
        self._queued_texts = 0
        self._cv = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._work, name="bertex-batcher", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        return self._queued_texts

    def submit(self, job: Job) -> None:
        with self._cv:
            if self._queued_texts + len(job.texts) > self.max_queue:
                raise QueueFullError
            self._queue.append(job)
            self._queued_texts += len(job.texts)
            self.metrics.queue_depth.set(self._queued_texts)
            self._cv.notify()

    def stop(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()

    def _take(self) -> list[Job]:
        """The oldest live job and the compatible ones behind it, within the token budget."""
        with self._cv:
            while not self._queue and not self._stop:
                self._cv.wait()
            if self._stop:
                return []
        if self.wait_s:
            time.sleep(self.wait_s)  # let requests that arrive together share the pass
        with self._cv:
            batch: list[Job] = []
            budget, rest = self.batch_tokens, deque[Job]()
            while self._queue:
                job = self._queue.popleft()
                self._queued_texts -= len(job.texts)
                if job.cancelled:
                    self.metrics.dropped.inc()
                    continue
                fits = not batch or (
                    job.key() == batch[0].key()
                    and job.cost <= budget
                    and len(batch) < self.max_requests
                )
                if fits:
                    batch.append(job)
                    budget -= job.cost
                else:
                    rest.append(job)
                    self._queued_texts += len(job.texts)
            self._queue.extendleft(reversed(rest))
            self.metrics.queue_depth.set(self._queued_texts)
            return batch

    def _work(self) -> None:
        while not self._stop:
            batch = self._take()
            if batch:
                self._run(batch)

    def _run(self, jobs: list[Job]) -> None:
        now = time.monotonic()
        for job in jobs:
            self.metrics.queue_seconds.observe(now - job.enqueued)
        while jobs:
            texts = [t for j in jobs for t in j.texts]
            pairs = (
                [p for j in jobs for p in (j.pairs or [])] if jobs[0].pairs is not None else None
            )
            timings: dict[str, float] = {}
            try:
                result = self.model.embed(texts, pairs, options=jobs[0].options, timings=timings)
            except InputError as e:
                jobs = self._fail_one(jobs, e)
                continue
            except Exception as e:  # a bug: every job of the pass learns of it
                for job in jobs:
                    _settle(job, error=e)
                return
            self.metrics.tokenize_seconds.observe(timings.get("tokenize", 0.0))
            self.metrics.forward_seconds.observe(timings.get("forward", 0.0))
            self.metrics.batch_texts.observe(len(texts))
            self._split(jobs, result)
            return

    def _fail_one(self, jobs: list[Job], e: InputError) -> list[Job]:
        """An InputError names one text of the combined call: fail its job, retry the rest."""
        if e.index is None:
            for job in jobs:
                _settle(job, error=e)
            return []
        start = 0
        for k, job in enumerate(jobs):
            if start <= e.index < start + len(job.texts):
                local = type(e).__new__(type(e))
                local.__dict__.update(e.__dict__)
                local.index = e.index - start
                local.args = (str(e).replace(f"input {e.index}:", f"input {local.index}:", 1),)
                _settle(job, error=local)
                return jobs[:k] + jobs[k + 1 :]
            start += len(job.texts)
        return []

    def _split(self, jobs: list[Job], result: Any) -> None:
        start = 0
        for job in jobs:
            n = len(job.texts)
            if isinstance(result, SentenceEmbeddings):
                reports = tuple(
                    replace(r, index=i) for i, r in enumerate(result.reports[start : start + n])
                )
                part: Any = replace(
                    result,
                    texts=result.texts[start : start + n],
                    text_pairs=result.text_pairs[start : start + n] if result.text_pairs else None,
                    vectors=result.vectors[start : start + n],
                    reports=reports,
                )
            else:
                part = result[start : start + n] if isinstance(result, list) else [result]
            self.metrics.tokens.inc(sum(r.seen_tokens for r in _reports(part)))
            _settle(job, value=part)
            start += n


def _reports(part: Any) -> list[Any]:
    return list(part.reports) if isinstance(part, SentenceEmbeddings) else [r.report for r in part]


def _settle(job: Job, value: Any = None, error: BaseException | None = None) -> None:
    def set_result() -> None:
        if job.future.done():
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(value)

    job.loop.call_soon_threadsafe(set_result)
