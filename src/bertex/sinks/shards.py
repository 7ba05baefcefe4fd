"""One shard of embedded rows as an Arrow table: what a corpus job commits at a time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from ..types import InputReport, SentenceEmbeddings
from .arrow import ids_array, ragged, vector_array, with_meta


def _per_token(v: np.ndarray) -> np.ndarray:
    """(T, D) stays; (K, T, H) from combine="stack" becomes (T, K, H): tokens first."""
    return v.transpose(1, 0, 2) if v.ndim == 3 else v


def shard_table(
    ids: Sequence[str | int],
    rows: Sequence[int],
    result: Any,
    numeric_ids: bool,
    texts: Sequence[str] | None,
    pairs: Sequence[str] | None,
    fields: dict[str, Sequence[str | None]] | None = None,
) -> tuple[pa.Table, dict[str, Any]]:
    """A result of `Model.embed` for the good rows of a shard -> (table, metadata).
    `fields` are the --keep-field columns (strings or null), listed in meta["fields"]."""
    cols: dict[str, pa.Array] = {
        "id": ids_array(ids, numeric_ids),
        "row": pa.array(list(rows), pa.int64()),
    }
    if isinstance(result, SentenceEmbeddings):
        reports, meta = result.reports, result.meta.to_dict()
        cols["vector"] = vector_array(result.vectors)
        shape = list(result.vectors.shape[1:])
    else:
        reports = tuple(r.report for r in result)
        meta = result[0].meta.to_dict()
        per = [_per_token(r.vectors) for r in result]
        shape = list(per[0].shape[1:])
        width = int(np.prod(shape))
        names = [list(r.words) if hasattr(r, "words") else list(r.tokens) for r in result]
        cols["words" if hasattr(result[0], "words") else "tokens"] = pa.array(names)
        cols["offsets"] = ragged([r.offsets.astype(np.int32) for r in result], 2)
        cols["vectors"] = ragged(per, width)
    cols.update(_report_columns(reports))
    if texts is not None:
        cols["text"] = pa.array(list(texts), pa.string())
        if pairs is not None:
            cols["text_pair"] = pa.array(list(pairs), pa.string())
    for name, values in (fields or {}).items():
        cols[name] = pa.array(list(values), pa.string())
    dtype = meta["dtype"]
    meta.update(vector_shape=shape, dims=int(np.prod(shape)), dtype=dtype)
    if fields:
        meta["fields"] = list(fields)
    return with_meta(pa.table(cols), meta), meta


def _report_columns(reports: Sequence[InputReport]) -> dict[str, pa.Array]:
    return {
        "n_tokens": pa.array([r.n_tokens for r in reports], pa.int32()),
        "n_windows": pa.array([r.n_windows for r in reports], pa.int32()),
        "truncated": pa.array([r.truncated for r in reports], pa.bool_()),
        "unk_count": pa.array([r.unk_count for r in reports], pa.int32()),
    }


def shard_stats(reports: Sequence[InputReport]) -> dict[str, int]:
    return {
        "documents": len(reports),
        "tokens": sum(r.n_tokens for r in reports),
        "windowed": sum(r.windowed for r in reports),
        "truncated": sum(r.truncated for r in reports),
        "unk_count": sum(r.unk_count for r in reports),
        "unk_chars": sum(r.unk_chars for r in reports),
        "n_chars": sum(r.n_chars for r in reports),
    }
