"""Long inputs -> windows, truncation, and which window owns each token. Pure functions.

The model sees at most `max_length` tokens, special tokens included. An input over that is
windowed (overlapping windows, each wrapped in the model's special tokens), truncated (and
flagged), or refused, by the caller's `long` policy. Never silently.
"""

from __future__ import annotations

import numpy as np

from .errors import TooLongError
from .tokenize import Layout, Template
from .types import DocPlan, Encoding, Window


def spans(n: int, size: int, stride: int) -> list[tuple[int, int]]:
    """Cover tokens [0, n) with windows of `size` tokens that share `stride` tokens.

    >>> spans(10, 4, 1)
    [(0, 4), (3, 7), (6, 10)]
    >>> spans(11, 4, 1)      # the last window is moved left so it is full (more context)
    [(0, 4), (3, 7), (6, 10), (7, 11)]
    >>> spans(3, 4, 1)
    [(0, 3)]
    """
    if n <= size:
        return [(0, n)]
    step = size - stride
    out, start = [], 0
    while start + size < n:
        out.append((start, start + size))
        start += step
    out.append((n - size, n))
    return out


def owned(windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The tokens each window contributes: a token in an overlap goes to the window where it has
    the most context on both sides.

    subtle: in the overlap [b0, a1) of windows A = [a0, a1) and B = [b0, b1), a token t has
    right context a1-1-t in A and left context t-b0 in B (its other side is longer in both), so
    the least-context side is best in A while a1-1-t > t-b0: the overlap is split at its middle.

    >>> owned([(0, 4), (3, 7), (6, 10)])
    [(0, 3), (3, 6), (6, 10)]
    >>> owned([(0, 8), (4, 12)])
    [(0, 6), (6, 12)]
    """
    bounds = [windows[0][0]]
    for (_, a1), (b0, _) in zip(windows, windows[1:]):
        bounds.append((a1 + b0) // 2)
    bounds.append(windows[-1][1])
    return list(zip(bounds, bounds[1:]))


def truncate_pair(na: int, nb: int, budget: int) -> tuple[int, int]:
    """Longest-first: drop tokens from the longer text until both fit in `budget`.

    >>> truncate_pair(10, 3, 8)
    (5, 3)
    >>> truncate_pair(6, 5, 8)
    (4, 4)
    """
    while na + nb > budget:
        if na >= nb:
            na -= 1
        else:
            nb -= 1
    return na, nb


def default_stride(content: int) -> int:
    """A quarter of a window is shared with each neighbour."""
    return max(1, content // 4) if content > 1 else 0


def plan(
    enc: Encoding,
    template: Template,
    id_to_token: dict[int, str],
    max_length: int,
    stride: int | None,
    long: str,
    doc: int = 0,
) -> DocPlan:
    """One Encoding -> the output sequence the result will report and the windows for it."""
    pair = enc.b is not None
    content = max_length - template.n_special(pair)
    na, nb = len(enc.a), len(enc.b) if enc.b is not None else 0
    total = na + nb + template.n_special(pair)
    if na + nb <= content:
        return _single_window(enc, template, id_to_token, na, nb, total, False, doc)
    if long == "error":
        raise TooLongError(total, max_length, enc.index)
    if long == "truncate":
        if pair:
            na, nb = truncate_pair(na, nb, content)
        else:
            na = content
        return _single_window(enc, template, id_to_token, na, nb, total, True, doc)
    if pair:
        raise TooLongError(
            total,
            max_length,
            enc.index,
            "a text pair is not windowed (its two texts must meet in one window); "
            "pass long='truncate' to truncate it longest-first",
        )
    step_overlap = default_stride(content) if stride is None else stride
    if step_overlap >= content:
        raise TooLongError(
            total, max_length, enc.index, f"stride={step_overlap} must be below {content}"
        )
    return _windowed(enc, template, id_to_token, spans(na, content, step_overlap), total, doc)


def _single_window(
    enc: Encoding,
    template: Template,
    id_to_token: dict[int, str],
    na: int,
    nb: int,
    total: int,
    truncated: bool,
    doc: int,
) -> DocPlan:
    layout = template.layout(na, nb if enc.b is not None else None)
    seq = _sequence(enc, layout, id_to_token)
    n = len(layout.ids)
    window = Window(doc, 0, seq["ids"], layout.type_ids, take=(0, n), put=0)
    return DocPlan(
        enc, **seq, type_ids=layout.type_ids, windows=(window,), n_tokens=total, truncated=truncated
    )


def _windowed(
    enc: Encoding,
    template: Template,
    id_to_token: dict[int, str],
    windows: list[tuple[int, int]],
    total: int,
    doc: int,
) -> DocPlan:
    """The output sequence is prefix + all content + suffix: the first window's leading special
    tokens, every content token once (from its owning window), the last window's trailing ones."""
    na = len(enc.a)
    full = template.layout(na)
    seq = _sequence(enc, full, id_to_token)
    p, s = len(template.prefix), len(template.suffix)
    out = []
    for k, ((w0, w1), (o0, o1)) in enumerate(zip(windows, owned(windows))):
        layout = template.layout(w1 - w0)
        ids = np.where(layout.segment == 0, enc.a.ids[w0 + layout.index], layout.ids)
        lo = 0 if k == 0 else p + o0 - w0
        hi = p + o1 - w0 + (s if k == len(windows) - 1 else 0)
        put = 0 if k == 0 else p + o0
        out.append(Window(doc, k, ids, layout.type_ids, take=(lo, hi), put=put))
    return DocPlan(
        enc, **seq, type_ids=full.type_ids, windows=tuple(out), n_tokens=total, truncated=False
    )


def _sequence(enc: Encoding, layout: Layout, id_to_token: dict[int, str]) -> dict:
    """Gather ids, tokens, offsets and word ids of a layout from its segments."""
    n = len(layout.ids)
    ids = layout.ids.copy()
    offsets = np.zeros((n, 2), dtype=np.int64)
    word_ids = np.full(n, -1, dtype=np.int64)
    tokens: list[str] = [""] * n
    for which, seg in enumerate((enc.a, enc.b)):
        pos = np.flatnonzero(layout.segment == which)  # (n_seg,) positions of this segment
        if seg is None or len(pos) == 0:
            continue
        src = layout.index[pos]
        ids[pos] = seg.ids[src]
        offsets[pos] = seg.offsets[src]
        word_ids[pos] = seg.word_ids[src]
        p0, m = int(pos[0]), len(pos)  # a segment is one run of positions, its tokens 0..m-1
        assert pos[-1] - p0 == m - 1 and src[0] == 0 and src[-1] == m - 1
        tokens[p0 : p0 + m] = seg.tokens[:m]
    for p in np.flatnonzero(layout.segment < 0).tolist():
        tokens[p] = id_to_token.get(int(ids[p]), "")
    return {
        "ids": ids,
        "tokens": tuple(tokens),
        "offsets": offsets,
        "word_ids": word_ids,
        "sequence_ids": layout.segment.copy(),
        "special_mask": layout.segment < 0,
    }
