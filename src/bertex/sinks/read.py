"""`bertex.read(path)`: any output bertex wrote -> ids, arrays and metadata.

    bertex.read("v.parquet")                    # Stored: ids, vectors (N, D), meta, ...
    for part in bertex.read("v.parquet", batch_rows=10_000):   # Stored per 10,000 rows
        ...

Vectors come out of Arrow without a per-value Python object: each record batch's flat float
buffer is viewed as numpy (zero copy) and, for a whole-file read, copied once into one
preallocated (N, *shape) array. A streaming read holds one batch at a time. Every file's
`format_version` is checked: a newer one is refused, naming both versions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FormatVersionError, OptionError, SourceError
from . import FORMAT_VERSION, beside, format_of

STRUCTURE = (
    "id",
    "row",
    "vector",
    "vectors",
    "tokens",
    "words",
    "pieces",
    "offsets",
    "text",
    "text_pair",
)
_WHOLE = 8192  # rows per batch while a whole file is read


@dataclass(frozen=True, eq=False)
class Stored:
    """What a bertex output file holds (or one batch of it, from a streaming read).

    Sentence level: vectors (N, *shape). Token/word level: a list of (T_i, D) arrays, or
    (K, T_i, H) with combine="stack" / level="hidden_states", as the library returns them.
    `fields` holds the columns carried over with --keep-field.
    """

    ids: list[Any]
    vectors: Any
    meta: dict[str, Any]
    texts: list[str] | None = None
    tokens: list[list[str]] | None = None  # tokens, or words at word level
    offsets: list[np.ndarray] | None = None
    reports: dict[str, list[Any]] = field(default_factory=dict)
    fields: dict[str, list[Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def to_pandas(self) -> Any:
        """A pandas DataFrame: id, text, vector (or tokens and vectors), reports, fields.
        pandas is imported here only; it is not a dependency of bertex."""
        try:
            import pandas as pd
        except ImportError:
            from ..errors import ExtraMissingError

            raise ExtraMissingError("pandas", "pandas", "Stored.to_pandas()") from None
        cols: dict[str, Any] = {"id": self.ids}
        if self.texts is not None:
            cols["text"] = self.texts
        if self.meta["level"] == "sentence":
            cols["vector"] = list(self.vectors)
        else:
            cols.update(tokens=self.tokens, offsets=self.offsets, vectors=self.vectors)
        return pd.DataFrame({**cols, **self.reports, **self.fields})


def read(path: str | Path, batch_rows: int | None = None) -> Stored | Iterator[Stored]:
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path}: no such file" + (" (a folder)" if path.is_dir() else ""))
    fmt = format_of(path)
    meta = read_meta(path)
    if batch_rows is not None:
        if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
            raise OptionError("batch_rows", batch_rows, ["an integer >= 1", None])
        return _stream(path, fmt, meta, batch_rows)
    if fmt in ("npy", "safetensors"):
        return Stored(_ids(path), _array(path, fmt, slice(None)), meta)
    return _join(_stream(path, fmt, meta, _WHOLE), meta, _count(path, fmt))


def read_meta(path: Path) -> dict[str, Any]:
    """Only the metadata, cheaply, its format_version checked."""
    fmt = format_of(path)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            from .arrow import meta_of

            meta = meta_of(pq.read_schema(path))
        elif fmt == "jsonl":
            with path.open(encoding="utf-8-sig") as f:
                meta = json.loads(f.readline())["bertex"]
        else:
            meta = json.loads(beside(path, "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SourceError(f"{path}: not a bertex output ({_why(e)})") from None
    check_version(path, meta)
    return meta


def _why(e: Exception) -> str:
    return e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e).__name__


def check_version(path: Path, meta: dict[str, Any]) -> None:
    """Files written before format_version existed outside Parquet are version 1."""
    version = meta.get("format_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION:
        raise FormatVersionError(
            f"{path}: format_version {version!r} is not one this bertex reads (1 to "
            f"{FORMAT_VERSION}); it was written by a newer bertex: upgrade bertex to read it"
        )


def _count(path: Path, fmt: str) -> int | None:
    if fmt != "parquet":
        return None
    import pyarrow.parquet as pq

    return int(pq.read_metadata(path).num_rows)


def _ids(path: Path, start: int = 0, stop: int | None = None) -> list[Any]:
    with beside(path, "ids.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in islice(f, start, stop)]


def _array(path: Path, fmt: str, rows: slice) -> np.ndarray:
    if fmt == "npy":
        return np.array(np.load(path, mmap_mode="r")[rows])
    from safetensors import safe_open

    with safe_open(str(path), "np") as f:
        part = f.get_slice("vectors")
        n = part.get_shape()[0]
        start, stop, _ = rows.indices(n)
        return part[start:stop]


def _stream(path: Path, fmt: str, meta: dict[str, Any], size: int) -> Iterator[Stored]:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        # no pre-buffering: a batch's column chunks are read as needed (bounded memory)
        pf = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
        for batch in pf.iter_batches(batch_size=size):
            yield from_arrow(batch, meta)
    elif fmt == "jsonl":
        import pyarrow as pa

        with path.open(encoding="utf-8-sig") as f:
            f.readline()  # the metadata line
            while lines := list(islice(f, size)):
                yield from_arrow(pa.Table.from_pylist([json.loads(x) for x in lines]), meta)
    else:
        n = int(meta["summary"]["documents"]) if "summary" in meta else None
        start = 0
        while True:
            vectors = _array(path, fmt, slice(start, start + size))
            if not len(vectors):
                return
            yield Stored(_ids(path, start, start + len(vectors)), vectors, meta)
            start += len(vectors)
            if n is not None and start >= n:
                return


def from_arrow(batch: Any, meta: dict[str, Any]) -> Stored:
    """One Arrow record batch (or table) of a bertex output -> Stored, vectors zero-copy."""
    names = batch.schema.names
    shape = meta["vector_shape"]
    dtype = np.dtype(meta["dtype"])
    texts = batch.column("text").to_pylist() if "text" in names else None
    kept = meta.get("fields") or []
    reports = {k: batch.column(k).to_pylist() for k in names if k not in (*STRUCTURE, *kept)}
    fields = {k: batch.column(k).to_pylist() for k in kept if k in names}
    ids = batch.column("id").to_pylist()
    if meta["level"] == "sentence":
        flat = _flat(batch.column("vector"), dtype)
        return Stored(ids, flat.reshape(-1, *shape), meta, texts, reports=reports, fields=fields)
    key = {"word": "words", "window": "pieces"}.get(meta["level"], "tokens")
    vectors = _ragged(batch.column("vectors"), dtype, shape)
    vectors = [v.transpose(1, 0, 2) if v.ndim == 3 else v for v in vectors]  # (K, T, H)
    offsets = _ragged(batch.column("offsets"), np.dtype(np.int64), [2])
    tokens = batch.column(key).to_pylist()
    return Stored(ids, vectors, meta, texts, tokens, offsets, reports, fields)


def _flat(column: Any, dtype: np.dtype) -> np.ndarray:
    """A fixed-size-list column -> its values as one flat numpy array (a view when possible)."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    values = column.flatten()
    if pa.types.is_fixed_size_list(values.type) or pa.types.is_list(values.type):
        values = values.flatten()
    if values.null_count == 0 and values.type == pa.from_numpy_dtype(dtype):
        return values.to_numpy(zero_copy_only=True)
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=dtype)


