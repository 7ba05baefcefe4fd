"""Corpus sources: files and tables -> a stream of Rows, never the whole corpus at once.

Every row gets a row number (0-based, in file order) and an id: the id field (--id-field, or a
field named `id` when the input has one; ids from a field are strings), else the row number.
A row that cannot be read becomes a Row with `error` set, never a silent drop: invalid UTF-8,
a broken JSON line, a missing column, null, a non-string value, a document over
`max_doc_bytes`. A file that is not UTF-8 as a whole (UTF-16/32, NUL bytes) is refused with
one line; a UTF-8 byte order mark is dropped.

    open_source("corpus.jsonl", text_field="body").rows()  ->  Row(0, "a1", "text", None, None) ...
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import OptionError, SourceError

FORMATS = ("txt", "jsonl", "csv", "tsv", "parquet", "folder")
DEFAULT_MAX_DOC_BYTES = 10_000_000  # one document (a line, a field, a file) in UTF-8 bytes


@dataclass(frozen=True)
class Row:
    row: int  # 0-based position in the source
    id: str | int | None  # None: the id field of this row could not be read
    text: str | None
    pair: str | None = None
    error: str | None = None  # why this row cannot be embedded
    fields: dict[str, str | None] = field(default_factory=dict)  # --keep-field values


@dataclass(frozen=True, kw_only=True)
class SourceSpec:
    """Where the corpus is and which fields hold what."""

    path: str  # a file, a folder of .txt files, or "-" for stdin
    format: str | None = None  # by suffix when None
    text_field: str = "text"
    id_field: str | None = None
    pair_field: str | None = None
    keep_fields: tuple[str, ...] = ()
    max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES  # 0: no limit

    def resolved_format(self) -> str:
        if self.format is not None:
            if self.format not in FORMATS:
                raise OptionError("format", self.format, FORMATS)
            return self.format
        if self.path == "-":
            return "txt"
        p = Path(self.path)
        if p.is_dir():
            return "folder"
        suffix = p.suffix.lower().lstrip(".")
        by_suffix = {
            "txt": "txt",
            "text": "txt",
            "jsonl": "jsonl",
            "ndjson": "jsonl",
            "csv": "csv",
            "tsv": "tsv",
            "parquet": "parquet",
            "pq": "parquet",
        }
        if suffix not in by_suffix:
            raise OptionError(
                "input format",
                suffix or p.name,
                FORMATS,
                f"cannot tell the format of {p} from its suffix; pass --input-format",
            )
        return by_suffix[suffix]

    @property
    def numeric_ids(self) -> bool:
        """Ids are row numbers (int64) unless a column or file names give them (strings)."""
        return self.id_field is None and (self.path == "-" or self.resolved_format() != "folder")

    def identity(self) -> dict[str, object]:
        """What the resume check compares cheaply: the path, its size and modification time.
        (The content itself is checked shard by shard: see corpus.rows_digest.)"""
        if self.path == "-":
            return {"path": "-"}
        p = Path(self.path)
        try:
            st = p.stat()
        except OSError as e:
            raise SourceError(f"{self.path}: {e.strerror or 'cannot be read'}") from None
        return {"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def resolve_source(spec: SourceSpec) -> SourceSpec:
    """The spec with its defaults settled: a field named `id` gives the ids when no
    --id-field was given (JSONL: when the first record has one)."""
    if spec.path != "-" and not Path(spec.path).exists():
        raise SourceError(f"{spec.path}: no such file or folder")
    if spec.id_field is not None or spec.path == "-":
        return spec
    from . import tables

    if "id" in tables.field_names(Path(spec.path), spec.resolved_format()):
        return replace(spec, id_field="id")
    return spec


def open_rows(spec: SourceSpec) -> Iterator[Row]:
    """Stream the rows of a source."""
    fmt = spec.resolved_format()
    if spec.path != "-" and not Path(spec.path).exists():
        raise SourceError(f"{spec.path}: no such file or folder")
    from . import files, tables

    if fmt in ("txt", "jsonl"):
        name = "stdin" if spec.path == "-" else spec.path
        stream: Any = _stdin() if spec.path == "-" else _open(Path(spec.path))
        rows = files.lines(stream, name, spec.max_doc_bytes)
        if fmt == "jsonl":
            rows = files.jsonl(rows, spec)
        return files.closing(rows, stream if spec.path != "-" else None)
    if fmt == "folder":
        return files.folder(Path(spec.path), spec.max_doc_bytes)
    if fmt in ("csv", "tsv"):
        return tables.csv_rows(Path(spec.path), spec, "\t" if fmt == "tsv" else ",")
    return tables.parquet_rows(Path(spec.path), spec)


def count_hint(spec: SourceSpec) -> int | None:
    """The number of rows when it is cheap to know (Parquet metadata), else None."""
    if spec.path == "-" or spec.resolved_format() != "parquet":
        return None
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(spec.path).metadata.num_rows)


def _stdin() -> Any:
    stream = sys.stdin.buffer
    return stream if hasattr(stream, "peek") else io.BufferedReader(stream)


def _open(path: Path) -> Any:
    if path.is_dir():
        raise SourceError(f"{path}: a folder, not a file (--input-format folder embeds its .txt)")
    try:
        return open(path, "rb")  # noqa: SIM115 (closed by files.closing)
    except OSError as e:
        raise SourceError(f"{path}: {e.strerror or 'cannot be read'}") from None
