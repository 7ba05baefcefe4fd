"""The columnar sentence path: level="sentence" for single texts, a chunk at a time.

texts ─► columns.tokenize ─► (long rows only: windows.plan) ─► plan_batches ─► pad_rows
      ─► backend ─► pool_rows on the padded batch ─► vectors (N, *F) + a ReportTable

The common case, a short text that fits one window, never becomes an Encoding, a DocPlan or a
collector: its tokens stay in the chunk's arrays, its batch row is filled by array operations
and it is pooled with the rest of its batch. A row over the model's limit takes the per-input
path (windows.plan and a SentenceCollector) inside the same batches, so results, reports and
batch composition are those of the per-input path (tests/test_columnar.py holds them equal).

The chunk pipeline: chunk k+1 is tokenized in a thread while chunk k runs through the model
(runner.overlapped, as the per-input path does), and the backend's workers run batch b+1 while
batch b is pooled (runner._forward_all).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import columns
from .align import SentenceCollector
from .batching import LazyBatch, plan_batches
from .errors import EmptyInputError, InputError, StoppedError
from .pooling import combine_layers
from .reports import ReportTable
from .request import want as want_of
from .runner import CHUNK, overlapped
from .tokenize import _why_empty
from .types import Batch, DocPlan, ModelOutput, Request


def eligible(request: Request, pairs: Any, tokenizer: Any) -> bool:
    """Sentence vectors of single texts, with a fast (Rust) tokenizer: the common case."""
    return (
        hasattr(tokenizer.hf, "backend_tokenizer")
        and request.level == "sentence"
        and pairs is None
        and not request.split_words
        and not request.attentions
    )


@dataclass
class Chunk:
    """One chunk's kept rows: the caller's position of each, their tokens, and the plans of
    the rows over the model's limit (keyed by kept row)."""

    index: np.ndarray  # (K,) positions in the checked input list
    texts: list[str]
    cols: columns.TokenColumns  # (K,) rows
    long: dict[int, DocPlan]


@dataclass
class Result:
    """The vectors of the inputs that worked, their reports, and the inputs left out.

    `vectors` (N, *F) has a row for each of the N checked inputs, made when the first row is
    pooled; the rows of inputs left out stay unset (`kept()` drops them)."""

    n: int
    vectors: np.ndarray | None = None
    reports: list[ReportTable] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    long_plans: list[DocPlan] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def put(self, at: np.ndarray, pooled: np.ndarray) -> None:
        """Rows `at` (S,) of the vectors are `pooled` (S, *F); the forward threads put their
        batches' rows at once (never the same rows)."""
        if self.vectors is None:
            with self._lock:
                if self.vectors is None:
                    self.vectors = np.empty((self.n, *pooled.shape[1:]), dtype=np.float32)
        self.vectors[at] = pooled

    def kept(self, index: np.ndarray) -> np.ndarray:
        """(len(index), *F): the rows of the inputs that worked, `index` (ascending) their
        positions; no copy when every input worked."""
        assert self.vectors is not None
        return self.vectors if len(index) == self.n else self.vectors[index]


def run(
    runner: Any,
    texts: list[str],
    request: Request,
    clock: Any,
    collect: bool,
    bar: Any,
    stop: Callable[[], bool] | None = None,
) -> Result:
    """Embed `texts` (checked strings) chunk by chunk; with `collect`, bad inputs are recorded
    in Result.errors and left out, otherwise the first one's error is raised."""
    result = Result(len(texts))

    def prepare(lo: int, hi: int) -> Chunk:
        with clock.stage("tokenize", cpu=False):
            return _prepare(runner, texts[lo:hi], lo, request, result.errors if collect else None)

    def forward(chunk: Chunk, lo: int, hi: int) -> None:
        _forward(runner, chunk, request, clock, bar, stop, result)
        with clock.stage("report"):
            result.reports.append(_reports(chunk, runner.tokenizer.template.n_special(False)))
            result.texts += chunk.texts
            result.long_plans += chunk.long.values()
        bar.update(hi - lo - len(chunk.index))  # inputs left out count too

    overlapped(len(texts), CHUNK, prepare, forward)
    return result


