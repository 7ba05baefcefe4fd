"""Readers for the analysis files: scored pairs, labelled texts, CoNLL two-column tags.

Every reader checks at the edge and raises DataFileError naming the file and the row (1-based,
header = row 1 for CSV/TSV, line number for JSONL and CoNLL); later stages trust the types.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataFileError
from ..sources.files import json_objects, utf8_file_lines


@dataclass(frozen=True)
class Pairs:
    """Sentence pairs with gold similarity scores (STS)."""

    a: tuple[str, ...]
    b: tuple[str, ...]
    scores: tuple[float, ...]


@dataclass(frozen=True)
class Labelled:
    """Texts with one class label each."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    rows: tuple[int, ...] = ()  # each text's row in its file, for errors that name one


@dataclass(frozen=True)
class Tagged:
    """Pre-split sentences with one BIO tag per word (CoNLL)."""

    words: tuple[tuple[str, ...], ...]
    tags: tuple[tuple[str, ...], ...]


def _rows(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """(row number, {column: value}) for CSV, TSV and JSONL files.

    A CSV/TSV file whose first row does not name the columns is read by position (the shared
    STS-B files have no header: sentence1, sentence2, score).
    """
    if not path.is_file():
        raise DataFileError(path, None, "no such file")
    if path.suffix in (".jsonl", ".json"):
        yield from _jsonl(path, columns)
        return
    delim = "\t" if path.suffix in (".tsv", ".tab") else ","
    reader = csv.reader(utf8_file_lines(path), delimiter=delim)
    first = next(reader, None)
    if first is None:
        raise DataFileError(path, None, "the file is empty")
    named = set(columns) <= set(first)
    index = [first.index(c) for c in columns] if named else list(range(len(columns)))
    rows = reader if named else _chain(first, reader)
    for n, row in enumerate(rows, start=2 if named else 1):
        if len(row) < max(index) + 1:
            raise DataFileError(
                path,
                n,
                f"{len(row)} columns; expected {', '.join(columns)} "
                f"(a header naming them, or these columns in this order)",
            )
        yield n, {c: row[i] for c, i in zip(columns, index)}


def _chain(first: list[str], rest: Iterator[list[str]]) -> Iterator[list[str]]:
    yield first
    yield from rest


def _jsonl(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    for n, obj in json_objects(path, utf8_file_lines(path)):
        missing = [c for c in columns if c not in obj]
        if missing:
            raise DataFileError(path, n, f"missing field {missing[0]!r}; needs {columns}")
        yield n, {c: str(obj[c]) for c in columns}


def read_pairs(
    path: str | Path, columns: tuple[str, str, str] = ("sentence1", "sentence2", "score")
) -> Pairs:
    """A file of scored pairs: CSV (header optional), TSV or JSONL with the named columns."""
    path = Path(path)
    a, b, scores = [], [], []
    for n, row in _rows(path, columns):
        try:
            score = float(row[columns[2]])
        except ValueError:
            raise DataFileError(path, n, f"score {row[columns[2]]!r} is not a number") from None
        a.append(row[columns[0]])
        b.append(row[columns[1]])
        scores.append(score)
    if len(scores) < 3:
        raise DataFileError(path, None, f"{len(scores)} pairs; a correlation needs at least 3")
    return Pairs(tuple(a), tuple(b), tuple(scores))


def read_labelled(
    path: str | Path, columns: tuple[str, str] = ("text", "label"), limit: int | None = None
) -> Labelled:
    """A file of text,label rows: CSV/TSV (header optional) or JSONL; at most `limit` rows."""
    path = Path(path)
    texts: list[str] = []
    labels: list[str] = []
    rows: list[int] = []
    for n, row in _rows(path, columns):
        if limit is not None and len(texts) >= limit:
            break
        rows.append(n)
        if not row[columns[1]].strip():
            raise DataFileError(path, n, "empty label")
        texts.append(row[columns[0]])
        labels.append(row[columns[1]].strip())
    if len(set(labels)) < 2:
        found = f"a single class ({labels[0]!r})" if labels else "no rows"
        raise DataFileError(path, None, f"{found}; a classifier needs at least two classes")
    return Labelled(tuple(texts), tuple(labels), tuple(rows))


def read_conll(path: str | Path, limit_tokens: int | None = None) -> Tagged:
    """CoNLL two columns (token, tag; tab or space separated); a blank line ends a sentence.

    `limit_tokens` stops after the sentence that reaches that many tokens (a subset that keeps
    whole sentences).
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, None, "no such file")
    sents: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    words: list[str] = []
    tags: list[str] = []
    total = 0
    for n, line in enumerate(utf8_file_lines(path), start=1):
        if not line.strip():
            if words:
                sents.append((tuple(words), tuple(tags)))
                total += len(words)
                words, tags = [], []
            if limit_tokens is not None and total >= limit_tokens:
                break
            continue
        parts = line.rstrip("\n").split("\t") if "\t" in line else line.split()
        if len(parts) < 2 or not parts[-1].strip():
            raise DataFileError(path, n, f"{line.strip()!r} has no tag column (token, tag)")
        words.append(parts[0].strip())
        tags.append(parts[-1].strip())
    if words:
        sents.append((tuple(words), tuple(tags)))
    if not sents:
        raise DataFileError(path, None, "no sentences")
    return Tagged(tuple(s[0] for s in sents), tuple(s[1] for s in sents))
