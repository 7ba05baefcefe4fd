"""Results -> Arrow tables (the shard format, and the Parquet output's rows)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from . import FORMAT_VERSION


def vector_array(vectors: np.ndarray) -> pa.FixedSizeListArray:
    """(N, *shape) -> N fixed-size lists of prod(shape) values (float32 or float16)."""
    flat = np.ascontiguousarray(vectors).reshape(len(vectors), -1)  # (N, D)
    return pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), flat.shape[1])


def ragged(per_item: Sequence[np.ndarray], width: int) -> pa.ListArray:
    """Items of (T_i, *shape) -> a list column of T_i fixed-size lists of `width` values."""
    lengths = np.array([len(x) for x in per_item], dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    if len(per_item) and sum(lengths):
        flat = np.concatenate([np.asarray(x).reshape(len(x), -1) for x in per_item])
    else:
        flat = np.zeros((0, width), dtype=per_item[0].dtype if per_item else np.float32)
    inner = pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), width)
    return pa.ListArray.from_arrays(pa.array(offsets), inner)


def ids_array(ids: Sequence[str | int | None], numeric: bool) -> pa.Array:
    return pa.array(list(ids), pa.int64() if numeric else pa.string())


def with_meta(table: pa.Table, meta: dict[str, Any]) -> pa.Table:
    doc = {"format_version": FORMAT_VERSION, **meta}
    return table.replace_schema_metadata({b"bertex": json.dumps(doc).encode()})


def meta_of(schema: pa.Schema) -> dict[str, Any]:
    raw = (schema.metadata or {}).get(b"bertex")
    if raw is None:
        raise ValueError("no bertex metadata in this file")
    return json.loads(raw)
