"""Line-based sources: plain text (one document per line), JSONL, a folder of .txt files.

Lines end at "\\n" (a "\\r\\n" ending loses its "\\r"; a lone "\\r" is part of the text), the
same for a file and for stdin. A line longer than the document limit is never held whole: it
is read in chunks, counted and reported as a bad row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from ..errors import DataFileError, SourceError
from . import Row, SourceSpec

BOM_UTF8 = b"\xef\xbb\xbf"
_OTHER_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16",
}  # fmt: skip
_CHUNK = 1 << 20


def decode(raw: bytes) -> tuple[str | None, str | None]:
    """bytes -> (text, None) or (None, why it is not UTF-8)."""
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as e:
        return None, f"invalid UTF-8 at byte {e.start}"


def encoding_problem(head: bytes) -> str | None:
    """Why bytes that start a file are not UTF-8 text, or None.

    >>> encoding_problem(b"\\xff\\xfeh\\x00i\\x00")
    'it is UTF-16 (it starts with a byte order mark)'
    """
    for bom, name in _OTHER_BOMS.items():
        if head.startswith(bom):
            return f"it is {name} (it starts with a byte order mark)"
    if len(head) >= 8 and head.count(b"\x00") * 4 >= len(head):  # UTF-16 ASCII is half NUL bytes
        return "a quarter or more of its first bytes are NUL: UTF-16 without a byte order mark"
    return None


def check_encoding(stream: Any, name: str) -> None:
    """Refuse a stream that is not UTF-8 as a whole; drop a UTF-8 byte order mark."""
    head = stream.peek(4096)[:4096]
    problem = encoding_problem(head)
    if problem:
        raise SourceError(
            f"{name}: {problem}; bertex reads UTF-8: re-encode it "
            "(e.g. iconv -f UTF-16 -t UTF-8 IN > OUT)"
        )
    if head.startswith(BOM_UTF8):
        stream.read(len(BOM_UTF8))


def utf8_lines(stream: IO[bytes], name: str) -> Iterator[str]:
    """Each line of a user's text file, its line ending kept, decoded as every bertex reader of
    user files decodes (the corpus reader, the analysis files, predict's input): UTF-16/32 is
    refused whole with an iconv hint, a UTF-8 byte order mark dropped, and a line that is not
    UTF-8 refused naming the file and the line. `stream` is a buffered binary stream."""
    check_encoding(stream, name)
    for number, raw in enumerate(stream, start=1):
        text, error = decode(raw)
        if text is None:
            raise SourceError(
                f"{name}: line {number}: {error}; bertex reads UTF-8: re-encode it (find its "
                "encoding with `file -i`, then iconv -f THAT -t UTF-8 IN > OUT)"
            )
        yield text


def utf8_file_lines(path: Path, name: str | None = None) -> Iterator[str]:
    """utf8_lines of a file, opened and closed here; errors name it as `name` (default: the
    path)."""
    with path.open("rb") as stream:
        yield from utf8_lines(stream, str(path) if name is None else name)


def too_big(size: int | None, limit: int) -> str:
    what = "document is" if size is None else f"document is {size:,} bytes,"
    return (
        f"{what} over the limit of {limit:,} bytes per document (--max-doc-bytes; 0 for no limit)"
    )


def split_lines(stream: IO[bytes], limit: int) -> Iterator[bytes | int]:
    """Lines without their ending; a line over `limit` bytes yields its size (an int) instead,
    read in chunks so that it is never held whole. `limit` 0 means no limit."""
    while raw := stream.readline(limit + 2 if limit else -1):
        line = raw.removesuffix(b"\n").removesuffix(b"\r") if raw.endswith(b"\n") else raw
        if not limit or len(line) <= limit:
            yield line
            continue
        size = len(line)
        while not raw.endswith(b"\n") and (raw := stream.readline(_CHUNK)):
            size += len(raw.removesuffix(b"\n").removesuffix(b"\r"))
        yield size


def lines(stream: Any, name: str, limit: int) -> Iterator[Row]:
    check_encoding(stream, name)
    for number, raw in enumerate(split_lines(stream, limit)):
        if isinstance(raw, int):
            yield Row(number, number, None, None, too_big(raw, limit))
            continue
        text, error = decode(raw)
        yield Row(number, number, text, None, error)


def closing(rows: Iterator[Row], stream: IO[bytes] | None) -> Iterator[Row]:
    try:
        yield from rows
    finally:
        if stream is not None:
            stream.close()


def folder(path: Path, limit: int) -> Iterator[Row]:
    """One document per .txt file, in name order; the id is the path inside the folder."""
    files = sorted(p for p in path.rglob("*.txt") if p.is_file())
    for number, p in enumerate(files):
        rid = str(p.relative_to(path))
        size = p.stat().st_size
        if limit and size > limit:
            yield Row(number, rid, None, None, too_big(size, limit))
            continue
        raw = p.read_bytes()
        problem = encoding_problem(raw[:4096])
        if problem:
            yield Row(number, rid, None, None, f"not UTF-8: {problem}")
            continue
        text, error = decode(raw.removeprefix(BOM_UTF8))
        yield Row(number, rid, text, None, error)


def jsonl(rows: Iterator[Row], spec: SourceSpec) -> Iterator[Row]:
    """Rows of raw lines -> rows of the JSON objects' fields."""
    for row in rows:
        if row.error:
            yield _bad(row.row, spec, row.error)
        else:
            yield _json_row(row.row, row.text or "", spec)


def _json_row(number: int, text: str, spec: SourceSpec) -> Row:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        return _bad(number, spec, f"broken JSON: {e.msg} (column {e.colno})")
    if not isinstance(obj, dict):
        return _bad(number, spec, f"expected a JSON object, got {type(obj).__name__}")
    return field_row(number, obj, spec)


def _bad(number: int, spec: SourceSpec, reason: str) -> Row:
    """A bad row's id: its row number, or None where the ids come from a field (so that the
    ids of errors.jsonl are of one type)."""
    return Row(number, number if spec.id_field is None else None, None, None, reason)


def field_row(number: int, record: dict[str, Any], spec: SourceSpec) -> Row:
    """A record (JSON object, CSV row, Parquet row) -> Row, checking each named field."""
    rid: str | int | None = number
    if spec.id_field is not None:
        value = record.get(spec.id_field)
        if value is None:
            return _bad(number, spec, f"missing or null id field {spec.id_field!r}")
        rid = str(value)  # ids from a field are kept as strings
    kept = {name: _kept(record.get(name)) for name in spec.keep_fields}
    text, error = _text_field(record, spec.text_field, spec.max_doc_bytes)
    if error:
        return Row(number, rid, None, None, error, kept)
    pair = None
    if spec.pair_field is not None:
        pair, error = _text_field(record, spec.pair_field, spec.max_doc_bytes)
        if error:
            return Row(number, rid, text, None, error, kept)
    return Row(number, rid, text, pair, None, kept)


def _kept(value: Any) -> str | None:
    """A --keep-field value as stored: strings as they are, other values as JSON, null None."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _text_field(record: dict[str, Any], name: str, limit: int) -> tuple[str | None, str | None]:
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
    if limit and len(value) * 4 > limit and len(value.encode("utf-8", "replace")) > limit:
        return None, too_big(len(value.encode("utf-8", "replace")), limit)
    return value, None


def json_objects(path: object, lines: Iterable[str]) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSON Lines file; a line that is not
    JSON, or not a JSON object, is a DataFileError naming the file and the line.

    >>> list(json_objects("f.jsonl", ['{"a": 1}', "", '{"a": 2}']))
    [(1, {'a': 1}), (3, {'a': 2})]
    """
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataFileError(path, n, f"not JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise DataFileError(path, n, f"a JSON {type(obj).__name__}, not an object")
        yield n, obj
