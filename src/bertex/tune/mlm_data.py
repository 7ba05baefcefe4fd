"""Masked-LM data: texts -> tokenized documents with word ids -> packed blocks -> masked rows.

The tokenizer decides the word scheme (WordPiece "##", byte-level BPE "Ġ", SentencePiece "▁");
Han characters are found from each token's character span, so byte-level pieces of one
character stay one unit. Every block's masks come from (seed, epoch, block index): an epoch's
masking is the same however the run was interrupted, and the dev set's masking is fixed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .masking import MaskSpec, Scheme, is_han, mask, rng_for, word_ids
from .packing import Block, Doc, pack, pad_batch

DEV_EPOCH = 1_000_003  # the dev set's masks: one fixed draw, never a training epoch's


def scheme_of(tok: Any) -> Scheme:
    """How the tokenizer marks words: WordPiece "##" continuations, or a word-start marker
    ("Ġ" for byte-level BPE, "▁" for SentencePiece / Metaspace)."""
    backend = tok.backend_tokenizer
    kind = type(backend.model).__name__
    if kind == "WordPiece":
        return "wordpiece"
    if kind == "BPE" and "ByteLevel" in repr(backend.pre_tokenizer):
        return "bpe"
    return "sentencepiece"


def docs_of(texts: Sequence[str], tok: Any, scheme: Scheme) -> list[Doc]:
    """Tokenize documents without special tokens; each token gets its word id."""
    enc = tok(list(texts), add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    docs = []
    for text, ids, offsets in zip(texts, enc["input_ids"], enc["offset_mapping"]):
        if not ids:
            continue
        pieces = tok.convert_ids_to_tokens(ids)
        han = [(s, e) if is_han(text[s:e]) else None for s, e in offsets]
        docs.append(Doc(ids, word_ids(pieces, scheme, han)))
    return docs


def spec_of(tok: Any, vocab_size: int, probability: float = 0.15) -> MaskSpec:
    """The model's mask id and the non-special ids a random replacement draws from."""
    special = set(tok.all_special_ids)
    pool = np.array([i for i in range(vocab_size) if i not in special], dtype=np.int64)
    return MaskSpec(mask_id=int(tok.mask_token_id), random_ids=pool, probability=probability)


def blocks_of(texts: Sequence[str], tok: Any, length: int) -> list[Block]:
    """Texts (one document each) packed into blocks of `length` tokens."""
    docs = docs_of(texts, tok, scheme_of(tok))
    cls = tok.cls_token_id if tok.cls_token_id is not None else tok.bos_token_id
    sep = tok.sep_token_id if tok.sep_token_id is not None else tok.eos_token_id
    return pack(docs, length, int(cls), int(sep))


@dataclass(frozen=True)
class MaskedBlocks:
    """Blocks masked for one epoch, by index; `batch` pads a list of them into tensors."""

    blocks: Sequence[Block]
    spec: MaskSpec
    seed: int
    epoch: int
    pad_id: int

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        b = self.blocks[i]
        return mask(b.ids, b.words, self.spec, rng_for(self.seed, self.epoch, i))

    def batch(self, indices: Sequence[int]) -> dict[str, np.ndarray]:
        ids, att, labels = pad_batch([self[i] for i in indices], self.pad_id, -100)
        return {"input_ids": ids, "attention_mask": att, "labels": labels}  # (B, T) each
