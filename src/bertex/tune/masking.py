"""Masked-LM masking: which tokens form a word, which words are masked, and with what.

Pure and seeded. The masks of a block depend only on (seed, epoch, block index), never on the
order blocks are visited in, so a resumed job and the fixed dev masking draw exactly the masks
an uninterrupted run would.

    units: tokens -> word ids   whole-word masking (WordPiece "##", BPE "Ġ", SentencePiece "▁")
                                and one unit per Han character (as Chinese BERT masks)
    mask:  ids + word ids -> (input ids, labels)   15% of tokens in whole units, 80/10/10
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Scheme = Literal["wordpiece", "bpe", "sentencepiece"]
SCHEMES: tuple[Scheme, ...] = ("wordpiece", "bpe", "sentencepiece")
IGNORE = -100  # the label of a token that is not predicted (torch's cross-entropy default)
SPECIAL = -1  # the word id of a special token: never masked
_WORD_START = {"bpe": "Ġ", "sentencepiece": "▁"}


def is_han(text: str) -> bool:
    """True when every character is a CJK ideograph (the ranges BERT's tokenizer splits on).

    >>> is_han("中国"), is_han("中a"), is_han("")
    (True, False, False)
    """
    return bool(text) and all(_han(ord(c)) for c in text)


def _han(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def word_ids(
    pieces: Sequence[str],
    scheme: Scheme,
    han_spans: Sequence[tuple[int, int] | None] | None = None,
) -> list[int]:
    """The word each token of one document belongs to, numbered from 0.

    WordPiece: a "##" piece continues the word before it. BPE / SentencePiece: a piece starting
    with "Ġ" / "▁" starts a word, any other continues one (the document's first piece always
    starts one). `han_spans[i]`, when not None, is the character span of a token whose text is
    Han: it is a unit of its own (pieces of one character, as byte-level BPE splits them, share
    its span and stay together), and the token after it starts a new unit.

    >>> word_ids(["un", "##believ", "##able", "news"], "wordpiece")
    [0, 0, 0, 1]
    >>> word_ids(["The", "Ġcat", "s", "Ġsat"], "bpe")
    [0, 1, 1, 2]
    >>> word_ids(["▁北", "京", "▁is"], "sentencepiece", [(0, 1), (1, 2), None])
    [0, 1, 2]
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme={scheme!r}; choose one of {SCHEMES}")
    spans = han_spans if han_spans is not None else [None] * len(pieces)
    out: list[int] = []
    word, prev_span = -1, None
    for i, (piece, span) in enumerate(zip(pieces, spans)):
        if span is not None:  # Han: one unit per character (the same span: the same character)
            starts = span != prev_span
        elif prev_span is not None:  # the text after a Han character starts a new unit
            starts = True
        elif scheme == "wordpiece":
            starts = not piece.startswith("##")
        else:
            starts = piece.startswith(_WORD_START[scheme])
        if starts or i == 0:
            word += 1
        out.append(word)
        prev_span = span
    return out


@dataclass(frozen=True)
class MaskSpec:
    """What to mask with: the model's mask id, the ids a random replacement draws from (the
    vocabulary without its special tokens), the share of tokens predicted and the 80/10/10
    split between [MASK], a random token and the token itself."""

    mask_id: int
    random_ids: np.ndarray  # (R,) int64: the non-special vocabulary
    probability: float = 0.15
    mask_share: float = 0.8
    random_share: float = 0.1


def rng_for(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one block in one epoch: independent of visiting order (resume-safe).

    >>> int(rng_for(0, 1, 7).integers(1000)) == int(rng_for(0, 1, 7).integers(1000))
    True
    """
    return np.random.default_rng([seed, epoch, index])


def choose_units(words: np.ndarray, probability: float, rng: np.random.Generator) -> np.ndarray:
    """Which tokens to predict: whole units in random order, until round(probability x tokens)
    tokens are taken (at least one); a unit that would overshoot is skipped, as in Google's
    create_pretraining_data. Special tokens (word id -1) are never taken.

    words (T,) int -> (T,) bool.

    >>> w = np.array([-1, 0, 0, 1, 2, 2, 2, -1])
    >>> chosen = choose_units(w, 0.5, np.random.default_rng(0))
    >>> bool(chosen[0] or chosen[-1]), int(chosen.sum()) <= 3
    (False, True)
    """
    real = words[words != SPECIAL]
    chosen = np.zeros(words.shape, dtype=bool)
    if real.size == 0:
        return chosen
    units, sizes = np.unique(real, return_counts=True)
    budget = max(1, int(round(real.size * probability)))
    taken = 0
    for u in rng.permutation(len(units)):
        if taken >= budget:
            break
        if taken + sizes[u] > budget and taken > 0:
            continue  # subtle: a first unit longer than the budget is still taken (>= 1 word)
        chosen |= words == units[u]
        taken += int(sizes[u])
    return chosen


def mask(
    ids: np.ndarray, words: np.ndarray, spec: MaskSpec, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Mask one block: (input ids, labels), both (T,) int64. Labels hold the original id where
    a token is predicted and IGNORE elsewhere; of the predicted tokens 80% read [MASK], 10% a
    random non-special token, 10% themselves (drawn per token, as BERT does).

    >>> spec = MaskSpec(mask_id=4, random_ids=np.arange(5, 20), probability=0.5)
    >>> ids = np.array([2, 10, 11, 12, 13, 3]); words = np.array([-1, 0, 0, 1, 2, -1])
    >>> inputs, labels = mask(ids, words, spec, rng_for(0, 0, 0))
    >>> [int(x) for x in labels[[0, 5]]], [int(x) for x in inputs[[0, 5]]]
    ([-100, -100], [2, 3])
    >>> bool((labels[labels != -100] == ids[labels != -100]).all())
    True
    """
    chosen = choose_units(words, spec.probability, rng)  # (T,) bool
    labels = np.where(chosen, ids, IGNORE).astype(np.int64)
    draw = rng.random(ids.shape)  # (T,) one draw per token decides its replacement
    to_mask = chosen & (draw < spec.mask_share)
    to_random = chosen & (draw >= spec.mask_share) & (draw < spec.mask_share + spec.random_share)
    inputs = ids.astype(np.int64).copy()
    inputs[to_mask] = spec.mask_id
    inputs[to_random] = rng.choice(spec.random_ids, size=int(to_random.sum()))
    return inputs, labels
