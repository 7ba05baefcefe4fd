"""The async micro-batching engine: many concurrent callers, one model, shared forward passes.

>>> import asyncio, bertex
>>> model = bertex.load()
>>> async def main():
...     async with bertex.Engine(model) as engine:
...         a, b = await asyncio.gather(engine.embed("a cat"), engine.embed(["a dog", "a bird"]))
...         return a.vectors.shape, b.vectors.shape
>>> asyncio.run(main())
((1, 384), (2, 384))

Each call becomes a job in a bounded queue (past `max_queue` waiting texts: OverloadedError).
A worker thread builds a pass from the first job's next texts and those of the jobs behind it
asking for the same options, up to `max_batch_tokens` and `max_batch_requests` jobs, runs one
`Model.embed` over it and hands each job its slice. A job larger than one pass goes behind the
jobs queued after it each time (a large request delays small ones by one pass), and between
passes the rest of a job whose caller went away or whose deadline passed is dropped. Vectors
do not depend on their batch neighbours (tested). Two workers run passes at once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from . import passes
from .config import EmbedOptions, merged
from .errors import (
    DeadlineError,
    ForwardTimeoutError,
    InputError,
    OptionError,
    OverloadedError,
    StoppedError,
)
from .tokenize import check_inputs
from .types import Collected


class Observer:
    """What the engine reports from its worker thread (the server's metrics implement it).
    Every hook does nothing by default."""

    def queued(self, texts: int) -> None:
        """`texts` are waiting now."""

    def dropped(self, reason: str, texts: int) -> None:
        """`texts` of one job will not run: reason is "cancelled", "deadline" or "failed"."""

    def waited(self, seconds: float) -> None:
        """A job reached the model `seconds` after it was queued."""

    def ran(self, texts: int, tokens: int, timings: dict[str, float]) -> None:
        """One pass ran `texts` texts (`tokens` tokens seen) in `timings` seconds per stage."""

    def wedged(self, error: ForwardTimeoutError) -> None:
        """A forward pass never returned (past its bound): the model is not healthy now."""


@dataclass(eq=False)
class _Job:
    texts: list[Any]
    pairs: list[str] | None
    options: EmbedOptions
    collect: bool
    origin: list[int]  # the caller's index of each text (bad ones were left out when collecting)
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    deadline: float | None  # time.monotonic() past which the rest is dropped
    enqueued: float = field(default_factory=time.monotonic)
    sent: int = 0  # texts handed to a pass
    busy: bool = False  # a pass holds some of its texts: its next texts wait for that pass
    done: int = 0  # texts answered
    parts: list[Any] = field(default_factory=list)
    kept: list[int] = field(default_factory=list)  # caller's indices of the results so far
    errors: list[InputError] = field(default_factory=list)
    stopped: str | None = None  # "cancelled", "deadline", "failed"

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.options, self.pairs is None)

    @property
    def waiting(self) -> int:
        return len(self.texts) - self.sent

    def cost(self, i: int) -> int:
        """A cheap token estimate before tokenization (about 4 characters per token)."""
        text = self.texts[i]
        chars = len(text) if isinstance(text, str) else sum(map(len, text)) + len(text)
        if self.pairs is not None:
            chars += len(self.pairs[i])
        return chars // 4 + 2

    def settle(self, value: Any = None, error: BaseException | None = None) -> None:
        def set_result() -> None:
            if self.future.done():
                return
            if error is not None:
                self.future.set_exception(error)
            else:
                self.future.set_result(value)

        try:
            self.loop.call_soon_threadsafe(set_result)
        except RuntimeError:  # the caller's loop is closed: nobody is waiting any more
            pass


@dataclass(frozen=True)
class _Slice:
    job: _Job
    lo: int
    hi: int


class Engine:
    """Share forward passes among concurrent asyncio callers of one Model.

    max_batch_tokens    estimated tokens of one pass across requests (>= the model's length)
    max_queue           texts waiting at most; past it `embed` raises OverloadedError
    wait_ms             how long a pass waits for company before it starts
    max_batch_requests  requests merged into one pass (1: no batching)
    passes_in_flight    passes run at once (2: the next pass tokenizes and fills the forward
                        workers while the last batches of the one before finish; a request's
                        own passes still run one after another, so its parts stay in order)
    observer            an Observer that receives counts and timings (metrics)
    """

    def __init__(
        self,
        model: Any,
        *,
        max_batch_tokens: int = 16384,
        max_queue: int = 1024,
        wait_ms: float = 2.0,
        max_batch_requests: int = 256,
        observer: Observer | None = None,
        passes_in_flight: int = 2,
    ) -> None:
        for name, value in (
            ("max_batch_tokens", max_batch_tokens),
            ("max_queue", max_queue),
            ("max_batch_requests", max_batch_requests),
            ("passes_in_flight", passes_in_flight),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise OptionError(name, value, ["an integer >= 1"])
        if wait_ms < 0:
            raise OptionError("wait_ms", wait_ms, ["a number of milliseconds >= 0"])
        self.model = model
        self.max_batch_tokens, self.max_queue = max_batch_tokens, max_queue
        self.max_batch_requests, self.wait_s = max_batch_requests, wait_ms / 1000
        self.observer = observer or Observer()
        self._queue: deque[_Job] = deque()
        self._cv = threading.Condition()
        self.fault: ForwardTimeoutError | None = None  # set when a pass wedged: unhealthy
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"bertex-engine-{i}", daemon=True)
            for i in range(passes_in_flight)
        ]
        for thread in self._threads:
            thread.start()

    # -- the caller's side ------------------------------------------------------------------

    async def embed(
        self,
        inputs: Any,
        text_pair: Any = None,
        *,
        options: EmbedOptions | None = None,
        on_error: str = "raise",
        deadline: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """`Model.embed`, awaited: the same inputs, options and results.

        deadline: seconds; past it the call raises DeadlineError and the rest of its work is
        dropped between passes. Cancelling the awaiting task drops the rest the same way.
        Raises OverloadedError at once when the queue is full. A bad input raises its
        InputError (its index in this call's list), or with on_error="collect" the call returns
        a Collected (results, errors, kept), like `Model.embed`.
        """
        if on_error not in ("raise", "collect"):
            raise OptionError("on_error", on_error, ["raise", "collect"])
        collect = on_error == "collect"
        opts = merged(options, kwargs)
        single, texts, pairs, origin, early = check_inputs(
            inputs, text_pair, opts.is_split_into_words, collect, opts.max_chars
        )
        if not texts:  # every input failed its check
            return Collected(None, tuple(early), ())
        loop = asyncio.get_running_loop()
        expires = None if deadline is None else time.monotonic() + deadline
        job = _Job(texts, pairs, opts, collect, origin, loop, loop.create_future(), expires)
        job.errors += early
        self._submit(job)
        try:
            done, _ = await asyncio.wait({job.future}, timeout=deadline)
        except asyncio.CancelledError:
            self._stop(job, "cancelled")
            raise
        if not done:
            self._stop(job, "deadline")
            raise DeadlineError(float(deadline or 0))
        result = job.future.result()
        return result[0] if single and not collect and isinstance(result, list) else result

    @property
    def depth(self) -> int:
        """Texts waiting for a pass."""
        with self._cv:
            return sum(j.waiting for j in self._queue)

    def close(self, wait: bool = True) -> None:
        """Stop the worker after its current pass (waiting for it unless wait=False, e.g. at a
        bounded shutdown); queued calls raise OverloadedError."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        if wait:
            for thread in self._threads:
                thread.join()
        for job in self._queue:
            job.settle(error=OverloadedError("the engine is closed"))
        self._queue.clear()

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.close)

    def _submit(self, job: _Job) -> None:
        with self._cv:
            if self._closed:
                raise OverloadedError("the engine is closed")
            queued = sum(j.waiting for j in self._queue)
            if queued + len(job.texts) > self.max_queue:
                raise OverloadedError(
                    f"the queue is full ({queued} texts waiting, the limit is "
                    f"{self.max_queue}); retry shortly"
                )
            self._queue.append(job)
            self.observer.queued(queued + len(job.texts))
            self._cv.notify()

    def _stop(self, job: _Job, reason: str) -> None:
        with self._cv:
            if job.stopped is None and job.done < len(job.texts):
                job.stopped = reason

    # -- the worker's side ------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            slices = self._next_pass()
            if slices is None:
                return
            if slices:
                try:
                    self._run(slices)
                finally:
                    self._release(slices)

    def _release(self, slices: list[_Slice]) -> None:
        """A pass is over: its jobs' next texts may go to the next pass (another worker)."""
        with self._cv:
            for s in slices:
                s.job.busy = False
            self._cv.notify_all()

    def _next_pass(self) -> list[_Slice] | None:
        """The next pass (None once closed): the oldest job's next texts and compatible ones."""
        with self._cv:
            while not any(not j.busy for j in self._queue) and not self._closed:
                self._cv.wait()
            if self._closed:
                return None
        if self.wait_s:
            time.sleep(self.wait_s)  # let requests that arrive together share the pass
        with self._cv:
            self._drop_stopped()
            slices: list[_Slice] = []
            budget = self.max_batch_tokens
            for job in self._queue:
                full = len(slices) >= self.max_batch_requests
                if job.busy or (slices and (full or job.key != slices[0].job.key)):
                    continue
                lo = hi = job.sent
                while hi < len(job.texts) and (job.cost(hi) <= budget or not (slices or hi > lo)):
                    budget -= job.cost(hi)
                    hi += 1
                if hi > lo:
                    if lo == 0:
                        self.observer.waited(time.monotonic() - job.enqueued)
                    slices.append(_Slice(job, lo, hi))
                    job.sent, job.busy = hi, True
            # a job with texts left goes behind the others: a large request cannot hold up
            # the small ones queued after it for all of its passes
            served = {id(s.job) for s in slices}
            rest = [j for j in self._queue if j.waiting and id(j) not in served]
            self._queue = deque(rest + [s.job for s in slices if s.job.waiting])
            self.observer.queued(sum(j.waiting for j in self._queue))
            return slices

    def _drop_stopped(self) -> None:
        """Drop what is left of jobs whose caller left, whose deadline passed, or that failed."""
        now = time.monotonic()
        for job in self._queue:
            if job.stopped is None and job.deadline is not None and now > job.deadline:
                job.stopped = "deadline"
                job.settle(error=DeadlineError(job.deadline - job.enqueued))
            if job.stopped is not None:
                self.observer.dropped(job.stopped, job.waiting)
        self._queue = deque(j for j in self._queue if j.stopped is None)

    def _run(self, slices: list[_Slice]) -> None:
        texts = [t for s in slices for t in s.job.texts[s.lo : s.hi]]
        pairs = None
        if slices[0].job.pairs is not None:
            pairs = [p for s in slices for p in (s.job.pairs or [])[s.lo : s.hi]]
        timings: dict[str, float] = {}
        jobs = [s.job for s in slices]
        try:
            results, errors, kept = passes.collect(
                self.model, texts, pairs, slices[0].job.options, timings, lambda: _all_left(jobs)
            )
            if any(e.index is None for e in errors):
                raise next(e for e in errors if e.index is None)
        except StoppedError:  # every caller of this pass left or ran out of time: drop it all
            for s in slices:
                self._drop_abandoned(s)
            return
        except Exception as e:  # an error of the whole call: every job of the pass learns of it
            if isinstance(e, ForwardTimeoutError):  # the model may stay stuck: say so, for good
                self.fault = e
                self.observer.wedged(e)
            for s in slices:
                self._fail(s.job, e)
            return
        self.observer.ran(len(texts), passes.seen_tokens(results), timings)
        start = 0
        for s in slices:
            end = start + s.hi - s.lo
            origin = s.job.origin[s.lo : s.hi]
            mine = [e.at(origin[_index(e) - start]) for e in errors if start <= _index(e) < end]
            if mine and not s.job.collect:
                self._fail(s.job, min(mine, key=_index))
            elif s.job.stopped is None:
                positions = [p for p, i in enumerate(kept) if start <= i < end]
                s.job.errors += mine
                s.job.kept += [origin[kept[p] - start] for p in positions]
                self._deliver(
                    s.job, passes.take(results, positions) if positions else None, s.hi - s.lo
                )
            start = end

    def _drop_abandoned(self, s: _Slice) -> None:
        job = s.job
        with self._cv:
            if job.stopped is None:  # not cancelled, so its deadline passed mid-pass
                job.stopped = "deadline"
                job.settle(error=DeadlineError(float((job.deadline or 0) - job.enqueued)))
        self.observer.dropped(job.stopped or "deadline", s.hi - s.lo)

    def _deliver(self, job: _Job, part: Any, n: int) -> None:
        if part is not None:
            job.parts.append(part)
        job.done += n
        if job.done < len(job.texts):
            return
        results = passes.join(job.parts, job.kept) if job.parts else None
        if not job.collect:
            job.settle(value=results)
            return
        errors = tuple(sorted(job.errors, key=_index))
        job.settle(value=Collected(results, errors, tuple(job.kept)))

    def _fail(self, job: _Job, error: BaseException) -> None:
        with self._cv:
            job.stopped = job.stopped or "failed"
        job.settle(error=error)


def _all_left(jobs: list[_Job]) -> bool:
    """True when no job of a pass still wants its answer: each was stopped or is past its
    deadline (asked between forward batches, from the worker thread)."""
    now = time.monotonic()
    return all(j.stopped is not None or (j.deadline is not None and now > j.deadline) for j in jobs)


def _index(e: InputError) -> int:
    return e.index if e.index is not None else -1
