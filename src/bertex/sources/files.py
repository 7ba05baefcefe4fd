"""Line-based sources: plain text (one document per line), JSONL, a folder of .txt files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from . import Row, SourceSpec


def decode(raw: bytes) -> tuple[str | None, str | None]:
    """bytes -> (text, None) or (None, why it is not UTF-8)."""
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as e:
        return None, f"invalid UTF-8 at byte {e.start}"


def _split_lines(stream: IO[bytes]) -> Iterator[bytes]:
    """Lines without their ending (\\n or \\r\\n); a final line without one counts too."""
    for raw in stream:
        yield raw.rstrip(b"\n").removesuffix(b"\r")


def lines(stream: IO[bytes], close: bool) -> Iterator[Row]:
    try:
        for number, raw in enumerate(_split_lines(stream)):
            text, error = decode(raw)
            yield Row(number, number, text, None, error)
    finally:
        if close:
            stream.close()


def folder(path: Path) -> Iterator[Row]:
    """One document per .txt file, in name order; the id is the path inside the folder."""
    files = sorted(p for p in path.rglob("*.txt") if p.is_file())
    for number, p in enumerate(files):
        text, error = decode(p.read_bytes())
        yield Row(number, str(p.relative_to(path)), text, None, error)


def jsonl(path: Path, spec: SourceSpec) -> Iterator[Row]:
    with path.open("rb") as stream:
        for number, raw in enumerate(_split_lines(stream)):
            yield _json_row(number, raw, spec)


def _json_row(number: int, raw: bytes, spec: SourceSpec) -> Row:
    text, error = decode(raw)
    if error:
        return Row(number, number, None, None, error)
    try:
        obj = json.loads(text or "")
    except json.JSONDecodeError as e:
        return Row(number, number, None, None, f"broken JSON: {e.msg} at column {e.colno}")
    if not isinstance(obj, dict):
        return Row(number, number, None, None, f"expected a JSON object, got {type(obj).__name__}")
    return field_row(number, obj, spec)


def field_row(number: int, record: dict[str, Any], spec: SourceSpec) -> Row:
    """A record (JSON object, CSV row, Parquet row) -> Row, checking each named field."""
    rid: str | int = number
    if spec.id_field is not None:
        value = record.get(spec.id_field)
        if value is None:
            return Row(number, number, None, None, f"missing or null id field {spec.id_field!r}")
        rid = str(value)  # ids from a column are kept as strings
    text, error = _text_field(record, spec.text_field)
    if error:
        return Row(number, rid, None, None, error)
    pair = None
    if spec.pair_field is not None:
        pair, error = _text_field(record, spec.pair_field)
        if error:
            return Row(number, rid, text, None, error)
    return Row(number, rid, text, pair, None)


def _text_field(record: dict[str, Any], name: str) -> tuple[str | None, str | None]:
    if name not in record:
        return (
            None,
            f"missing field {name!r} (fields here: {', '.join(map(str, record)) or 'none'})",
        )
    value = record[name]
    if value is None:
        return None, f"field {name!r} is null"
    if not isinstance(value, str):
        return None, f"field {name!r} is {type(value).__name__}, not a string"
    return value, None
