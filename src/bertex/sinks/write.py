"""The one Sink protocol: open with metadata, write Arrow tables, close. Every writer uses it:
`bertex embed --out` for a few texts and the corpus job's finalize alike.

    with open_sink(Path("v.npy"), meta, rows=3) as sink:   # meta gains format_version
        sink.write(table)          # tables of rows: id, row, vector | tokens, offsets, vectors
    # v.npy, v.npy.ids.jsonl and v.npy.meta.json are in place, each renamed atomically

A sink writes to `OUT.tmp` and renames it into place on close, so a reader sees the whole file
or none of it; `abort` (or an exception inside the `with`) removes the temporary file.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import OutputError
from . import FORMAT_VERSION, beside, format_of
from .arrow import with_meta
from .atomic import fsync_dir, output_error, write_bytes_atomic


class Sink(Protocol):
    def write(self, table: pa.Table) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


def check_target(out: Path) -> None:
    """Refuse an --out that is a folder or a device (writing `/dev/full.tmp` then renaming it
    over the device would replace the device node), or whose folder does not exist."""
    try:
        st = out.stat()
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise output_error(out, e) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OutputError(f"cannot write {out}: it is a folder; give a file path for --out")
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise OutputError(f"cannot write {out}: it is not a regular file; give a file path")
    if not out.parent.is_dir():
        raise OutputError(f"cannot write {out}: its folder {out.parent} does not exist")


class _FileSink:
    """A temporary file renamed into place on close; subclasses say what goes in it."""

    def __init__(self, out: Path, meta: dict[str, Any], rows: int) -> None:
        check_target(out)
        self.out, self.rows = out, rows
        self.meta = {"format_version": FORMAT_VERSION, **meta}
        self.tmp = out.with_name(out.name + ".tmp")
        try:
            self.f: IO[bytes] = open(self.tmp, "wb")  # noqa: SIM115 (closed in close/abort)
        except OSError as e:
            raise output_error(out, e) from None
        self._guard(self.start)

    def _guard(self, step: Any, *args: Any) -> None:
        try:
            step(*args)
        except OSError as e:
            self.abort()
            raise output_error(self.out, e) from None

    def start(self) -> None:
        """Write the header (before any row)."""

    def rows_of(self, table: pa.Table) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Write what follows the rows, and companions."""

    def write(self, table: pa.Table) -> None:
        self._guard(self.rows_of, table)

    def close(self) -> None:
        def done() -> None:
            self.finish()
            self.f.flush()
            os.fsync(self.f.fileno())
            self.f.close()
            os.replace(self.tmp, self.out)
            fsync_dir(self.out.parent)

        self._guard(done)

    def abort(self) -> None:
        if not self.f.closed:
            self.f.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> _FileSink:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


class ParquetSink(_FileSink):
    """Parquet with the metadata in the schema (key b"bertex"); zstd-compressed."""

    writer: pq.ParquetWriter | None = None

    def rows_of(self, table: pa.Table) -> None:
        table = with_meta(table, self.meta)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.f, table.schema, compression="zstd")
        self.writer.write_table(table)

    def finish(self) -> None:
        if self.writer is None:
            raise OutputError(f"cannot write {self.out}: no rows to write")
        self.writer.close()


class JsonlSink(_FileSink):
    """A first line {"bertex": meta}, then one JSON object per row."""

    def start(self) -> None:
        self.f.write((json.dumps({"bertex": self.meta}, ensure_ascii=False) + "\n").encode())

    def rows_of(self, table: pa.Table) -> None:
        for record in table.to_pylist():
            try:  # strict JSON: a NaN vector is refused, never written as a bare NaN
                line = json.dumps(record, ensure_ascii=False, allow_nan=False)
            except ValueError:
                raise OutputError(
                    f"cannot write {self.out}: row id {record.get('id')!r} holds a number that "
                    "is not finite (NaN or infinity); check the model's weights"
                ) from None
            self.f.write((line + "\n").encode())


class _ArraySink(_FileSink):
    """One (N, *shape) array of sentence vectors; the ids and the metadata beside it
    (OUT.ids.jsonl, OUT.meta.json), written before the array is renamed into place."""

    def start(self) -> None:
        self.dtype = np.dtype(self.meta["dtype"]).newbyteorder("<")
        self.shape = [self.rows, *self.meta["vector_shape"]]
        self.ids_tmp = beside(self.out, "ids.jsonl.tmp")
        self.ids: IO[bytes] = open(self.ids_tmp, "wb")  # noqa: SIM115
        self.header()

    def header(self) -> None:
        raise NotImplementedError

    def rows_of(self, table: pa.Table) -> None:
        flat = table.column("vector").combine_chunks().values.to_numpy(zero_copy_only=False)
        vectors = flat.reshape([len(table), *self.meta["vector_shape"]])  # (n, *shape)
        self.f.write(np.ascontiguousarray(vectors, dtype=self.dtype).tobytes())
        for value in table.column("id").to_pylist():
            self.ids.write((json.dumps(value, ensure_ascii=False) + "\n").encode())

    def finish(self) -> None:
        self.ids.flush()
        os.fsync(self.ids.fileno())
        self.ids.close()
        os.replace(self.ids_tmp, beside(self.out, "ids.jsonl"))
        doc = (json.dumps(self.meta, indent=2) + "\n").encode()
        write_bytes_atomic(beside(self.out, "meta.json"), doc)

    def abort(self) -> None:
        super().abort()
        if hasattr(self, "ids") and not self.ids.closed:
            self.ids.close()
        if hasattr(self, "ids_tmp"):
            self.ids_tmp.unlink(missing_ok=True)


class NpySink(_ArraySink):
    def header(self) -> None:
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": tuple(self.shape),
        }
        np.lib.format.write_array_header_1_0(self.f, header)


class SafetensorsSink(_ArraySink):
    """The safetensors layout written by hand so that it streams: an 8-byte header length, a
    JSON header padded to 8 bytes (the metadata under __metadata__.bertex), then the data."""

    def header(self) -> None:
        nbytes = int(np.prod(self.shape)) * self.dtype.itemsize
        header = {
            "__metadata__": {"bertex": json.dumps(self.meta)},
            "vectors": {
                "dtype": {"float32": "F32", "float16": "F16"}[self.meta["dtype"]],
                "shape": self.shape,
                "data_offsets": [0, nbytes],
            },
        }
        raw = json.dumps(header).encode()
        raw += b" " * (-len(raw) % 8)
        self.f.write(len(raw).to_bytes(8, "little"))
        self.f.write(raw)


SINKS: dict[str, type[_FileSink]] = {
    "parquet": ParquetSink,
    "jsonl": JsonlSink,
    "npy": NpySink,
    "safetensors": SafetensorsSink,
}


def open_sink(out: Path, meta: dict[str, Any], rows: int) -> _FileSink:
    """The sink for `out`'s suffix, opened with the metadata and the total number of rows."""
    return SINKS[format_of(out)](out, meta, rows)