def _prepare(
    runner: Any, texts: list[str], lo: int, request: Request, errors: list[InputError] | None
) -> Chunk:
    """Tokenize a chunk into columns; leave out (or raise for) empty rows and long rows the
    policy refuses; plan the long rows the per-input way."""
    tok = runner.tokenizer
    cols = columns.tokenize(runner.columnar_tokenizer(), texts, tok.unk_id)
    empty = np.flatnonzero(cols.lengths == 0).tolist()
    for r in empty:
        err = EmptyInputError(_why_empty(texts[r]), lo + r)
        if errors is None:
            raise err
        errors.append(err)
    room = request.max_length - tok.template.n_special(False)
    keep = np.flatnonzero(cols.lengths > 0)
    long: dict[int, DocPlan] = {}
    dropped: list[int] = []
    for k in np.flatnonzero(cols.lengths[keep] > room).tolist():
        r = int(keep[k])
        try:
            enc = tok.encode([texts[r]], start_index=lo + r)[0]
            long[k - len(dropped)] = runner._plan(enc, request, k - len(dropped))
        except InputError as err:
            if errors is None:
                raise
            errors.append(err)
            dropped.append(k)
    if dropped:
        keep = np.delete(keep, dropped)
    kept_texts = [texts[r] for r in keep.tolist()]
    return Chunk(lo + keep, kept_texts, cols.take(keep), long)


@dataclass(frozen=True)
class Entries:
    """The chunk's model inputs in the per-input path's order: one per short row, one per
    window of a long row (so batches are made exactly as that path makes them)."""

    row: np.ndarray  # (E,) kept row of each entry
    length: np.ndarray  # (E,) tokens the model sees, special tokens included
    window: dict[int, Any]  # entry -> Window, for the long rows' entries

    def is_window(self, order: np.ndarray) -> np.ndarray:
        """(B,) bool: which of the entries `order` (B,) are windows of long rows."""
        if not self.window:  # the common case: a chunk of short rows only
            return np.zeros(len(order), dtype=bool)
        return np.fromiter((e in self.window for e in order.tolist()), bool, len(order))


def entries(chunk: Chunk, n_special: int) -> Entries:
    """Rows of 3 and 5 content tokens, 2 special tokens each, no long row:

    >>> cols = columns.TokenColumns(None, None, np.array([3, 5]), None, None)
    >>> e = entries(Chunk(np.arange(2), ["a", "b"], cols, {}), 2)
    >>> e.row.tolist(), e.length.tolist()
    ([0, 1], [5, 7])
    """
    counts = np.ones(len(chunk.index), dtype=np.int64)  # (K,) entries per row
    for r, plan in chunk.long.items():
        counts[r] = len(plan.windows)
    row = np.repeat(np.arange(len(counts)), counts)  # (E,)
    length = chunk.cols.lengths[row] + n_special  # (E,)
    window: dict[int, Any] = {}
    if chunk.long:
        first = np.cumsum(counts) - counts  # (K,) the first entry of each row
        for r, plan in chunk.long.items():
            for k, w in enumerate(plan.windows):
                window[int(first[r]) + k] = w
                length[first[r] + k] = len(w)
    return Entries(row, length, window)


def _batches(
    runner: Any, chunk: Chunk, ent: Entries, request: Request, clock: Any, stop: Any
) -> Iterator[LazyBatch]:
    """The chunk's batches, planned here and padded on the forward thread that runs each."""
    with clock.stage("plan"):
        pad_id = runner.tokenizer.hf.pad_token_id or 0
        template = runner.tokenizer.template
        plans = plan_batches(ent.length, request.batch_tokens, request.max_batch_size)
    for n, order in enumerate(plans):
        if stop is not None and stop():
            raise StoppedError(n)
        shape = (len(order), int(ent.length[order].max()))

        def make(order: np.ndarray = order) -> Batch:
            with clock.stage("plan"):
                return _pad(chunk, ent, order, template, pad_id)

        yield LazyBatch(order, shape, make)


