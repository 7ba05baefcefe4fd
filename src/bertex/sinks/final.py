"""Committed shards -> the final output file, streamed shard by shard (bounded memory)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import OptionError
from . import beside
from .arrow import with_meta
from .atomic import write_atomic, write_bytes_atomic

SENTENCE_ONLY = ("npy", "safetensors")


def check_level(fmt: str, level: str) -> None:
    if fmt in SENTENCE_ONLY and level != "sentence":
        raise OptionError(
            "output format",
            fmt,
            ["parquet", "jsonl"],
            f"{fmt} holds one array of sentence vectors; token and word vectors have a length "
            "per document: write .parquet or .jsonl, or use --level sentence",
        )


def finalize(shards: Sequence[Path], out: Path, fmt: str, meta: dict[str, Any]) -> None:
    {"parquet": _parquet, "jsonl": _jsonl, "npy": _npy, "safetensors": _safetensors}[fmt](
        shards, out, meta
    )


def _tables(shards: Sequence[Path]):
    for path in shards:
        yield pq.read_table(path)


def _parquet(shards: Sequence[Path], out: Path, meta: dict[str, Any]) -> None:
    first = pq.read_schema(shards[0])
    schema = with_meta(first.empty_table(), meta).schema

    def write(f: IO[bytes]) -> None:
        with pq.ParquetWriter(f, schema, compression="zstd") as writer:
            for table in _tables(shards):
                writer.write_table(table.replace_schema_metadata(schema.metadata))

    write_atomic(out, write)


def _jsonl(shards: Sequence[Path], out: Path, meta: dict[str, Any]) -> None:
    def write(f: IO[bytes]) -> None:
        f.write((json.dumps({"bertex": meta}, ensure_ascii=False) + "\n").encode())
        for table in _tables(shards):
            for record in table.to_pylist():
                f.write((json.dumps(record, ensure_ascii=False) + "\n").encode())

    write_atomic(out, write)


def _vectors(table: pa.Table, meta: dict[str, Any]) -> np.ndarray:
    flat = table.column("vector").combine_chunks().values.to_numpy(zero_copy_only=False)
    return flat.reshape([len(table), *meta["vector_shape"]])  # (n, *shape)


def _companions(shards: Sequence[Path], out: Path, meta: dict[str, Any]) -> None:
    def ids(f: IO[bytes]) -> None:
        for table in _tables(shards):
            for value in table.column("id").to_pylist():
                f.write((json.dumps(value, ensure_ascii=False) + "\n").encode())

    write_atomic(beside(out, "ids.jsonl"), ids)
    write_bytes_atomic(beside(out, "meta.json"), (json.dumps(meta, indent=2) + "\n").encode())


def _npy(shards: Sequence[Path], out: Path, meta: dict[str, Any]) -> None:
    n = sum(pq.read_metadata(p).num_rows for p in shards)
    dtype = np.dtype(meta["dtype"])

    def write(f: IO[bytes]) -> None:
        header = {
            "descr": np.lib.format.dtype_to_descr(dtype),
            "fortran_order": False,
            "shape": (n, *meta["vector_shape"]),
        }
        np.lib.format.write_array_header_1_0(f, header)
        for table in _tables(shards):
            f.write(np.ascontiguousarray(_vectors(table, meta), dtype=dtype).tobytes())

    _companions(shards, out, meta)
    write_atomic(out, write)


def _safetensors(shards: Sequence[Path], out: Path, meta: dict[str, Any]) -> None:
    """The safetensors layout written by hand so that it streams: an 8-byte header length, a
    JSON header padded to 8 bytes, then the raw little-endian data."""
    n = sum(pq.read_metadata(p).num_rows for p in shards)
    dtype = np.dtype(meta["dtype"]).newbyteorder("<")
    shape = [n, *meta["vector_shape"]]
    nbytes = int(np.prod(shape)) * dtype.itemsize
    header = {
        "__metadata__": {"bertex": json.dumps(meta)},
        "vectors": {
            "dtype": {"float32": "F32", "float16": "F16"}[meta["dtype"]],
            "shape": shape,
            "data_offsets": [0, nbytes],
        },
    }
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)

    def write(f: IO[bytes]) -> None:
        f.write(len(raw).to_bytes(8, "little"))
        f.write(raw)
        for table in _tables(shards):
            f.write(np.ascontiguousarray(_vectors(table, meta), dtype=dtype).tobytes())

    _companions(shards, out, meta)
    write_atomic(out, write)
