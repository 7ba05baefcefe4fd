"""Run the stages for one resolved Request:

texts ─► tokenize ─► windows.plan ─► batching ─► backend ─► collectors (align/pooling)

`Runner.run` returns the plans and filled collectors of the inputs that worked and, when the
caller collects errors instead of raising them, one InputError per input that did not.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from . import batching, windows
from .align import Collector, dispatch
from .assemble import Strategy
from .backends import Backend
from .backends.bounded import ForwardPool
from .batching import LazyBatch
from .clock import Clock
from .errors import InputError, InvalidTextError, StoppedError
from .request import want as want_of
from .tokenize import TextTokenizer
from .types import Batch, DocPlan, Encoding, ModelOutput, Request, Want

CHUNK = 4096  # inputs tokenized at once; the next chunk is tokenized while this one runs
T = TypeVar("T")  # what one span's prepare gives its forward


@dataclass
class Ran:
    """The inputs that worked (plans and collectors, in the caller's order) and the failures."""

    plans: list[DocPlan] = field(default_factory=list)
    collectors: list[Collector] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)


class Runner:
    """Owns the tokenizers, the backend and the forward threads of one model."""

    def __init__(
        self,
        tokenizer: TextTokenizer,
        split_tokenizer: Any,  # () -> TextTokenizer for pre-split words, made on first use
        backend: Backend,
        hidden_size: int,
        forward_timeout: float | None = None,  # seconds; None: derived (backends/bounded.py)
    ) -> None:
        self.tokenizer = tokenizer
        self.backend = backend
        self.forwards = ForwardPool(backend, forward_timeout)
        self.hidden_size = hidden_size
        self._split_factory = split_tokenizer
        self._split: TextTokenizer | None = None
        self._lock = threading.Lock()
        self.id_to_token = {i: t for t, i in tokenizer.hf.get_vocab().items()}
        self.columnar = True  # sentence vectors by the columnar path (False: per input)
        self._fast: Any = None

    def columnar_tokenizer(self) -> Any:
        """The Rust tokenizer the columnar path calls, a private copy and its plain ASCII twin
        (columns.ColumnTokenizer), made on first use."""
        with self._lock:
            if self._fast is None:
                from .columns import fast_tokenizer

                self._fast = fast_tokenizer(self.tokenizer.hf)
            return self._fast

    def tokenizer_for(self, split_words: bool) -> TextTokenizer:
        if not split_words or self._split_factory is None:
            return self.tokenizer
        with self._lock:
            if self._split is None:
                self._split = self._split_factory()
            return self._split

    def prepare(
        self, texts: list[Any], pairs: list[str] | None, request: Request, ran: Ran | None, lo: int
    ) -> list[DocPlan]:
        """Tokenize and plan texts[i] (caller's index lo + i). With `ran`, a bad input is
        recorded there and left out; without, its InputError is raised."""
        tok = self.tokenizer_for(request.split_words)
        if ran is None:
            encodings = tok.encode(texts, pairs, split_words=request.split_words, start_index=lo)
            return [self._plan(e, request, doc) for doc, e in enumerate(encodings)]
        plans: list[DocPlan] = []
        for e in _encode_each(tok, texts, pairs, request.split_words, lo, ran.errors):
            try:
                plans.append(self._plan(e, request, len(plans)))
            except InputError as err:
                ran.errors.append(err)
        return plans

    def _plan(self, e: Encoding, request: Request, doc: int) -> DocPlan:
        plan = windows.plan(
            e,
            self.tokenizer.template,
            self.id_to_token,
            request.max_length,
            request.stride,
            request.long,
            doc=doc,
        )
        if request.attentions and plan.windowed:
            raise InvalidTextError(
                f"{plan.n_tokens} tokens need {len(plan.windows)} windows, and attention maps "
                "exist within one window; pass long='truncate' or a shorter text",
                e.index,
            )
        return plan

    def run(
        self,
        texts: list[Any],
        pairs: list[str] | None,
        request: Request,
        strategy: Strategy,
        clock: Clock,
        collect: bool,
        progress: bool = False,
        stop: Callable[[], bool] | None = None,
    ) -> Ran:
        """Tokenize and plan chunk k+1 in a background thread while chunk k runs through the
        model (the tokenizer and the backends release the GIL), so memory stays bounded for any
        number of inputs. Chunks are CHUNK inputs: measured on 2 cores, chunks of 256-1,024
        were 5-25% slower (a smaller pool to sort by length, and a third thread competing with
        two busy compute threads), so a chunk is large and overlap starts past 4,096 inputs."""
        ran = Ran()
        sink = ran if collect else None
        bar = _bar(len(texts), progress)

        def prepare(lo: int, hi: int) -> list[DocPlan]:
            with clock.stage("tokenize", cpu=False):
                chunk_pairs = pairs[lo:hi] if pairs is not None else None
                return self.prepare(texts[lo:hi], chunk_pairs, request, sink, lo)

        def forward(chunk: list[DocPlan], lo: int, hi: int) -> None:
            with clock.stage("forward", cpu=False):  # the model, and the collectors it fills
                ran.collectors += self._forward_chunk(chunk, request, strategy, bar.update, stop)
                ran.plans += chunk
            bar.update(hi - lo - len(chunk))  # inputs left out count too

        with bar:
            overlapped(len(texts), CHUNK, prepare, forward)
        return ran

    def _forward_chunk(
        self,
        plans: list[DocPlan],
        request: Request,
        strategy: Strategy,
        done: Any = None,  # (n) -> None: n more inputs are complete
        stop: Callable[[], bool] | None = None,
    ) -> list[Collector]:
        collectors = [strategy.collector(p, request, self.hidden_size) for p in plans]
        flat = [w for p in plans for w in p.windows]
        pad_id = self.tokenizer.hf.pad_token_id or 0
        batches = batching.batches(flat, request.batch_tokens, request.max_batch_size, pad_id)
        for batch, out in self._forward_all(_stoppable(batches, stop), want_of(request)):
            dispatch(out, batch.order, flat, collectors)
            if done is not None:  # an input is complete when its last window is
                last = [flat[w].k == len(plans[flat[w].doc].windows) - 1 for w in batch.order]
                done(sum(last))
        return collectors

    def _forward_all(
        self,
        batches: Iterator[Batch | LazyBatch],
        want: Want,
        then: Callable[[Batch, ModelOutput], Any] | None = None,
    ) -> Iterator[tuple[Batch | LazyBatch, Any]]:
        """Forward every batch, in order, on the forward threads (backends/bounded.py: every
        wait bounded), each output passed through `then` on its forward thread when given. A
        backend with `workers` > 1 runs that many batches at once (the backends release the
        GIL). Attention maps run one batch at a time (large outputs)."""
        yield from self.forwards.run(batches, want, self.workers_for(want), then)

    def workers_for(self, want: Want) -> int:
        """Batches run at once for `want`: the backend's workers, one for attention maps."""
        return 1 if want.attentions else max(1, self.backend.workers)


