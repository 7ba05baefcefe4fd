"""Collect and assemble, one strategy per level, chosen once per call (`strategy`).

A strategy says how to collect a batch's outputs for one input (a Collector) and how to turn
the collectors into the call's results. Pure functions of the plans, the collectors, the
resolved Request and the call's Meta.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from .align import Collector, SentenceCollector, TokenCollector, WindowCollector
from .pooling import combine_layers, l2_normalize, merge_subwords, truncate_dims, word_spans
from .reports import ReportTable
from .types import (
    DocPlan,
    InputReport,
    Meta,
    Request,
    SentenceEmbeddings,
    TokenEmbedding,
    Tokenized,
    WindowEmbeddings,
    WordEmbedding,
)


class Strategy(Protocol):
    def collector(self, plan: DocPlan, request: Request, hidden: int) -> Collector: ...

    def assemble(
        self, plans: list[DocPlan], collectors: list[Collector], request: Request, meta: Meta
    ) -> Any: ...


@dataclass(frozen=True)
class Pooled:
    """level="sentence": pool each input window by window; one SentenceEmbeddings per call."""

    def collector(self, plan: DocPlan, request: Request, hidden: int) -> Collector:
        return SentenceCollector(
            plan, request.pooling or "mean", request.combine, request.special_tokens
        )

    def assemble(
        self, plans: list[DocPlan], collectors: list[Collector], request: Request, meta: Meta
    ) -> SentenceEmbeddings:
        return sentences(plans, collectors, request, meta)


@dataclass(frozen=True)
class PerInput:
    """level="token" | "word" | "hidden_states": every token's features, one result per input."""

    def collector(self, plan: DocPlan, request: Request, hidden: int) -> Collector:
        return TokenCollector(plan, len(request.layers), hidden, request.attentions)

    def assemble(
        self, plans: list[DocPlan], collectors: list[Collector], request: Request, meta: Meta
    ) -> list[TokenEmbedding] | list[WordEmbedding]:
        return [per_input(p, c, request, meta) for p, c in zip(plans, collectors)]  # type: ignore[return-value]


@dataclass(frozen=True)
class PerWindow:
    """level="window": one vector per window of each input, one result per input."""

    def collector(self, plan: DocPlan, request: Request, hidden: int) -> Collector:
        return WindowCollector(
            plan, request.pooling or "mean", request.combine, request.special_tokens
        )

    def assemble(
        self, plans: list[DocPlan], collectors: list[Collector], request: Request, meta: Meta
    ) -> list[WindowEmbeddings]:
        return [windows_of(p, c, request, meta) for p, c in zip(plans, collectors)]


def strategy(request: Request) -> Strategy:
    """The one place that looks at the level to decide how to collect and assemble."""
    if request.level == "sentence":
        return Pooled()
    return PerWindow() if request.level == "window" else PerInput()


def windows_of(
    plan: DocPlan, collector: Collector, request: Request, meta: Meta
) -> WindowEmbeddings:
    """One input's window vectors (W, D) and the character span each window owns."""
    assert isinstance(collector, WindowCollector)
    spans = []
    for w in plan.windows:
        owned = slice(w.put, w.put + w.take[1] - w.take[0])
        real = plan.offsets[owned][plan.sequence_ids[owned] == 0]  # (n, 2) the text's tokens
        spans.append((int(real[:, 0].min()), int(real[:, 1].max())) if len(real) else (0, 0))
    return WindowEmbeddings(
        text=plan.encoding.a.text,
        spans=np.asarray(spans, dtype=np.int64).reshape(-1, 2),
        vectors=finish(collector.result(), request),
        report=report(plan),
        meta=meta,
    )


def sentences(
    plans: list[DocPlan], collectors: list[Collector], request: Request, meta: Meta
) -> SentenceEmbeddings:
    """One SentenceEmbeddings for the whole call: pooled vectors (N, D) and a report each."""
    pooled = [c.result() for c in collectors if isinstance(c, SentenceCollector)]
    vectors = finish(np.stack(pooled), request)  # (N, D) or (N, K, H)
    pairs = tuple(p.encoding.b.text for p in plans if p.encoding.b is not None) or None
    return SentenceEmbeddings(
        texts=tuple(p.encoding.a.text for p in plans),
        text_pairs=pairs,
        vectors=vectors,
        reports=tuple(report(p) for p in plans),
        meta=meta,
    )


