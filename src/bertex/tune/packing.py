"""Pack tokenized documents into full-length blocks for masked-LM training.

Documents are joined end to end with the separator between them and cut into blocks of
`length` tokens ([CLS] + length-2 tokens + [SEP]), as RoBERTa's FULL-SENTENCES packing does:
no padding is wasted except in the last block. A word cut by a block boundary keeps its pieces
as one unit on each side. Word ids are renumbered per block so that units never collide.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .masking import SPECIAL


@dataclass(frozen=True)
class Doc:
    """One tokenized document without special tokens: its ids and each token's word id."""

    ids: Sequence[int]
    words: Sequence[int]


@dataclass(frozen=True)
class Block:
    """One training sequence: ids (T,) with the special tokens, words (T,) (-1 on specials)."""

    ids: np.ndarray
    words: np.ndarray

    def __len__(self) -> int:
        return int(self.ids.shape[0])


def pack(docs: Iterable[Doc], length: int, cls_id: int, sep_id: int) -> list[Block]:
    """Blocks of exactly `length` tokens (the last may be shorter), documents separated by
    `sep_id` (a special token: never masked).

    >>> docs = [Doc([10, 11, 12], [0, 0, 1]), Doc([20, 21], [0, 1])]
    >>> [b.ids.tolist() for b in pack(docs, 5, cls_id=1, sep_id=2)]
    [[1, 10, 11, 12, 2], [1, 2, 20, 21, 2]]
    >>> [b.words.tolist() for b in pack(docs, 5, cls_id=1, sep_id=2)]
    [[-1, 0, 0, 1, -1], [-1, -1, 2, 3, -1]]
    """
    if length < 3:
        raise ValueError(f"length={length}: a block needs room for [CLS], a token and [SEP]")
    ids, words = _stream(docs, sep_id)
    body = length - 2
    blocks = []
    for start in range(0, len(ids), body):
        chunk_ids, chunk_words = ids[start : start + body], words[start : start + body]
        if (chunk_words == SPECIAL).all():
            continue  # only a separator left over: nothing to learn from
        blocks.append(
            Block(
                np.concatenate([[cls_id], chunk_ids, [sep_id]]).astype(np.int64),
                np.concatenate([[SPECIAL], chunk_words, [SPECIAL]]).astype(np.int64),
            )
        )
    return blocks


def _stream(docs: Iterable[Doc], sep_id: int) -> tuple[np.ndarray, np.ndarray]:
    """All documents as one stream with a separator between them; word ids made unique across
    documents (each document's are offset past the previous ones)."""
    ids: list[int] = []
    words: list[int] = []
    offset = 0
    for doc in docs:
        if not len(doc.ids):
            continue
        if ids:
            ids.append(sep_id)
            words.append(SPECIAL)
        ids.extend(doc.ids)
        words.extend(w + offset for w in doc.words)
        offset += max(doc.words) + 1
    return np.asarray(ids, dtype=np.int64), np.asarray(words, dtype=np.int64)


def pad_batch(
    rows: Sequence[tuple[np.ndarray, np.ndarray]], pad_id: int, ignore: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(input ids, labels) of several blocks -> input ids (B, T), attention mask (B, T),
    labels (B, T), padded on the right to the longest block.

    >>> x, a, y = pad_batch([(np.array([1, 5, 2]), np.array([-100, 5, -100])),
    ...                      (np.array([1, 2]), np.array([-100, -100]))], 0, -100)
    >>> x.tolist(), a.tolist(), y.tolist()
    ([[1, 5, 2], [1, 2, 0]], [[1, 1, 1], [1, 1, 0]], [[-100, 5, -100], [-100, -100, -100]])
    """
    width = max(len(r[0]) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)  # (B, T)
    att = np.zeros((len(rows), width), dtype=np.int64)  # (B, T)
    labels = np.full((len(rows), width), ignore, dtype=np.int64)  # (B, T)
    for i, (x, y) in enumerate(rows):
        ids[i, : len(x)], att[i, : len(x)], labels[i, : len(y)] = x, 1, y
    return ids, att, labels
