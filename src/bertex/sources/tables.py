"""Table sources: CSV/TSV (Python's csv module) and Parquet (pyarrow, batch by batch)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..errors import SourceError
from . import Row, SourceSpec
from .files import field_row


def csv_rows(path: Path, spec: SourceSpec, delimiter: str) -> Iterator[Row]:
    """Rows of a CSV/TSV file with a header. Bytes that are not UTF-8 are kept as surrogates
    while parsing, so one bad row is reported as bad instead of stopping the file."""
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape", newline="")
        reader = csv.DictReader(text, delimiter=delimiter)
        _required_columns(path, spec, reader.fieldnames or [])
        for number, record in enumerate(reader):
            bad = next(
                (k for k, v in record.items() if isinstance(v, str) and _has_surrogate(v)), None
            )
            if bad is not None:
                yield Row(number, number, None, None, f"invalid UTF-8 in column {bad!r}")
                continue
            if None in record:
                yield Row(number, number, None, None, "more fields than the header has")
                continue
            yield field_row(number, {k: v for k, v in record.items()}, spec)


def _required_columns(path: Path, spec: SourceSpec, header: Sequence[str]) -> list[str]:
    """The columns the spec names; an error listing the table's columns if one is absent."""
    needed = [f for f in (spec.text_field, spec.id_field, spec.pair_field) if f]
    missing = [f for f in needed if f not in header]
    if missing:
        raise SourceError(
            f"{path}: no column {', '.join(map(repr, missing))}; columns are "
            f"{', '.join(map(repr, header))} (choose with --text-col/--id-col/--pair-col)"
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
