"""One shard of embedded rows as an Arrow table: what a corpus job commits at a time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..reports import report_columns
from ..types import InputReport
from .arrow import ids_array, ragged, vector_array, with_meta

# the column naming what each vector of a per-input result stands for
PER_ITEM = {"token": "tokens", "word": "words", "window": "pieces"}


def kind_of(result: Any) -> str:
    """The kind of a result of Model.embed (or of its list): "sentence", "token", ..."""
    return result[0].kind if isinstance(result, list) else result.kind


def reports_of(result: Any) -> Sequence[InputReport]:
    if kind_of(result) == "sentence":
        return result.reports  # a ReportTable stays one (its columns are read whole)
    return tuple(r.report for r in result)


def _per_token(v: np.ndarray) -> np.ndarray:
    """(T, D) stays; (K, T, H) from combine="stack" becomes (T, K, H): tokens first."""
    return v.transpose(1, 0, 2) if v.ndim == 3 else v


def shard_table(
    ids: Sequence[str | int | None],
    rows: Sequence[int],
    result: Any,
    numeric_ids: bool,
    texts: Sequence[str] | None,
    pairs: Sequence[str] | None,
    fields: Mapping[str, Sequence[str | None]] | None = None,
) -> tuple[pa.Table, dict[str, Any]]:
    """A result of `Model.embed` for the good rows of a shard -> (table, metadata).
    `fields` are the --keep-field columns (strings or null), listed in meta["fields"]."""
    cols: dict[str, pa.Array] = {
        "id": ids_array(ids, numeric_ids),
        "row": pa.array(list(rows), pa.int64()),
    }
    reports = reports_of(result)
    if kind_of(result) == "sentence":
        meta = result.meta.to_dict()
        cols["vector"] = vector_array(result.vectors)
        shape = list(result.vectors.shape[1:])
    else:
        meta = result[0].meta.to_dict()
        per = [_per_token(r.vectors) for r in result]
        shape = list(per[0].shape[1:])
        width = int(np.prod(shape))
        key = PER_ITEM[kind_of(result)]
        cols[key] = pa.array([list(getattr(r, key)) for r in result])
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
    """One column per key of InputReport.to_dict() (the one JSON form of a report), but the
    index: a row's place is its `row` column. Whole column blocks: a ReportTable's arrays."""
    cols = report_columns(reports)
    return {k: pa.array(v) for k, v in cols.items() if k != "index"}


def shard_stats(reports: Sequence[InputReport]) -> dict[str, int]:
    cols = report_columns(reports)
    return {
        "documents": len(reports),
        "tokens": int(cols["n_tokens"].sum()),
        "windowed": int(cols["windowed"].sum()),
        "truncated": int(cols["truncated"].sum()),
        "unk_count": int(cols["unk_count"].sum()),
        "unk_chars": int(cols["unk_chars"].sum()),
        "n_chars": int(cols["n_chars"].sum()),
    }


# -- a committed shard's file (a corpus job's OUT.parts/): Arrow IPC, read back whole ----------
# Arrow IPC with LZ4 frames: about 0.5 µs per row of 384 floats to write, against 12-18 µs for
# the zstd Parquet the workspace held before (measured on 1,024 rows; the final output's
# format is the user's and is not this). Workspaces left by an older bertex hold .parquet
# shards: they are read by their suffix, so such a job still resumes.
# LZ4 runs on the calling thread (use_threads=False), not on Arrow's pool: --profile's write
# CPU is that thread's (bertex/clock.py), which saw 0.11 of the 0.54 µs per row the pool
# spent, and a pool would compete with the forward pass the job commits beside (1,000 rows of
# 384 floats and 12 integer columns: 0.44 µs per row wall on this thread, all of it seen).
# allow_64bit: token vectors of one shard can pass 2^31 - 1 values (1,000 documents of 700
# tokens, four layers of 768 stacked), which IPC refuses by default and Parquet took.

WRITE = pa.ipc.IpcWriteOptions(compression="lz4", use_threads=False, allow_64bit=True)
READ = pa.ipc.IpcReadOptions(use_threads=False)
UNREADABLE = (OSError, pa.ArrowException)  # what reading a missing or damaged shard raises


def write_shard(table: pa.Table, f: Any) -> None:
    with pa.ipc.new_file(f, table.schema, options=WRITE) as w:
        w.write_table(table)


def read_shard(path: Path) -> pa.Table:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path)
    with pa.OSFile(str(path)) as source:  # read into memory: the file is removed later
        return pa.ipc.open_file(source, options=READ).read_all()


def shard_rows(path: Path) -> int:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return int(pq.read_metadata(path).num_rows)
    # the footer and the first column (the ids) only: a batch read whole would decompress
    # its vectors, a second read of the job (count_rows is only in recent pyarrow)
    first = pa.ipc.IpcReadOptions(use_threads=False, included_fields=[0])
    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_file(source, options=first)
        return sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
