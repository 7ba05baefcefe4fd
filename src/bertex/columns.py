"""Texts -> token columns, and token columns -> padded batches. Pure functions on arrays.

The columnar sentence path keeps a chunk's tokens as one flat id array and row offsets (a CSR
layout) instead of one Encoding per input: the fast tokenizer's batch call, one pass over its
ids, and every later step (lengths, UNK counts, padding) is an array operation over the chunk.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .tokenize import Template


@dataclass(frozen=True, eq=False)
class TokenColumns:
    """A chunk's content tokens (no special tokens), row r at ids[starts[r]:][:lengths[r]]."""

    ids: np.ndarray  # (M,) int64, every row's tokens end to end
    starts: np.ndarray  # (N,) int64 where each row's tokens start in ids
    lengths: np.ndarray  # (N,) int64 content tokens per row
    unk_count: np.ndarray  # (N,) int64 tokens that are the unknown token
    unk_chars: np.ndarray  # (N,) int64 characters those tokens cover

    def take(self, rows: np.ndarray) -> TokenColumns:
        """Rows `rows` (n,) only; the id array is shared, not copied."""
        return TokenColumns(
            self.ids,
            self.starts[rows],
            self.lengths[rows],
            self.unk_count[rows],
            self.unk_chars[rows],
        )


# Characters a BertNormalizer changes in ASCII text besides case: the control characters its
# clean_text drops, and \t \n \r, which it makes spaces. Rows with the first go to the full
# tokenizer always; rows with \t \n \r only where a space and they could tokenize apart: a
# pre-tokenizer that does not split on every whitespace alike (Metaspace, Split(" "), none),
# or an added token matched on normalized text that holds a space ("hello world" matches
# "hello\tworld" after the BertNormalizer, not after a Lowercase).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_OR_SPACING = re.compile(r"[\x00-\x1f\x7f]")
_SPLITS_ON_WHITESPACE = {"BertPreTokenizer", "WhitespaceSplit", "Whitespace"}


@dataclass(frozen=True, eq=False)
class ColumnTokenizer:
    """The Rust tokenizer the columnar path calls, and its plain twin for plain ASCII rows.

    The twin is the same pipeline with its BertNormalizer replaced by a plain lowercasing (or
    by nothing, for a cased model): on ASCII without control characters that normalizer only
    lowercases (accents, Chinese characters and clean_text touch nothing there, and the tabs
    and newlines it makes spaces split words alike; `hard` sends rows with them to `full`
    where they would not), so the ids and offsets are the same (tested on mixed and on
    seeded random text, special and added tokens written in the text included, against the
    full tokenizer), and the twin skips the normalizer's per-character Unicode work:
    16.8 -> 11.6 µs of CPU per short sentence (BENCHMARKS.md "Host cost").
    The tokenizer still does the lowercasing, so added tokens ([MASK] in a text) are matched
    as the full tokenizer matches them. None where the model's normalizer is not a
    BertNormalizer (RoBERTa's byte-level BPE, SentencePiece): every row takes `full` there."""

    full: Any
    plain: Any | None
    hard: re.Pattern[str] = _CONTROL  # rows it finds in go to `full`, besides non-ASCII rows

    def encode(self, texts: Sequence[str]) -> list[Any]:
        """One Encoding per text (no special tokens, no offsets), in order."""
        texts = list(texts)
        if self.plain is None:
            return self.full.encode_batch_fast(texts, add_special_tokens=False)
        easy = [t.isascii() and self.hard.search(t) is None for t in texts]
        plain = [t for t, e in zip(texts, easy) if e]
        encs = self.plain.encode_batch_fast(plain, add_special_tokens=False)
        if len(plain) == len(texts):
            return encs
        rest = iter(self.full.encode_batch_fast(
            [t for t, e in zip(texts, easy) if not e], add_special_tokens=False
        ))  # fmt: skip
        mine = iter(encs)
        return [next(mine) if e else next(rest) for e in easy]


