"""Records of a training table (CSV/TSV with a header, JSONL, Parquet) with the named columns.

Checks at the edge, so the task readers trust what they get: an empty file, a missing column
(naming the columns the file has), a line that is not JSON, a null cell. Each record comes
with its row number for errors that name it (CSV/TSV: the header is row 1; JSONL: the line
number; Parquet: 1-based record number). A CSV holding the two lines `text,label` and
`fine,pos` gives [(2, {"text": "fine", "label": "pos"})].
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..errors import DataFileError, SourceError
from ..sources.files import check_encoding, json_objects

FORMATS = ("csv", "tsv", "jsonl", "parquet")
_SUFFIX = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_SUFFIX |= {".parquet": "parquet", ".pq": "parquet"}

Record = tuple[int, dict[str, Any]]


def table_format(path: Path) -> str:
    """The format a file's suffix names; an error naming the valid suffixes otherwise."""
    fmt = _SUFFIX.get(path.suffix.lower())
    if fmt is None:
        raise DataFileError(
            path, None, f"unknown format {path.suffix!r}; use one of {', '.join(sorted(_SUFFIX))}"
        )
    return fmt


def records(path: str | Path, columns: Sequence[str], hint: str = "") -> Iterator[Record]:
    """(row number, {column: value}) for every record, with only `columns` kept.

    `hint` ends the missing-column message (e.g. "choose with --text-column").
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, None, "no such file")
    if path.stat().st_size == 0:
        raise DataFileError(path, None, "the file is empty")
    fmt = table_format(path)
    if fmt == "parquet":
        rows = _parquet(path, columns, hint)
    elif fmt == "jsonl":
        rows = _jsonl(path, columns, hint)
    else:
        rows = _csv(path, columns, "\t" if fmt == "tsv" else ",", hint)
    seen = False
    for number, record in rows:
        seen = True
        null = next((c for c in columns if record[c] is None), None)
        if null is not None:
            raise DataFileError(path, number, f"column {null!r} is empty (null)")
        yield number, record
    if not seen:
        raise DataFileError(path, None, "no rows (the file holds no records)")


def missing_message(missing: Sequence[str], present: Sequence[str], hint: str) -> str:
    """'no column 'label'; the columns are 'text', 'y' (choose with --label-column)'"""
    msg = f"no column {', '.join(map(repr, missing))}; the columns are "
    msg += ", ".join(map(repr, present)) if present else "(none)"
    return f"{msg} ({hint})" if hint else msg


def check_known(
    path: str,
    rows: Sequence[int],
    values: Sequence[Sequence[str]],
    known: Sequence[str],
    noun: str,
) -> None:
    """Refuse a dev file using labels the training file lacks (the head has no output for
    them), naming them, the first row using one, and the known labels."""
    unknown = sorted({v for vs in values for v in vs} - set(known))
    if unknown:
        row = next(n for n, vs in zip(rows, values) if set(vs) & set(unknown))
        raise DataFileError(
            path,
            row,
            f"{noun}(s) {', '.join(map(repr, unknown))} not in the training file; it has "
            f"{', '.join(map(repr, known))}",
        )


def _check(path: Path, row: int | None, present: Sequence[str], columns: Sequence[str], hint: str):
    missing = [c for c in columns if c not in present]
    if missing:
        raise DataFileError(path, row, missing_message(missing, list(present), hint))


def _csv(path: Path, columns: Sequence[str], delimiter: str, hint: str) -> Iterator[Record]:
    csv.field_size_limit(sys.maxsize)
    with path.open("rb") as raw:
        try:
            check_encoding(raw, str(path))
        except SourceError as e:
            raise DataFileError(path, None, str(e).split(": ", 1)[-1]) from None
        with io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
            reader = csv.reader(text, delimiter=delimiter)
            header = next(reader, None)
            if header is None:
                raise DataFileError(path, None, "the file is empty")
            _check(path, 1, header, columns, hint)
            index = [header.index(c) for c in columns]
            for n, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != len(header):
                    reason = f"{len(row)} fields; the header has {len(header)}"
                    raise DataFileError(path, n, reason)
                yield n, {c: row[i] for c, i in zip(columns, index)}


def _jsonl(path: Path, columns: Sequence[str], hint: str) -> Iterator[Record]:
    with path.open("rb") as raw:
        try:
            check_encoding(raw, str(path))
        except SourceError as e:
            raise DataFileError(path, None, str(e).split(": ", 1)[-1]) from None
        with io.TextIOWrapper(raw, encoding="utf-8") as text:
            yield from _json_lines(path, text, columns, hint)


def _json_lines(path: Path, text: Iterator[str], columns: Sequence[str], hint: str):
    for n, obj in json_objects(path, text):
        _check(path, n, list(obj), columns, hint)
        yield n, {c: obj[c] for c in columns}


def _parquet(path: Path, columns: Sequence[str], hint: str) -> Iterator[Record]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises ArrowInvalid and OSError variants
        raise DataFileError(path, None, f"not a readable Parquet file ({e})") from None
    _check(path, None, pf.schema_arrow.names, columns, hint)
    n = 0
    for batch in pf.iter_batches(batch_size=4096, columns=list(columns)):
        for record in batch.to_pylist():
            n += 1
            yield n, record
