"""Window outputs -> per-input results: stitch token rows, pool sentences, merge sub-words.

Each window hands over only the rows it owns (windows.plan decided who owns what), so
stitching is a copy into place, and sentence pooling can run on the fly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .pooling import SentencePool, combine_layers
from .types import DocPlan, ModelOutput, Window


class TokenCollector:
    """Gathers one input's token features (T, K, H) and, when asked, its attention maps."""

    def __init__(self, plan: DocPlan, k: int, h: int, attentions: bool) -> None:
        self.plan = plan
        self.features = np.empty((len(plan.ids), k, h), dtype=np.float32)  # (T, K, H)
        self.attentions: np.ndarray | None = None
        self.want_attentions = attentions

    def add(self, window: Window, out: ModelOutput, row: int) -> None:
        lo, hi = window.take
        assert out.hidden is not None
        self.features[window.put : window.put + hi - lo] = out.hidden[row, lo:hi]
        if self.want_attentions and out.attentions is not None:
            n = len(window)
            self.attentions = out.attentions[row, :, :, :n, :n]  # (layers, heads, T, T)


class SentenceCollector:
    """Pools one input's tokens window by window; never holds the whole token matrix."""

    def __init__(self, plan: DocPlan, pooling: str, combine: str, special_tokens: bool) -> None:
        self.plan = plan
        self.pool = SentencePool(pooling)
        self.combine = combine
        self.keep = None if special_tokens else ~plan.special_mask  # (T,) bool; None: all

    def add(self, window: Window, out: ModelOutput, row: int) -> None:
        lo, hi = window.take
        if out.pooler is not None and window.k == 0:
            self.pool.pooler = out.pooler[row]
        if out.hidden is None:
            return
        rows = combine_layers(out.hidden[row, lo:hi], self.combine)  # (n, D) or (n, K, H)
        keep = None if self.keep is None else self.keep[window.put : window.put + hi - lo]
        self.pool.add(rows, keep, starts_sequence=window.put == 0)

    def result(self) -> np.ndarray:
        return self.pool.result()


class WindowCollector:
    """Pools each window's owned tokens on its own: one vector per window (level="window")."""

    def __init__(self, plan: DocPlan, pooling: str, combine: str, special_tokens: bool) -> None:
        self.plan = plan
        self.pools = [SentencePool(pooling) for _ in plan.windows]
        self.combine = combine
        self.keep = np.ones(len(plan.ids), dtype=bool) if special_tokens else ~plan.special_mask

    def add(self, window: Window, out: ModelOutput, row: int) -> None:
        lo, hi = window.take
        pool = self.pools[window.k]
        if out.pooler is not None:
            pool.pooler = out.pooler[row]  # (H,) this window's own pooler output
        if out.hidden is None:
            return
        rows = combine_layers(out.hidden[row, lo:hi], self.combine)  # (n, D)
        keep = self.keep[window.put : window.put + hi - lo]
        pool.add(rows, keep, starts_sequence=False)
        pool.first = combine_layers(out.hidden[row, :1], self.combine)[0]  # the window's [CLS]

    def result(self) -> np.ndarray:
        return np.stack([p.result() for p in self.pools])  # (W, D)


Collector = TokenCollector | SentenceCollector | WindowCollector


def dispatch(
    out: ModelOutput, order: np.ndarray, windows: Sequence[Window], collectors: Sequence[Collector]
) -> None:
    """Hand each row of a batch's output to the collector of its window's input."""
    for row, w in enumerate(order.tolist()):
        window = windows[w]
        collectors[window.doc].add(window, out, row)
