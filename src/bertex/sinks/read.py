"""`bertex.read(path)`: any output bertex wrote -> ids, arrays and metadata."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SourceError
from . import beside, format_of


@dataclass(frozen=True, eq=False)
class Stored:
    """What a bertex output file holds.

    Sentence level: vectors (N, *shape). Token/word level: a list of (T_i, D) arrays, or
    (K, T_i, H) with combine="stack" / level="hidden_states", as the library returns them.
    """

    ids: list[Any]
    vectors: Any
    meta: dict[str, Any]
    texts: list[str] | None = None
    tokens: list[list[str]] | None = None  # tokens, or words at word level
    offsets: list[np.ndarray] | None = None
    reports: dict[str, list[Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)


def read(path: str | Path) -> Stored:
    path = Path(path)
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    fmt = format_of(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        from .arrow import meta_of

        table = pq.read_table(path)
        return _from_records(table.to_pylist(), meta_of(table.schema))
    if fmt == "jsonl":
        with path.open(encoding="utf-8") as f:
            meta = json.loads(f.readline())["bertex"]
            return _from_records([json.loads(line) for line in f], meta)
    meta = json.loads(beside(path, "meta.json").read_text())
    with beside(path, "ids.jsonl").open(encoding="utf-8") as f:
        ids = [json.loads(line) for line in f]
    if fmt == "npy":
        return Stored(ids, np.load(path), meta)
    from safetensors.numpy import load_file

    return Stored(ids, load_file(str(path))["vectors"], meta)


def read_meta(path: Path) -> dict[str, Any]:
    """Only the metadata, cheaply (for the resume check)."""
    fmt = format_of(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        from .arrow import meta_of

        return meta_of(pq.read_schema(path))
    if fmt == "jsonl":
        with path.open(encoding="utf-8") as f:
            return json.loads(f.readline())["bertex"]
    return json.loads(beside(path, "meta.json").read_text())


def _from_records(records: list[dict[str, Any]], meta: dict[str, Any]) -> Stored:
    shape = meta["vector_shape"]
    dtype = np.dtype(meta["dtype"])
    ids = [r["id"] for r in records]
    texts = [r["text"] for r in records] if records and "text" in records[0] else None
    reports = {
        k: [r[k] for r in records] for k in ("n_tokens", "n_windows", "truncated", "unk_count")
    }
    if meta["level"] == "sentence":
        vectors = np.asarray([r["vector"] for r in records], dtype=dtype).reshape(-1, *shape)
        return Stored(ids, vectors, meta, texts, reports=reports)
    key = "words" if meta["level"] == "word" else "tokens"
    per = []
    for r in records:
        v = np.asarray(r["vectors"], dtype=dtype).reshape(-1, *shape)  # (T, *shape)
        per.append(v.transpose(1, 0, 2) if v.ndim == 3 else v)
    offsets = [np.asarray(r["offsets"], dtype=np.int64).reshape(-1, 2) for r in records]
    return Stored(ids, per, meta, texts, [r[key] for r in records], offsets, reports)
