"""Reading training data for every task: tables (CSV, TSV, JSONL, Parquet) and plain text,
column resolution with one-line errors, SHA-256 of each file, and the held-out slice.

Every error is a DataFileError naming the file (and the row, 1-based; a CSV header is row 1),
raised before anything trains.
"""

from __future__ import annotations

import csv
import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DataFileError
from ..sources.files import json_objects


@dataclass(frozen=True)
class Table:
    """A file's rows as strings, by column name; `named` is False for a headerless CSV/TSV
    (its columns are then "0", "1", ...)."""

    path: Path
    columns: tuple[str, ...]
    rows: tuple[tuple[int, dict[str, Any]], ...]  # (row number in the file, row)
    named: bool = True


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def check_file(path: str | Path) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise DataFileError(p, None, "no such file")
    if not p.is_file():
        raise DataFileError(p, None, "is a folder; pass a file")
    if p.stat().st_size == 0:
        raise DataFileError(p, None, "the file is empty")
    return p


def read_table(path: str | Path, known: Sequence[str]) -> Table:
    """Rows of a CSV/TSV (a header row if it names any `known` column, else by position),
    JSONL (one object a line) or Parquet file."""
    p = check_file(path)
    if p.suffix in (".jsonl", ".json"):
        return _jsonl(p)
    if p.suffix == ".parquet":
        return _parquet(p)
    delim = "\t" if p.suffix in (".tsv", ".tab") else ","
    with p.open(newline="", encoding="utf-8-sig") as f:  # -sig: a BOM (Excel) is dropped
        try:
            raw = [(n, r) for n, r in enumerate(csv.reader(f, delimiter=delim), 1) if any(r)]
        except (csv.Error, UnicodeDecodeError) as e:
            raise DataFileError(p, None, f"not a readable {delim!r}-separated file ({e})") from None
    if not raw:
        raise DataFileError(p, None, "the file has no rows")
    header = [c.strip() for c in raw[0][1]]
    named = bool(set(header) & set(known)) or _looks_like_header(
        raw[0][1], [r for _, r in raw[1:21]]
    )
    columns = tuple(header) if named else tuple(str(i) for i in range(len(header)))
    body = raw[1:] if named else raw
    rows = tuple((n, dict(zip(columns, r))) for n, r in body)
    if not rows:
        raise DataFileError(p, None, "only a header row; no data")
    return Table(p, columns, rows, named)


def _looks_like_header(first: list[str], rest: list[list[str]]) -> bool:
    """A first row with a word where every following row has a number (a header with names
    bertex does not know, e.g. "left,right,sim": then the names are said in the error).

    >>> _looks_like_header(["a", "b", "sim"], [["x", "y", "1"], ["z", "w", "2.5"]])
    True
    >>> _looks_like_header(["x", "y", "5.0"], [["z", "w", "2.5"]])
    False
    """
    for i, cell in enumerate(first):
        column = [r[i] for r in rest if len(r) > i]
        if column and not _is_number(cell) and all(_is_number(c) for c in column):
            return True
    return False


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _jsonl(p: Path) -> Table:
    rows = []
    columns: dict[str, None] = {}
    with p.open(encoding="utf-8-sig") as f:
        for n, obj in json_objects(p, _lines(p, f)):
            columns.update(dict.fromkeys(obj))
            rows.append((n, obj))
    if not rows:
        raise DataFileError(p, None, "the file has no rows")
    return Table(p, tuple(columns), tuple(rows))


def _lines(p: Path, f: Any) -> Any:
    """The file's lines; bytes that are not UTF-8 are one line naming the file."""
    try:
        yield from f
    except UnicodeDecodeError as e:
        raise DataFileError(p, None, f"not UTF-8 text ({e.reason})") from None


def _parquet(p: Path) -> Table:
    import pyarrow.parquet as pq

    try:
        records = pq.read_table(p).to_pylist()
    except Exception as e:  # pyarrow raises several kinds
        raise DataFileError(p, None, f"not a readable Parquet file ({type(e).__name__})") from None
    if not records:
        raise DataFileError(p, None, "the file has no rows")
    return Table(p, tuple(records[0]), tuple((n, r) for n, r in enumerate(records, 1)))


def pick_columns(
    table: Table, wanted: Sequence[tuple[str, ...]], optional: int = 0
) -> list[str | None]:
    """For each wanted column (a tuple of accepted names, first = canonical), the table's
    column. A headerless file is read by position. The last `optional` wanted columns may be
    absent (None). A missing one is refused, naming the columns present.

    >>> t = Table(Path("p.csv"), ("sentence1", "sentence2", "score"), ())
    >>> pick_columns(t, [("text_a", "sentence1"), ("text_b", "sentence2"), ("score", "label")])
    ['sentence1', 'sentence2', 'score']
    """
    if not table.named:
        n = len(table.columns)
        need = len(wanted) - optional
        if n < need:
            names = ", ".join(w[0] for w in wanted)
            raise DataFileError(
                table.path,
                None,
                f"{n} columns; expected {names} (a header naming them, or "
                "these columns in this order)",
            )
        return [str(i) if i < n else None for i in range(len(wanted))]
    found: list[str | None] = []
    for i, accepted in enumerate(wanted):
        hit = next((c for c in accepted if c in table.columns), None)
        if hit is None and i < len(wanted) - optional:
            raise DataFileError(
                table.path,
                None,
                f"no column {' or '.join(map(repr, accepted))}; the file has "
                f"{', '.join(map(repr, table.columns))}",
            )
        found.append(hit)
    return found


def text_of(table: Table, n: int, row: dict[str, Any], column: str) -> str:
    """A non-empty string cell, or a one-line error naming the row and column."""
    value = row.get(column)
    if value is None or (isinstance(value, float) and value != value):
        raise DataFileError(table.path, n, f"column {column!r} is empty")
    if not isinstance(value, str):
        value = str(value)
    if not value.strip():
        raise DataFileError(table.path, n, f"column {column!r} is empty")
    return value


def number_of(table: Table, n: int, row: dict[str, Any], column: str) -> float:
    value = row.get(column)
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DataFileError(table.path, n, f"{column} {value!r} is not a number") from None
    if x != x or x in (float("inf"), float("-inf")):
        raise DataFileError(table.path, n, f"{column} {value!r} is not a finite number")
    return x


def read_lines(path: str | Path) -> tuple[str, ...]:
    """A plain text file, one example a line; blank lines skipped."""
    p = check_file(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataFileError(p, None, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    lines = tuple(s.strip() for s in text.splitlines() if s.strip())
    if not lines:
        raise DataFileError(p, None, "no non-blank lines")
    return lines


def hold_out(rows: Sequence[Any], fraction: float, seed: int) -> tuple[list[Any], list[Any]]:
    """(train, held-out): a fixed-seed shuffle's first `fraction` (at least one row) held out.

    >>> hold_out(list(range(10)), 0.2, seed=0)[1]
    [7, 8]
    """
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    k = max(1, round(len(rows) * fraction))
    held = set(order[:k])
    return [r for i, r in enumerate(rows) if i not in held], [rows[i] for i in order[:k]]
