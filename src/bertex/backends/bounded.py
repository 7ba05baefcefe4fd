"""Forward passes on worker threads, every wait for one bounded in time.

A backend can wedge inside a native call (issue 32: two OpenVINO infer requests that took new
input shapes at once, parked forever at 0% CPU). Nothing in Python can stop such a call, so the
caller never waits for it without a bound: past the bound it writes every thread's stack to
the log (faulthandler), raises ForwardTimeoutError naming the backend, the batch shape and what
to try, and drops the worker threads for good (a wedged one is never handed another batch; the
next call starts fresh ones). The threads are daemons, so a wedged one never holds up exit.

The bound: BERTEX_FORWARD_TIMEOUT / `forward_timeout` when set, else 20x the slowest pass seen
so far and at least 60 s (a first pass at a new shape may compile; a busy machine is slow).
"""

from __future__ import annotations

import faulthandler
import logging
import queue
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from ..batching import LazyBatch
from ..errors import ForwardTimeoutError
from ..types import Batch, ModelOutput, Want

log = logging.getLogger("bertex")

FLOOR_S = 60.0  # the derived bound is never shorter
FACTOR = 20.0  # ... nor shorter than this many times the slowest pass seen


class ForwardPool:
    """The forward threads of one model: `run` forwards batches in order, `workers` at once,
    each wait bounded. `wedged` holds the last ForwardTimeoutError (None while healthy)."""

    def __init__(self, backend: Any, timeout: float | None = None) -> None:
        self.backend = backend
        self.timeout = timeout  # None: derived from the passes seen
        self.slowest = 0.0  # seconds of the slowest pass that returned
        self.wedged: ForwardTimeoutError | None = None
        self._threads: _Threads | None = None  # the shared ones (workers > 1)
        self._lanes: list[_Threads] = []  # idle one-thread lanes (workers == 1)
        self._lock = threading.Lock()

    def limit(self) -> float:
        """Seconds one wait may last now."""
        if self.timeout is not None:
            return self.timeout
        return max(FLOOR_S, FACTOR * self.slowest)

    def run(
        self,
        batches: Iterator[Batch | LazyBatch],
        want: Want,
        workers: int,
        then: Callable[[Batch, ModelOutput], Any] | None = None,
    ) -> Iterator[tuple[Batch | LazyBatch, Any]]:
        """Forward every batch, in order, yielding (batch, output), or (batch, then(batch,
        output)) where `then` is given: it runs on the forward thread right after the pass,
        while the output is still in that core's cache. A LazyBatch is padded on the forward
        thread too (and yielded as itself). With workers > 1 that many run at once
        on the model's shared threads, with at most one more waiting (memory stays bounded;
        the caller takes the results of one while the next computes). With 1, one batch at a
        time on a thread of this call's own (a lane), as if on the caller's thread: two
        callers at once still run two batches at once."""
        if workers > 1:
            yield from self._forward(self._shared(), batches, want, workers + 1, then)
            return
        lane = self._lane()
        try:
            yield from self._forward(lane, batches, want, 1, then)
        finally:
            with self._lock:
                if not lane.abandoned:
                    self._lanes.append(lane)

    def _forward(
        self,
        threads: _Threads,
        batches: Iterator[Batch | LazyBatch],
        want: Want,
        ahead: int,
        then: Callable[[Batch, ModelOutput], Any] | None,
    ) -> Iterator[tuple[Batch | LazyBatch, Any]]:
        pending: deque[tuple[Batch | LazyBatch, Future[Any]]] = deque()
        for batch in batches:
            pending.append((batch, threads.submit(self._timed, batch, want, then)))
            if len(pending) >= ahead:
                yield self._wait(threads, *pending.popleft())
        while pending:
            yield self._wait(threads, *pending.popleft())

    def _timed(
        self,
        item: Batch | LazyBatch,
        want: Want,
        then: Callable[[Batch, ModelOutput], Any] | None,
    ) -> Any:
        batch = item.make() if isinstance(item, LazyBatch) else item
        start = time.perf_counter()
        out = self.backend.forward(batch, want)
        seconds = time.perf_counter() - start
        with self._lock:
            self.slowest = max(self.slowest, seconds)
        return out if then is None else then(batch, out)

    def _wait(
        self, threads: _Threads, batch: Batch | LazyBatch, future: Future[Any]
    ) -> tuple[Batch | LazyBatch, Any]:
        limit = self.limit()
        shape = batch.shape if isinstance(batch, LazyBatch) else batch.input_ids.shape
        try:
            return batch, future.result(timeout=limit)
        except FutureTimeout:
            # subtle: FutureTimeout is the builtin TimeoutError, so a pass, padding or `then`
            # that raised one of its own lands here too: done, it is that call's outcome
            if future.done():
                return batch, future.result()
        except CancelledError:  # another caller's wait ran out and dropped these threads
            raise self.wedged or ForwardTimeoutError(
                self.backend.name, shape, limit, "another call's bound"
            ) from None
        how = (
            "BERTEX_FORWARD_TIMEOUT / forward_timeout"
            if self.timeout is not None
            else (
                f"the bound: {FACTOR:g}x the slowest pass seen, at least {FLOOR_S:g} s; "
                "BERTEX_FORWARD_TIMEOUT sets it"
            )
        )
        error = ForwardTimeoutError(self.backend.name, shape, limit, how)
        log.error("%s\n%s", error, all_stacks())
        with self._lock:
            if self._threads is threads:  # never hand a batch to these threads again
                self._threads = None
            self.wedged = error
        threads.abandon()
        raise error

    def _shared(self) -> _Threads:
        """The model's `workers` forward threads, made once and kept (a server calls embed
        often) until a wait on them runs out; then the next call makes new ones."""
        with self._lock:
            if self._threads is None:
                self._threads = _Threads(self.backend.workers, self.backend.init_worker)
            return self._threads

    def _lane(self) -> _Threads:
        """One thread for one caller: an idle one kept from an earlier call, or a new one."""
        with self._lock:
            if self._lanes:
                return self._lanes.pop()
        return _Threads(1, self.backend.init_worker)


class _Threads:
    """`n` daemon threads taking calls from one queue, like a ThreadPoolExecutor whose threads
    never block interpreter exit (the executor joins its threads at exit: a wedged one would
    hang the process there)."""

    def __init__(self, n: int, init: Callable[[], None]) -> None:
        self._calls: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._init = init
        self._n = max(1, n)
        self.abandoned = False
        for i in range(self._n):
            name = f"bertex-forward_{i}"
            threading.Thread(target=self._loop, name=name, daemon=True).start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self._calls.put((future, fn, args))
        return future

    def abandon(self) -> None:
        """Cancel the calls not started and let every thread that is not stuck end."""
        self.abandoned = True
        while True:
            try:
                call = self._calls.get_nowait()
            except queue.Empty:
                break
            if call is not None:
                call[0].cancel()
        for _ in range(self._n):
            self._calls.put(None)

    def _loop(self) -> None:
        self._init()
        while (call := self._calls.get()) is not None:
            future, fn, args = call
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as e:  # the caller's wait re-raises it
                future.set_exception(e)


def all_stacks() -> str:
    """Every thread's Python stack, as faulthandler writes it (it needs a real file)."""
    with tempfile.TemporaryFile("w+") as f:
        faulthandler.dump_traceback(f, all_threads=True)
        f.seek(0)
        return f.read()