def _pad(chunk: Chunk, ent: Entries, order: np.ndarray, template: Any, pad_id: int) -> Batch:
    """Entries `order` (B,) as one Batch: short rows by columns.pad_rows, windows copied in."""
    is_window = ent.is_window(order)  # (B,)
    width = int(ent.length[order].max())
    short = np.flatnonzero(~is_window)  # (S,) batch rows that are short inputs
    if not is_window.any():
        ids, mask, types = columns.pad_rows(chunk.cols, ent.row[order], template, pad_id)
        return Batch(order, ids, mask, types)
    ids = np.full((len(order), width), pad_id, dtype=np.int64)  # (B, L)
    mask = np.zeros((len(order), width), dtype=np.int64)  # (B, L)
    types = np.zeros((len(order), width), dtype=np.int64)  # (B, L)
    if len(short):
        s_ids, s_mask, s_types = columns.pad_rows(
            chunk.cols, ent.row[order[short]], template, pad_id
        )
        w = s_ids.shape[1]
        ids[short, :w], mask[short, :w], types[short, :w] = s_ids, s_mask, s_types
    for b in np.flatnonzero(is_window).tolist():
        win = ent.window[int(order[b])]
        ids[b, : len(win)], mask[b, : len(win)], types[b, : len(win)] = win.ids, 1, win.type_ids
    return Batch(order, ids, mask, types)


@dataclass
class Pooled:
    """What the forward thread hands back for one batch once its short rows are pooled and
    put: how many, and the output only where windows of long rows still need it."""

    n_short: int
    windows: np.ndarray  # (W,) batch rows that are windows of long rows
    out: ModelOutput | None  # the forward output, kept only when W > 0


def _forward(
    runner: Any, chunk: Chunk, request: Request, clock: Any, bar: Any, stop: Any, result: Result
) -> None:
    """Every batch of the chunk through the model. The forward thread that runs a batch pads
    it, then pools its short rows on the padded output and puts them in `result` at their
    inputs' positions (its output still in that core's cache, and no third thread on the
    cores); the windows of long rows go to their rows' collectors here."""
    template = runner.tokenizer.template
    ent = entries(chunk, template.n_special(False))
    pooling = request.pooling or "mean"
    collectors = {
        r: SentenceCollector(p, pooling, request.combine, request.special_tokens)
        for r, p in chunk.long.items()
    }
    prefix = len(template.prefix)

    def pool(batch: Batch, out: ModelOutput) -> Pooled:  # runs on the forward thread
        with clock.stage("pool"):
            is_window = ent.is_window(batch.order)  # (B,)
            short = np.flatnonzero(~is_window)  # (S,) batch rows
            windows = np.flatnonzero(is_window)  # (W,)
            mask = batch.attention_mask[short] if len(windows) else batch.attention_mask
            if len(short):
                rows = ent.row[batch.order[short]]  # (S,) kept rows they are
                keep = _keep(mask, chunk.cols.lengths[rows], prefix, request)  # (S, L)
                vectors = pool_rows(out, short, keep, pooling, request.combine)  # (S, *F)
                result.put(chunk.index[rows], vectors)
            return Pooled(len(short), windows, out if len(windows) else None)

    batches = _batches(runner, chunk, ent, request, clock, stop)
    want = want_of(request)
    stream = runner._forward_all(batches, want, pool)
    # subtle: `workers` forward threads pad and pool side by side during one wait, so the
    # host seconds they add overlap: the wait's share of them is their sum divided by the
    # threads (all of it with one: lane and caller take turns). A stage that straddles the
    # wait's start could still tip it below 0, hence the floor.
    threads = runner.workers_for(want)
    while True:
        start, before = time.perf_counter(), clock.total("plan") + clock.total("pool")
        got = next(stream, None)
        beside = clock.total("plan") + clock.total("pool") - before
        clock.add("forward", max(0.0, time.perf_counter() - start - beside / threads))
        if got is None:
            break
        batch, pooled = got
        with clock.stage("pool"):
            ends = 0  # long rows whose last window this batch holds
            for b in pooled.windows.tolist():
                win = ent.window[int(batch.order[b])]
                row = int(ent.row[batch.order[b]])
                collectors[row].add(win, pooled.out, b)
                ends += win.k == len(chunk.long[row].windows) - 1
            bar.update(pooled.n_short + ends)
    for r, c in collectors.items():
        result.put(chunk.index[[r]], c.result()[None])