def overlapped(
    n: int,
    size: int,
    prepare: Callable[[int, int], T],
    forward: Callable[[T, int, int], None],
) -> None:
    """forward(prepare(lo, hi), lo, hi) for each span of `size` of n inputs, in order, span
    k+1 prepared on a thread while span k is forwarded (the tokenizer and the backends
    release the GIL): at most two spans are held at once, so memory stays bounded for any n.
    One span: no thread. The runner and the columnar path both run their chunks this way.

    >>> seen = []
    >>> overlapped(5, 2, lambda lo, hi: list(range(lo, hi)), lambda c, lo, hi: seen.append(c))
    >>> seen
    [[0, 1], [2, 3], [4]]
    """
    spans = [(lo, min(lo + size, n)) for lo in range(0, n, size)]
    if len(spans) <= 1:  # nothing to overlap
        for span in spans:
            forward(prepare(*span), *span)
        return
    with ThreadPoolExecutor(1, thread_name_prefix="bertex-tokenize") as pool:
        upcoming = pool.submit(prepare, *spans[0])
        for k, span in enumerate(spans):
            chunk = upcoming.result()
            if k + 1 < len(spans):
                upcoming = pool.submit(prepare, *spans[k + 1])
            forward(chunk, *span)


def _encode_each(
    tok: TextTokenizer,
    texts: list[Any],
    pairs: list[str] | None,
    split: bool,
    lo: int,
    errors: list[InputError],
) -> list[Encoding]:
    """Encode a chunk, leaving out (and recording) each input the tokenizer refuses.

    One refused input costs one more encode call of the chunk; inputs that every tokenizer
    refuses (empty after tokenization) are rare, so this stays a tokenizer pass or two."""
    keep = list(range(len(texts)))
    while keep:
        try:
            encs = tok.encode(
                [texts[i] for i in keep],
                [pairs[i] for i in keep] if pairs is not None else None,
                split_words=split,
                start_index=0,
            )
        except InputError as e:
            if e.index is None:
                raise
            bad = keep.pop(e.index)
            errors.append(e.at(lo + bad))
            continue
        return [_reindex(e, lo + i) for e, i in zip(encs, keep)]
    return []


def _reindex(e: Encoding, index: int) -> Encoding:
    return replace(e, index=index)


def _stoppable(batches: Iterator[Batch], stop: Callable[[], bool] | None) -> Iterator[Batch]:
    """Ask `stop()` before each batch is handed to the backend (a server's caller went away,
    or its deadline passed): the batches not yet started are never run."""
    for n, batch in enumerate(batches):
        if stop is not None and stop():
            raise StoppedError(n)
        yield batch


def _bar(total: int, show: bool) -> Any:
    """A tqdm progress bar over inputs (stderr), or a silent stand-in."""
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="text", disable=not show, desc="bertex")