def fast_tokenizer(hf_tokenizer: Any) -> ColumnTokenizer:
    """A private copy of the Rust tokenizer with truncation and padding off (the HF wrapper
    sets those on its shared tokenizer per call, so a copy is never changed under us), and
    its plain twin where the normalizer is a BertNormalizer.

    No twin where an added token matched on normalized text normalizes otherwise under the
    twin's normalizer ("Café" is "cafe" to the BertNormalizer, so it matches an ASCII "cafe"
    there; "a<tab>b" is "a b"): the twin would match it on other texts than the full tokenizer."""
    tok = copy.deepcopy(hf_tokenizer.backend_tokenizer)
    tok.no_truncation()
    tok.no_padding()
    spec = json.loads(tok.to_str())
    norm = spec.get("normalizer") or {}
    if norm.get("type") != "BertNormalizer":
        return ColumnTokenizer(tok, None)
    from tokenizers import normalizers

    lower = normalizers.Lowercase() if norm.get("lowercase", True) else None
    added = [a["content"] for a in spec.get("added_tokens") or () if a.get("normalized")]
    full_forms = [tok.normalizer.normalize_str(a) for a in added]
    if full_forms != [lower.normalize_str(a) if lower else a for a in added]:
        return ColumnTokenizer(tok, None)
    plain = copy.deepcopy(tok)
    plain.normalizer = lower
    pre = (spec.get("pre_tokenizer") or {}).get("type")
    spaced = any(any(c.isspace() for c in a) for a in full_forms)
    tabs_apart = pre not in _SPLITS_ON_WHITESPACE or spaced
    return ColumnTokenizer(tok, plain, _CONTROL_OR_SPACING if tabs_apart else _CONTROL)


def tokenize(tok: ColumnTokenizer, texts: Sequence[str], unk_id: int | None) -> TokenColumns:
    """One batch call of the fast tokenizer (it releases the GIL and uses every core; its
    `encode_batch_fast` skips the character offsets), then one pass over its ids; the rare
    rows with an UNK are encoded again, with offsets, for the characters the UNKs cover.

    Rows: "a b" -> 2 tokens, "" -> 0 tokens (the caller reports it as empty).
    """
    encs = tok.encode(texts)
    lengths = np.fromiter((len(e) for e in encs), np.int64, len(encs))  # (N,)
    bounds = np.zeros(len(encs) + 1, dtype=np.int64)  # (N + 1,) row r is bounds[r]:bounds[r+1]
    np.cumsum(lengths, out=bounds[1:])
    ids = np.fromiter(itertools.chain.from_iterable(e.ids for e in encs), np.int64, bounds[-1])
    unk_count = np.zeros(len(encs), dtype=np.int64)
    unk_chars = np.zeros(len(encs), dtype=np.int64)
    if unk_id is not None and len(ids):
        hit = ids == unk_id  # (M,)
        total = np.concatenate([[0], np.cumsum(hit)])  # (M + 1,) UNKs before each position
        unk_count = total[bounds[1:]] - total[bounds[:-1]]  # (N,)
        for r in np.flatnonzero(unk_count).tolist():
            enc = tok.full.encode(texts[r], add_special_tokens=False)
            offsets = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)  # (T, 2)
            spans = offsets[np.asarray(enc.ids) == unk_id]
            unk_chars[r] = int((spans[:, 1] - spans[:, 0]).sum())
    return TokenColumns(ids, bounds[:-1], lengths, unk_count.astype(np.int64), unk_chars)


def pad_rows(
    cols: TokenColumns, rows: np.ndarray, template: Template, pad_id: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of `cols` wrapped in the model's special tokens, right-padded: (ids, mask, types),
    each (B, L) int64 with L the longest row plus the special tokens.

    >>> from .tokenize import Template
    >>> t = Template(((101, 0),), ((102, 0),), (), (), (), 0, 1)
    >>> c = TokenColumns(np.array([7, 8, 9]), np.array([0, 2]), np.array([2, 1]), None, None)
    >>> ids, mask, types = pad_rows(c, np.array([1, 0]), t, 0)
    >>> ids.tolist(), mask.tolist()
    ([[101, 9, 102, 0], [101, 7, 8, 102]], [[1, 1, 1, 0], [1, 1, 1, 1]])
    """
    p, s = len(template.prefix), len(template.suffix)
    n = cols.lengths[rows]  # (B,) content tokens per row
    width = int(n.max()) + p + s
    b = len(rows)
    ids = np.full((b, width), pad_id, dtype=np.int64)  # (B, L)
    types = np.zeros((b, width), dtype=np.int64)  # (B, L)
    col = np.arange(width - p - s)  # (C,) content positions
    inside = col[None, :] < n[:, None]  # (B, C) a real content token
    src = cols.starts[rows][:, None] + col[None, :]  # (B, C) where it is in cols.ids
    content = ids[:, p : width - s]  # (B, C) a view
    content[inside] = cols.ids[src[inside]]
    types[:, p : width - s][inside] = template.type_a
    for k, (tid, ttype) in enumerate(template.prefix):
        ids[:, k], types[:, k] = tid, ttype
    end = p + n  # (B,) where each row's suffix starts
    arange = np.arange(b)
    for k, (tid, ttype) in enumerate(template.suffix):
        ids[arange, end + k], types[arange, end + k] = tid, ttype
    mask = (np.arange(width)[None, :] < (end + s)[:, None]).astype(np.int64)  # (B, L)
    return ids, mask, types