def _keep(mask: np.ndarray, n: np.ndarray, prefix: int, request: Request) -> np.ndarray:
    """(S, L) bool: the positions a short row pools, its content tokens [prefix, prefix + n)
    or, with special_tokens=True, every real position.

    >>> r = Request.__new__(Request); object.__setattr__(r, "special_tokens", False)
    >>> _keep(np.array([[1, 1, 1, 1, 0]]), np.array([2]), 1, r).astype(int).tolist()
    [[0, 1, 1, 0, 0]]
    """
    if request.special_tokens:
        return mask.astype(bool)
    pos = np.arange(mask.shape[1])[None, :]  # (1, L)
    return (pos >= prefix) & (pos < prefix + n[:, None])  # (S, L)


def pool_rows(
    out: ModelOutput, rows: np.ndarray, keep: np.ndarray, pooling: str, combine: str
) -> np.ndarray:
    """Pool batch rows `rows` (S,) of a forward output over the positions `keep` (S, L):
    (S, *F) float32, as SentencePool does for one window, on the whole padded batch at once.

    >>> h = np.arange(6, dtype=np.float32).reshape(1, 3, 1, 2)  # (B, L, K, H)
    >>> out = ModelOutput(h, None, None)
    >>> pool_rows(out, np.array([0]), np.array([[True, True, False]]), "mean", "concat").tolist()
    [[1.0, 2.0]]
    >>> pool_rows(out, np.array([0]), np.array([[True, True, False]]), "max", "concat").tolist()
    [[2.0, 3.0]]
    """
    if pooling == "pooler":
        assert out.pooler is not None
        return out.pooler[rows].astype(np.float32)  # (S, H)
    assert out.hidden is not None
    whole = np.array_equal(rows, np.arange(len(out.hidden)))  # every row, in order: no copy
    h = out.hidden if whole else out.hidden[rows]  # (S, L, K, H)
    s, length = h.shape[:2]
    x = combine_layers(h.reshape(s * length, *h.shape[2:]), combine)  # (S*L, *F)
    feat = x.shape[1:]
    x = x.reshape(s, length, -1)  # (S, L, F)
    if pooling == "cls":
        return x[:, 0].reshape(s, *feat)
    if pooling == "max":
        masked = np.where(keep[:, :, None], x, -np.inf)  # (S, L, F)
        return masked.max(axis=1).astype(np.float32).reshape(s, *feat)
    total = np.matmul(keep[:, None, :].astype(x.dtype), x)[:, 0]  # (S, F) masked sums
    count = keep.sum(axis=1, keepdims=True, dtype=x.dtype)  # (S, 1)
    scale = np.sqrt(count) if pooling == "mean_sqrt_len" else count
    return np.divide(total, scale, out=total).astype(np.float32, copy=False).reshape(s, *feat)


def _reports(chunk: Chunk, n_special: int) -> ReportTable:
    """The chunk's reports as columns; a long row's come from its plan."""
    n_tokens = chunk.cols.lengths + n_special  # (K,) a short row: content + special tokens
    n_windows = np.ones(len(n_tokens), dtype=np.int64)
    truncated = np.zeros(len(n_tokens), dtype=bool)
    seen = n_tokens.copy()  # a short row is seen once, whole
    for r, plan in chunk.long.items():
        n_tokens[r] = plan.n_tokens
        n_windows[r] = len(plan.windows)
        truncated[r] = plan.truncated
        seen[r] = sum(len(w) for w in plan.windows)
    return ReportTable(
        index=chunk.index,
        n_tokens=n_tokens,
        n_windows=n_windows,
        truncated=truncated,
        unk_count=chunk.cols.unk_count,
        unk_chars=chunk.cols.unk_chars,
        n_chars=chunk.texts,
        seen_tokens=seen,
    )
