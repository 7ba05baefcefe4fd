"""Index rows as Arrow tables and the Parquet segment files that hold them.

A segment's columns: key (uint64), id, text, start, end (the piece's character span), vector
(fixed-size list of float32, D) and one f:<name> column per field. Keys ascend within a segment
and across the segments in the manifest's order.

Which segments an add merges (a binary counter: each row is rewritten O(log N) times, and a
build of N rows in batches of B keeps at most log2(N / B) + 1 segments):

>>> tail_to_merge([4096, 1024, 256, 256])
3
>>> tail_to_merge([4096, 1024, 512])
0
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import OptionError
from ..sinks.atomic import write_atomic
from . import files
from .rows import Rows

FIELD = "f:"


def tail_to_merge(rows: list[int]) -> int:
    """How many segments before the newest one (the last) merge with it: while the segment
    before the (growing) newest is no larger than it."""
    merged, n = rows[-1], 0
    for size in reversed(rows[:-1]):
        if size > merged:
            break
        merged, n = merged + size, n + 1
    return n


def table(rows: Rows, keys: np.ndarray, dim: int) -> Any:
    import pyarrow as pa

    flat = pa.array(np.asarray(rows.vectors, dtype=np.float32).reshape(-1))  # (N * D,)
    cols = {
        "key": pa.array(keys, pa.uint64()),
        "id": pa.array(rows.ids, pa.string()),
        "text": pa.array(rows.texts, pa.string()),
        "start": pa.array(rows.spans[:, 0], pa.int64()),
        "end": pa.array(rows.spans[:, 1], pa.int64()),
        "vector": pa.FixedSizeListArray.from_arrays(flat, dim),
    }
    for name, values in rows.fields.items():
        try:
            cols[FIELD + name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise OptionError(
                f"field {name!r}", _kinds(values), ["values of one type per field"], str(e)
            ) from None
    return pa.table(cols)


def empty(dim: int) -> Any:
    return table(
        Rows([], [], np.zeros((0, dim), np.float32), np.zeros((0, 2), np.int64)),
        np.zeros(0, np.uint64),
        dim,
    )


def concat(tables: list[Any]) -> Any:
    """Segments as one table; a field that is text in one segment and a number in another is a
    clear error, not an Arrow traceback."""
    import pyarrow as pa

    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        types = {
            n: sorted({str(t.schema.field(n).type) for t in tables if n in t.column_names})
            for n in {n for t in tables for n in t.column_names if n.startswith(FIELD)}
        }
        clash = {n[len(FIELD) :]: ts for n, ts in types.items() if len(ts) > 1}
        raise OptionError(
            "fields",
            clash or str(e),
            ["the type each field already has in the index"],
            "convert the values (or use another field name)",
        ) from None


def write(folder: Path, name: str, rows: Any, manifest: dict[str, Any]) -> None:
    import json

    import pyarrow.parquet as pq

    meta = {**(rows.schema.metadata or {}), b"bertex.index": json.dumps(manifest).encode()}
    stamped = rows.replace_schema_metadata(meta)
    write_atomic(folder / name, lambda f: pq.write_table(stamped, f))


def read(folder: Path, name: str, columns: list[str] | None = None) -> Any:
    import pyarrow.parquet as pq

    path = folder / name
    if not path.is_file():
        raise files.corrupt(folder, f"{name} is missing")
    try:
        return pq.read_table(path, columns=columns)
    except Exception as e:  # noqa: BLE001 - any Arrow failure means the same thing here
        raise files.corrupt(folder, f"{name} is unreadable ({e})") from None


def columns_without_vectors(folder: Path, name: str) -> list[str]:
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(folder / name).names
    except FileNotFoundError:
        raise files.corrupt(folder, f"{name} is missing") from None
    except Exception as e:  # noqa: BLE001
        raise files.corrupt(folder, f"{name} is unreadable ({e})") from None
    return [n for n in names if n != "vector"]


def manifest_in(folder: Path, name: str) -> dict[str, Any]:
    """The manifest a segment was committed with (its schema metadata)."""
    import json

    import pyarrow.parquet as pq

    meta = pq.read_schema(folder / name).metadata or {}
    return dict(json.loads(meta[b"bertex.index"]))


def _kinds(values: list[Any]) -> str:
    return "values of types " + ", ".join(sorted({type(v).__name__ for v in values}))
