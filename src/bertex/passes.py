"""One pass of the engine serves several calls: split its results back into each call's part,
and join a call's parts (one per pass it spanned) into one result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from . import assemble
from .config import EmbedOptions
from .errors import InputError
from .types import SentenceEmbeddings


def collect(
    model: Any,
    texts: list[Any],
    pairs: list[str] | None,
    options: EmbedOptions,
    timings: dict,
    stop: Callable[[], bool] | None = None,
) -> tuple[Any, tuple[InputError, ...], tuple[int, ...]]:
    """One tolerant call: (results of the texts that worked, their errors, the kept indices).
    `stop` is asked between forward batches (StoppedError when every caller has left)."""
    got = model.embed(texts, pairs, options=options, on_error="collect", timings=timings, stop=stop)
    return got.results, got.errors, got.kept


def take(result: Any, positions: list[int]) -> Any:
    """The results at `positions` (SentenceEmbeddings rows, or items of a list)."""
    if isinstance(result, SentenceEmbeddings):
        return replace(
            result,
            texts=tuple(result.texts[p] for p in positions),
            text_pairs=tuple(result.text_pairs[p] for p in positions)
            if result.text_pairs
            else None,
            vectors=result.vectors[positions],  # (n, D) or (n, K, H)
            reports=tuple(result.reports[p] for p in positions),
        )
    return [result[p] for p in positions] if result is not None else []


def join(parts: list[Any], indices: list[int]) -> Any:
    """A job's parts, pass by pass, as one result whose reports name the caller's indices."""
    first = parts[0]
    if isinstance(first, SentenceEmbeddings) and len(parts) > 1:
        pairs = [t for p in parts for t in (p.text_pairs or ())]
        first = replace(
            first,
            texts=tuple(t for p in parts for t in p.texts),
            text_pairs=tuple(pairs) if first.text_pairs else None,
            vectors=np.concatenate([p.vectors for p in parts]),  # (N, D) or (N, K, H)
            reports=tuple(r for p in parts for r in p.reports),
        )
    elif not isinstance(first, SentenceEmbeddings):
        first = [x for p in parts for x in p]
    return assemble.reindex(first, tuple(indices))


def seen_tokens(result: Any) -> int:
    if result is None:
        return 0
    if isinstance(result, SentenceEmbeddings):
        return sum(r.seen_tokens for r in result.reports)
    return sum(x.report.seen_tokens for x in result)
