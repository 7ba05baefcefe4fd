"""Table sources: CSV/TSV (Python's csv module) and Parquet (pyarrow, batch by batch)."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..errors import SourceError
from . import Row, SourceSpec
from .files import _bad, check_encoding, field_row, too_big


def field_names(path: Path, fmt: str) -> list[str]:
    """The fields a table source has: a CSV header, a Parquet schema, the first JSONL record's
    keys; [] for plain text and folders (and for anything unreadable: the reader reports it)."""
    try:
        if fmt in ("csv", "tsv"):
            with path.open("rb") as raw:
                check_encoding(raw, str(path))
                text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
                return next(csv.reader(text, delimiter="\t" if fmt == "tsv" else ","), [])
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        if fmt == "jsonl":
            with path.open("rb") as raw:
                check_encoding(raw, str(path))
                first = json.loads(raw.readline(1 << 20) or b"{}")
                return list(first) if isinstance(first, dict) else []
    except (OSError, ValueError, csv.Error):
        return []
    except Exception:  # pyarrow's ArrowInvalid: the reader reports it with its context
        return []
    return []


def csv_rows(path: Path, spec: SourceSpec, delimiter: str) -> Iterator[Row]:
    """Rows of a CSV/TSV file with a header. Bytes that are not UTF-8 are kept as surrogates
    while parsing, so one bad row is reported as bad instead of stopping the file. A field over
    the document limit is a bad row (the line itself is read whole by the csv module)."""
    limit = spec.max_doc_bytes
    csv.field_size_limit(limit + 1 if limit else sys.maxsize)
    with path.open("rb") as raw:
        check_encoding(raw, str(path))
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape", newline="")
        reader = csv.DictReader(text, delimiter=delimiter)
        _required_columns(path, spec, reader.fieldnames or [])
        number = -1
        while True:
            number += 1
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as e:  # a field over the limit: that line is dropped by csv
                yield _bad(number, spec, too_big(None, limit) if limit else f"CSV: {e}")
                continue
            bad = next(
                (k for k, v in record.items() if isinstance(v, str) and _has_surrogate(v)), None
            )
            if bad is not None:
                yield _bad(number, spec, f"invalid UTF-8 in column {bad!r}")
            elif None in record:
                yield _bad(number, spec, "more fields than the header has")
            else:
                yield _limited(number, record, spec)


def _limited(number: int, record: dict, spec: SourceSpec) -> Row:
    limit = spec.max_doc_bytes
    big = max((len(v) for v in record.values() if isinstance(v, str)), default=0)
    if limit and big > limit:
        return _bad(number, spec, too_big(big, limit))
    return field_row(number, record, spec)


def _required_columns(path: Path, spec: SourceSpec, header: Sequence[str]) -> list[str]:
    """The columns the spec names; an error listing the table's columns if one is absent."""
    needed = [f for f in (spec.text_field, spec.id_field, spec.pair_field) if f]
    needed += [f for f in spec.keep_fields if f not in needed]
    missing = [f for f in needed if f not in header]
    if missing:
        raise SourceError(
            f"{path}: no column {', '.join(map(repr, missing))}; columns are "
            f"{', '.join(map(repr, header))} (choose with --text-field/--id-field/"
            "--pair-field/--keep-field)"
        )
    return needed


def _has_surrogate(value: str) -> bool:
    return any("\udc80" <= c <= "\udcff" for c in value)


def parquet_rows(path: Path, spec: SourceSpec) -> Iterator[Row]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises ArrowInvalid and OSError variants
        raise SourceError(f"{path}: not a readable Parquet file ({e})") from None
    needed = _required_columns(path, spec, pf.schema_arrow.names)
    number = 0
    for batch in pf.iter_batches(batch_size=4096, columns=needed):
        for record in batch.to_pylist():
            yield field_row(number, record, spec)
            number += 1
