"""Windows -> padded batches: sort by length, fill up to a token budget, keep the permutation.

Sorting keeps padding small (a batch holds windows of similar length); the budget bounds the
memory of one forward pass whatever the lengths. Each Batch carries `order`, the indices of its
windows in the caller's list, so results go back to the caller's order without loop state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .types import Batch, Window


@dataclass(frozen=True, eq=False)
class LazyBatch:
    """A Batch padded by the forward thread that runs it (`make`), not by the caller: that
    thread's core has just finished its last pass, while the caller's shares the cores with
    the passes running."""

    order: np.ndarray  # (B,) int64 into the caller's entries
    shape: tuple[int, int]  # (B, L) of the padded batch
    make: Callable[[], Batch]


def plan_batches(
    lengths: Sequence[int] | np.ndarray, budget: int, max_size: int
) -> list[np.ndarray]:
    """Group window indices into batches whose padded size (count x longest) fits `budget`.

    Longest first, so the first batch shows the worst-case memory at once.

    >>> [b.tolist() for b in plan_batches([3, 9, 4, 8], budget=16, max_size=8)]
    [[1], [3, 2], [0]]
    >>> [b.tolist() for b in plan_batches([3, 9, 4, 8], budget=100, max_size=2)]
    [[1, 3], [2, 0]]
    """
    lengths = np.asarray(lengths, dtype=np.int64)  # (N,)
    order = np.argsort(-lengths, kind="stable")  # (N,) longest first
    widths = lengths[order].tolist()
    batches: list[np.ndarray] = []
    i = 0
    # sorted longest first, a batch's first window sets its width: it takes as many windows
    # as fit the budget at that width (at least one, at most max_size)
    while i < len(widths):
        size = max(1, min(max_size, budget // max(1, widths[i])))
        batches.append(order[i : i + size])
        i += size
    return batches


def pad(windows: Sequence[Window], order: np.ndarray, pad_id: int) -> Batch:
    """Right-pad the windows `order` names into one Batch."""
    rows = [windows[i] for i in order.tolist()]
    width = max(len(w) for w in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)  # (B, L)
    mask = np.zeros((len(rows), width), dtype=np.int64)  # (B, L)
    types = np.zeros((len(rows), width), dtype=np.int64)  # (B, L)
    for r, w in enumerate(rows):
        ids[r, : len(w)] = w.ids
        mask[r, : len(w)] = 1
        types[r, : len(w)] = w.type_ids
    return Batch(order, ids, mask, types)


def batches(windows: Sequence[Window], budget: int, max_size: int, pad_id: int) -> Iterator[Batch]:
    """Yield padded batches over `windows`, built one at a time."""
    for order in plan_batches([len(w) for w in windows], budget, max_size):
        yield pad(windows, order, pad_id)
