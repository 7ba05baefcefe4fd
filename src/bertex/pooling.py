"""Layer combination, masked pooling and normalization. Pure numpy functions.

Features per token arrive as (n, K, H): K selected layers of width H. `combine` turns them into
the output width: concat (n, K*H), mean or sum (n, H), or stack (n, K, H).
"""

from __future__ import annotations

import numpy as np

SUMMED = ("mean", "mean_sqrt_len", "first_last_avg")  # the poolings that read a running sum


def combine_layers(x: np.ndarray, how: str) -> np.ndarray:
    """(n, K, H) -> (n, K*H) | (n, H) | (n, K, H).

    >>> x = np.arange(8, dtype=np.float32).reshape(2, 2, 2)
    >>> combine_layers(x, "concat").tolist()
    [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]]
    >>> combine_layers(x, "mean").tolist()
    [[1.0, 2.0], [5.0, 6.0]]
    """
    if x.shape[1] == 1 and how != "stack":
        return x[:, 0]  # one layer: (n, H)
    if how == "concat":
        return x.reshape(x.shape[0], -1)
    if how == "mean":
        return x.mean(axis=1)
    if how == "sum":
        return x.sum(axis=1)
    return x


def l2_normalize(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Unit length along the last axis; an all-zero vector stays zero (no NaN). `out=x`
    divides in place: no array of x's size is made (the norms need no x * x either; their
    sums of squares are float64, so a 50,000-wide concatenation is still unit length to 1e-7).

    >>> l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]])).tolist()
    [[0.6, 0.8], [0.0, 0.0]]
    """
    squares = np.einsum("...i,...i->...", x, x, dtype=np.float64)  # (...,) summed in float64
    norm = np.sqrt(squares).astype(x.dtype)[..., None]  # (..., 1)
    return np.divide(x, np.maximum(norm, 1e-12), out=out)


class SentencePool:
    """Pools one input's token features as they arrive, window by window, in bounded memory.

    `add` takes rows (n, *F) and a keep mask (n,): a running sum, max and count stand in for
    the full token matrix, so a million-character input needs only one window's worth.
    """

    def __init__(self, pooling: str) -> None:
        self.pooling = pooling
        self.total: np.ndarray | None = None  # (*F,) float64
        self.peak: np.ndarray | None = None  # (*F,)
        self.count = 0
        self.first: np.ndarray | None = None  # features of output position 0 ([CLS])
        self.pooler: np.ndarray | None = None

    def add(self, rows: np.ndarray, keep: np.ndarray | None, starts_sequence: bool) -> None:
        """rows (n, *F), keep (n,) bool or None for all of them."""
        if starts_sequence:
            self.first = rows[0].copy()  # a copy: the batch's output can go
        kept = rows if keep is None else rows[keep]  # (m, *F)
        if len(kept) == 0:
            return
        # only the statistic this pooling reads: a float64 sum for the means, a max for max
        if self.pooling in SUMMED:
            part = kept.sum(axis=0, dtype=np.float64)
            self.total = part if self.total is None else self.total + part
        elif self.pooling == "max":
            part = kept.max(axis=0)
            self.peak = part if self.peak is None else np.maximum(self.peak, part)
        self.count += len(kept)

    def result(self) -> np.ndarray:
        if self.pooling == "pooler":
            assert self.pooler is not None
            return self.pooler
        if self.pooling == "cls":
            assert self.first is not None
            return self.first
        if self.pooling == "max":
            assert self.peak is not None
            return self.peak
        assert self.total is not None
        if self.pooling == "mean_sqrt_len":
            return (self.total / np.sqrt(self.count)).astype(np.float32)
        return (self.total / self.count).astype(np.float32)  # mean, first_last_avg


def merge_subwords(x: np.ndarray, spans: np.ndarray, how: str) -> np.ndarray:
    """Token features (T, *F) and word spans (W, 2) -> word features (W, *F).

    >>> x = np.array([[1.0], [2.0], [4.0]], dtype=np.float32)
    >>> merge_subwords(x, np.array([[0, 2], [2, 3]]), "mean").tolist()
    [[1.5], [4.0]]
    >>> merge_subwords(x, np.array([[0, 2], [2, 3]]), "last").tolist()
    [[2.0], [4.0]]
    >>> merge_subwords(x, np.array([[0, 2], [2, 3]]), "first_last").tolist()  # flair's: (W, 2F)
    [[1.0, 2.0], [4.0, 4.0]]
    """
    if how == "first_last":  # the first and the last sub-word side by side, last axis doubled
        first = merge_subwords(x, spans, "first")  # (W, *F)
        return np.concatenate([first, merge_subwords(x, spans, "last")], axis=-1)  # (W, *2F)
    out = np.empty((len(spans),) + x.shape[1:], dtype=x.dtype)
    for w, (lo, hi) in enumerate(spans.tolist()):
        part = x[lo:hi]
        if how == "first":
            out[w] = part[0]
        elif how == "last":
            out[w] = part[-1]
        elif how == "max":
            out[w] = part.max(axis=0)
        else:
            out[w] = part.mean(axis=0)
    return out


def word_spans(word_ids: np.ndarray, sequence_ids: np.ndarray) -> np.ndarray:
    """Runs of tokens with the same (sequence, word) id -> (W, 2) [first, last+1) positions.

    >>> word_spans(np.array([-1, 0, 0, 1, -1]), np.array([-1, 0, 0, 0, -1])).tolist()
    [[1, 3], [3, 4]]
    """
    spans: list[list[int]] = []
    prev: tuple[int, int] | None = None
    for pos, (w, s) in enumerate(zip(word_ids.tolist(), sequence_ids.tolist())):
        if w < 0:
            prev = None
            continue
        if prev == (s, w):
            spans[-1][1] = pos + 1
        else:
            spans.append([pos, pos + 1])
            prev = (s, w)
    return np.asarray(spans, dtype=np.int64).reshape(-1, 2)


def truncate_dims(x: np.ndarray, dimensions: int | None) -> np.ndarray:
    """Keep the first `dimensions` values of the last axis (Matryoshka-style truncation).

    >>> truncate_dims(np.arange(6.0).reshape(2, 3), 2).tolist()
    [[0.0, 1.0], [3.0, 4.0]]
    """
    return x if dimensions is None else x[..., :dimensions]


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, D) x (M, D) -> (N, M) cosine similarities; a 1-D argument is one row.

    >>> cosine(np.array([1.0, 0.0]), np.array([[1.0, 0.0], [0.0, 2.0]])).tolist()
    [[1.0, 0.0]]
    """
    a2, b2 = np.atleast_2d(a).astype(np.float32), np.atleast_2d(b).astype(np.float32)
    if a2.shape[-1] != b2.shape[-1]:
        raise ValueError(f"vectors of width {a2.shape[-1]} and {b2.shape[-1]} cannot be compared")
    return l2_normalize(a2) @ l2_normalize(b2).T