def _ragged(column: Any, dtype: np.dtype, shape: list[int]) -> list[np.ndarray]:
    """A list-of-fixed-size-list column -> one (T_i, *shape) view per row."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    bounds = column.offsets.to_numpy()  # (N + 1,) positions into the flattened items
    flat = _flat(column.flatten(), dtype).reshape(-1, *shape)  # (sum T_i, *shape)
    base = bounds[0]
    return [flat[a - base : b - base] for a, b in zip(bounds[:-1], bounds[1:])]


def _join(parts: Iterator[Stored], meta: dict[str, Any], total: int | None) -> Stored:
    """Batches -> one Stored; sentence vectors copied once into one preallocated array."""
    ids: list[Any] = []
    texts: list[str] = []
    tokens: list[list[str]] = []
    offsets: list[np.ndarray] = []
    reports: dict[str, list[Any]] = {}
    fields: dict[str, list[Any]] = {}
    chunks: list[Any] = []
    whole = None
    has_text = False
    for part in parts:
        if meta["level"] == "sentence" and total is not None:
            if whole is None:
                whole = np.empty((total, *part.vectors.shape[1:]), part.vectors.dtype)
            whole[len(ids) : len(ids) + len(part)] = part.vectors
        elif meta["level"] == "sentence":
            chunks.append(part.vectors)
        else:
            chunks.extend(part.vectors)
            tokens += part.tokens or []
            offsets += part.offsets or []
        ids += part.ids
        has_text = part.texts is not None
        texts += part.texts or []
        for into, got in ((reports, part.reports), (fields, part.fields)):
            for k, v in got.items():
                into.setdefault(k, []).extend(v)
    if meta["level"] != "sentence":
        return Stored(
            ids, chunks, meta, texts if has_text else None, tokens, offsets, reports, fields
        )
    if whole is None:
        shape = meta["vector_shape"]
        empty = np.zeros((0, *shape), np.dtype(meta["dtype"]))
        whole = np.concatenate(chunks) if chunks else empty
    return Stored(ids, whole, meta, texts if has_text else None, reports=reports, fields=fields)
