"""Corpus sources: files and tables -> a stream of Rows, never the whole corpus at once.

Every row gets a row number (0-based, in file order) and an id (the id column, else the row
number). A row that cannot be read becomes a Row with `error` set, never a silent drop:
invalid UTF-8, a broken JSON line, a missing column, null, a non-string value.

    open_source("corpus.jsonl", text_field="body").rows()  ->  Row(0, "a1", "text", None, None) ...
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import OptionError, SourceError

FORMATS = ("txt", "jsonl", "csv", "tsv", "parquet", "folder")


@dataclass(frozen=True)
class Row:
    row: int  # 0-based position in the source
    id: str | int
    text: str | None
    pair: str | None = None
    error: str | None = None  # why this row cannot be embedded


@dataclass(frozen=True, kw_only=True)
class SourceSpec:
    """Where the corpus is and which fields hold what."""

    path: str  # a file, a folder of .txt files, or "-" for stdin
    format: str | None = None  # by suffix when None
    text_field: str = "text"
    id_field: str | None = None
    pair_field: str | None = None

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
        """What the resume check compares: the path, its size and modification time."""
        if self.path == "-":
            return {"path": "-"}
        p = Path(self.path)
        st = p.stat()
        return {"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def open_rows(spec: SourceSpec) -> Iterator[Row]:
    """Stream the rows of a source."""
    fmt = spec.resolved_format()
    if spec.path != "-" and not Path(spec.path).exists():
        raise SourceError(f"{spec.path}: no such file or folder")
    from . import files, tables

    if fmt == "txt":
        stream = sys.stdin.buffer if spec.path == "-" else open(spec.path, "rb")  # noqa: SIM115
        return files.lines(stream, close=spec.path != "-")
    if fmt == "folder":
        return files.folder(Path(spec.path))
    if fmt == "jsonl":
        return files.jsonl(Path(spec.path), spec)
    if fmt in ("csv", "tsv"):
        return tables.csv_rows(Path(spec.path), spec, "\t" if fmt == "tsv" else ",")
    return tables.parquet_rows(Path(spec.path), spec)


def count_hint(spec: SourceSpec) -> int | None:
    """The number of rows when it is cheap to know (Parquet metadata), else None."""
    if spec.path == "-" or spec.resolved_format() != "parquet":
        return None
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(spec.path).metadata.num_rows)