def per_input(
    plan: DocPlan, collector: Collector, request: Request, meta: Meta
) -> TokenEmbedding | WordEmbedding:
    """One input's token (or word) vectors, with the layout that locates each in the text."""
    assert isinstance(collector, TokenCollector)
    feats = combine_layers(collector.features, request.combine)  # (T, D) or (T, K, H)
    pair = plan.encoding.b.text if plan.encoding.b is not None else None
    if request.level == "word":
        return _words(plan, feats, request, pair, meta)
    keep = np.ones(len(plan.ids), dtype=bool) if request.special_tokens else ~plan.special_mask
    vectors = feats[keep]
    if vectors.ndim == 3:
        vectors = vectors.transpose(1, 0, 2)  # (T, K, H) -> (K, T, H)
    attn = collector.attentions
    if attn is not None:
        attn = attn[:, :, keep][:, :, :, keep]  # (layers, heads, T, T)
    return TokenEmbedding(
        text=plan.encoding.a.text,
        text_pair=pair,
        tokens=tuple(t for t, k in zip(plan.tokens, keep) if k),
        ids=plan.ids[keep],
        offsets=plan.offsets[keep],
        word_ids=plan.word_ids[keep],
        sequence_ids=plan.sequence_ids[keep],
        type_ids=plan.type_ids[keep],
        special_mask=plan.special_mask[keep],
        vectors=finish(vectors, request),
        attentions=attn,
        report=report(plan),
        meta=meta,
    )


def _words(
    plan: DocPlan, feats: np.ndarray, request: Request, pair: str | None, meta: Meta
) -> WordEmbedding:
    spans = word_spans(plan.word_ids, plan.sequence_ids)  # (W, 2)
    vectors = merge_subwords(feats, spans, request.subword or "first")
    if vectors.ndim == 3:
        vectors = vectors.transpose(1, 0, 2)  # (W, K, H) -> (K, W, H)
    segs = (plan.encoding.a, plan.encoding.b)
    words, offsets, seq_ids = [], [], []
    for lo, hi in spans.tolist():
        seg = segs[int(plan.sequence_ids[lo])]
        assert seg is not None
        start, end = int(plan.offsets[lo, 0]), int(plan.offsets[hi - 1, 1])
        given = seg.words[int(plan.word_ids[lo])] if seg.words is not None else None
        words.append(given if given is not None else seg.text[start:end])
        offsets.append((start, end))
        seq_ids.append(int(plan.sequence_ids[lo]))
    return WordEmbedding(
        text=plan.encoding.a.text,
        text_pair=pair,
        words=tuple(words),
        offsets=np.asarray(offsets, dtype=np.int64).reshape(-1, 2),
        sequence_ids=np.asarray(seq_ids, dtype=np.int64),
        token_spans=spans,
        vectors=finish(vectors, request),
        report=report(plan),
        meta=meta,
    )


def finish(vectors: np.ndarray, request: Request, owned: bool = False) -> np.ndarray:
    """Truncate (dimensions), then normalize, then cast: a truncated vector is unit length too.
    The result never shares memory with `vectors` unless `owned` says the caller made them
    for this result: then they are normalized in place (no copy of a corpus's vectors)."""
    if request.dimensions is not None:
        cut = truncate_dims(vectors, request.dimensions)
        if not cut.flags.c_contiguous:  # a copy of the kept dimensions only
            cut, owned = np.ascontiguousarray(cut), True
        vectors = cut
    if request.normalize:
        vectors, owned = l2_normalize(vectors, out=vectors if owned else None), True
    return vectors.astype(np.float16 if request.dtype == "float16" else np.float32, copy=not owned)


def report(plan: DocPlan) -> InputReport:
    e = plan.encoding
    seen = sum(len(w) for w in plan.windows)
    return InputReport(
        e.index,
        plan.n_tokens,
        len(plan.windows),
        plan.truncated,
        e.unk_count,
        e.unk_chars,
        e.n_chars,
        seen,
    )


def reindex(out: Any, indices: tuple[int, ...]) -> Any:
    """Results whose reports name the caller's indices (after inputs were left out)."""
    if isinstance(out, SentenceEmbeddings):
        if isinstance(out.reports, ReportTable):
            return replace(out, reports=out.reports.reindexed(indices))
        reports = tuple(replace(r, index=i) for r, i in zip(out.reports, indices))
        return replace(out, reports=reports)
    return [replace(r, report=replace(r.report, index=i)) for r, i in zip(out, indices)]


def tokenized(plan: DocPlan) -> Tokenized:
    """`Model.tokenize`'s result for one input: its output sequence and report."""
    return Tokenized(
        plan.encoding.a.text,
        plan.tokens,
        plan.ids,
        plan.offsets,
        plan.word_ids,
        plan.special_mask,
        report(plan),
    )
