"""Data for `bertex tune tag`: words with one tag each (NER in BIO/IOB2, POS, chunks).

Two formats:
  CoNLL   one word a line, its tag in the last column (tab- or space-separated; CoNLL-2003's
          four columns work), a blank line between sentences, -DOCSTART- lines skipped
  JSONL   {"text": "...", "entities": [{"start": 0, "end": 12, "label": "person"}, ...]}
          (or [start, end, label] lists): character spans become BIO tags over words split at
          spaces, punctuation, each Han character and every span edge

The model sees sub-word tokens; a word's tag goes on its first sub-token and the rest get
-100 (ignored by the loss), as transformers' run_ner does by default.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DataFileError
from . import tables

IGNORE = -100  # torch's CrossEntropyLoss ignore_index

# Han characters are words of their own (as BERT's basic tokenizer splits them); then runs of
# word characters; then any other non-space character alone.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df\U0002a700-\U0002ebef"
_WORD = re.compile(f"[{_CJK}]|[^\\s{_CJK}\\W]+|[^\\w\\s]", re.UNICODE)


@dataclass(frozen=True)
class TagExamples:
    path: str
    words: tuple[tuple[str, ...], ...]
    tags: tuple[tuple[str, ...], ...]
    rows: tuple[int, ...]  # each sentence's first line in its file

    def label_set(self) -> tuple[str, ...]:
        """Tags sorted with "O" first (the id a padded or unknown word gets reads as no entity)."""
        found = {t for ts in self.tags for t in ts}
        return tuple(sorted(found, key=lambda t: (t != "O", t[2:], t)))


def read_tags(path: str | Path, spans_field: str = "entities") -> TagExamples:
    """CoNLL (any suffix but .jsonl) or JSONL with character spans."""
    path = Path(path)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return read_span_jsonl(path, spans_field)
    return read_conll(path)


def read_conll(path: str | Path) -> TagExamples:
    """CoNLL columns: the first is the word, the last its tag."""
    path = Path(path)
    _exists(path)
    words: list[tuple[str, ...]] = []
    tags: list[tuple[str, ...]] = []
    rows: list[int] = []
    ws: list[str] = []
    ts: list[str] = []
    first = 0
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            parts = line.split("\t") if "\t" in line else line.split()
            parts = [p.strip() for p in parts]
            if not line.strip() or parts[0] == "-DOCSTART-":
                if ws:
                    words.append(tuple(ws))
                    tags.append(tuple(ts))
                    rows.append(first)
                    ws, ts = [], []
                continue
            if len(parts) < 2 or not parts[-1] or not parts[0]:
                raise DataFileError(path, n, f"{line.strip()!r} is not 'word<TAB>tag'")
            first = first if ws else n
            ws.append(parts[0])
            ts.append(parts[-1])
    if ws:
        words.append(tuple(ws))
        tags.append(tuple(ts))
        rows.append(first)
    if not words:
        raise DataFileError(path, None, "no sentences (an empty file, or only blank lines)")
    return TagExamples(str(path), tuple(words), tuple(tags), tuple(rows))


def read_span_jsonl(path: str | Path, spans_field: str = "entities") -> TagExamples:
    """JSONL records with "text" and character spans; words and BIO tags made from them."""
    path = Path(path)
    words: list[tuple[str, ...]] = []
    tags: list[tuple[str, ...]] = []
    rows: list[int] = []
    hint = f"spans are read from {spans_field!r}: choose with --spans-field"
    for n, rec in tables.records(path, ["text", spans_field], hint):
        text = rec["text"]
        if not isinstance(text, str) or not text.strip():
            raise DataFileError(path, n, "'text' is empty or not text")
        spans = _spans(path, n, text, rec[spans_field])
        ws, ts = bio_words(text, spans)
        words.append(tuple(text[a:b] for a, b in ws))
        tags.append(tuple(ts))
        rows.append(n)
    return TagExamples(str(path), tuple(words), tuple(tags), tuple(rows))


def bio_words(
    text: str, spans: Sequence[tuple[int, int, str]]
) -> tuple[list[tuple[int, int]], list[str]]:
    """Words (character offsets) and their BIO tags; words are cut at every span edge.

    >>> bio_words("Ann in New York.", [(0, 3, "PER"), (7, 15, "LOC")])
    ([(0, 3), (4, 6), (7, 10), (11, 15), (15, 16)], ['B-PER', 'O', 'B-LOC', 'I-LOC', 'O'])
    """
    cuts = sorted({e for s in spans for e in s[:2]})
    words: list[tuple[int, int]] = []
    for m in _WORD.finditer(text):
        a = m.start()
        for c in (c for c in cuts if m.start() < c < m.end()):
            words.append((a, c))
            a = c
        words.append((a, m.end()))
    out = []
    for a, b in words:
        hit = next((s for s in spans if s[0] <= a and b <= s[1]), None)
        out.append("O" if hit is None else ("B-" if a == _first(words, hit) else "I-") + hit[2])
    return words, out


def _first(words: list[tuple[int, int]], span: tuple[int, int, str]) -> int:
    return next(a for a, b in words if span[0] <= a and b <= span[1])


def _spans(path: Path, n: int, text: str, value: Any) -> list[tuple[int, int, str]]:
    if not isinstance(value, list):
        raise DataFileError(path, n, "the spans are not a list")
    out = []
    for s in value:
        if isinstance(s, dict) and {"start", "end", "label"} <= set(s):
            a, b, label = s["start"], s["end"], s["label"]
        elif isinstance(s, (list, tuple)) and len(s) == 3:
            a, b, label = s
        else:
            raise DataFileError(path, n, f"span {s!r} is not {{start, end, label}}")
        if not (isinstance(a, int) and isinstance(b, int) and 0 <= a < b <= len(text)):
            raise DataFileError(
                path, n, f"span {s!r} is outside the text (0..{len(text)}) or empty"
            )
        if not isinstance(label, str) or not label.strip() or label == "O":
            raise DataFileError(path, n, f"span {s!r} has no entity type")
        if not text[a:b].strip():
            raise DataFileError(path, n, f"span {s!r} covers only spaces")
        out.append((a, b, label.strip()))
    out.sort()
    for x, y in zip(out, out[1:]):
        if y[0] < x[1]:
            raise DataFileError(path, n, f"spans {list(x)} and {list(y)} overlap")
    return out


def _exists(path: Path) -> None:
    if not path.is_file():
        raise DataFileError(path, None, "no such file")
    if path.stat().st_size == 0:
        raise DataFileError(path, None, "the file is empty")


def check_dev_tags(dev: TagExamples, known: Sequence[str]) -> None:
    """Refuse dev tags the training file lacks (the head has no output for them)."""
    tables.check_known(dev.path, dev.rows, dev.tags, known, "tag")


def align_labels(word_ids: Sequence[int | None], word_labels: Sequence[int]) -> list[int]:
    """Per-token labels: each word's label on its first sub-token, -100 on the rest and on
    special tokens ([CLS], [SEP], padding).

    >>> align_labels([None, 0, 0, 1, 2, 2, None], [3, 5, 0])
    [-100, 3, -100, 5, 0, -100, -100]
    """
    out, prev = [], None
    for w in word_ids:
        out.append(IGNORE if w is None or w == prev else word_labels[w])
        prev = w
    return out


@dataclass(frozen=True)
class EncodedTags:
    features: list[dict[str, Any]]  # input_ids, attention_mask[, token_type_ids], labels
    word_ids: list[list[int | None]]  # per sentence, per token: its word (None: special)
    cut_words: int  # words past max_length (no prediction; counted, never silent)
    empty_words: int  # words the tokenizer gives no token (a lone control character)


def encode_tags(
    tokenizer: Any, ex: TagExamples, labels: Sequence[str], max_length: int
) -> EncodedTags:
    """Tokenize pre-split words and align their tag ids (unknown tags: none, check_dev_tags)."""
    index = {t: i for i, t in enumerate(labels)}
    enc = tokenizer([list(w) for w in ex.words], is_split_into_words=True, truncation=True,
                    max_length=max_length)  # fmt: skip
    feats, wids = [], []
    cut = empty = 0
    for i, ts in enumerate(ex.tags):
        ids = enc.word_ids(i)
        f = {k: enc[k][i] for k in enc.keys()}
        f["labels"] = align_labels(ids, [index[t] for t in ts])
        feats.append(f)
        wids.append(ids)
        seen = {w for w in ids if w is not None}
        last = max(seen, default=-1)
        cut += len(ts) - 1 - last
        empty += sum(w not in seen for w in range(last + 1))
    return EncodedTags(feats, wids, cut, empty)


def word_tags(token_preds: Sequence[int], word_ids: Sequence[int | None], n_words: int,
              labels: Sequence[str]) -> list[str]:  # fmt: skip
    """A sentence's word tags from per-token predicted ids: each word's first sub-token's;
    a word with no token (cut at max_length) gets "O".

    >>> word_tags([0, 2, 1, 1, 0], [None, 0, 0, 1, None], 3, ["O", "B-X", "I-X"])
    ['I-X', 'B-X', 'O']
    """
    out = ["O"] * n_words
    prev = None
    for p, w in zip(token_preds, word_ids):
        if w is not None and w != prev:
            out[w] = labels[p]
        prev = w
    return out
