"""Features of every layer from one forward pass per batch: pooled sentences, merged words.

`sentence_features` asks the model once per batch for level="hidden_states" (L+1, T, H) and
pools each layer itself, so every layer x every pooling costs one pass, not one per cell.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from ..api import Model
from ..errors import OptionError
from ..types import TokenEmbedding, WordEmbedding

POOLINGS: tuple[str, ...] = ("cls", "mean", "max", "first_last_avg")
PER_LAYER = (*POOLINGS, "mean_sqrt_len")  # poolings that exist for every layer
NATIVE = ("cls", "mean", "max", "mean_sqrt_len")  # what the library pools per layer itself


def default_pooling(model: Model) -> str:
    """The model's own pooling, when it can be computed per layer (the pooler head cannot)."""
    return model.info.default_pooling or "mean"


def pool_layers(hidden: np.ndarray, pooling: str) -> np.ndarray:
    """One input's hidden states (K, T, H) -> one vector per layer (K, H).

    Pools over every token the library's sentence level pools (special tokens included, its
    default); first_last_avg at layer k averages layer 1 and layer k, then mean-pools, which is
    what pooling="first_last_avg" gives at the last layer.

    >>> h = np.arange(12, dtype=np.float32).reshape(2, 3, 2)  # K=2 layers, T=3 tokens, H=2
    >>> pool_layers(h, "mean").tolist()
    [[2.0, 3.0], [8.0, 9.0]]
    >>> pool_layers(h, "cls").tolist()
    [[0.0, 1.0], [6.0, 7.0]]
    """
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "max":
        return hidden.max(axis=1)
    total = hidden.sum(axis=1, dtype=np.float64)  # (K, H), summed as the library does
    n = hidden.shape[1]
    if pooling == "mean":
        return (total / n).astype(np.float32)
    if pooling == "mean_sqrt_len":
        return (total / np.sqrt(n)).astype(np.float32)
    if pooling == "first_last_avg":
        mean = total / n  # (K, H)
        first = mean[min(1, len(mean) - 1)]
        return ((first[None, :] + mean) / 2).astype(np.float32)
    raise OptionError(
        "pooling", pooling, PER_LAYER, "the pooler head exists for the last layer only"
    )


def sentence_features(
    model: Model,
    texts: Sequence[str],
    poolings: Sequence[str],
    batch_size: int = 128,
    max_length: int | None = None,
) -> dict[str, np.ndarray]:
    """{pooling: (N, L+1, H)} for every text, all from one forward pass per batch."""
    for p in poolings:
        if p not in PER_LAYER:
            raise OptionError(
                "pooling", p, PER_LAYER, "the pooler head exists for the last layer only"
            )
    extra: dict[str, Any] = {} if max_length is None else {"max_length": max_length}
    if len(poolings) == 1 and poolings[0] in NATIVE:
        # one pooling the library computes per layer on the fly (no token matrix kept): one
        # forward pass per batch, every layer pooled as the windows arrive
        got = model.embed(
            list(texts),
            layers="all",
            combine="stack",
            pooling=poolings[0],
            normalize=False,
            **extra,
        )
        return {poolings[0]: got.vectors}  # (N, L+1, H)
    out: dict[str, list[np.ndarray]] = {p: [] for p in poolings}
    for start in range(0, len(texts), batch_size):
        chunk = list(texts[start : start + batch_size])
        results = cast(  # a list in, a list out: each (L+1, T, H)
            list[TokenEmbedding], model.embed(chunk, level="hidden_states", **extra)
        )
        for r in results:
            for p in poolings:
                out[p].append(pool_layers(r.vectors, p))
    return {p: np.stack(v) for p, v in out.items()}  # (N, L+1, H)


@dataclass(frozen=True)
class WordFeatures:
    """Word vectors of every layer for pre-split sentences, and how words became sub-words."""

    vectors: np.ndarray  # (W_total, L+1, H) every word of every sentence, in order
    sentence_lengths: tuple[int, ...]  # words per sentence (sum = W_total)
    n_split: int  # words that became more than one sub-word
    n_subwords_of_split: int  # sub-words those words became
    n_dropped: int = 0  # words the tokenizer dropped entirely (zero vectors)
    subword: str = "first"  # how sub-words were merged into a word


def word_features(
    model: Model,
    sentences: Sequence[Sequence[str]],
    subword: str | None = None,
    batch_size: int = 64,
    on_batch: Callable[[int], None] | None = None,
) -> WordFeatures:
    """Per-layer word vectors aligned to the caller's words exactly (is_split_into_words);
    sub-words merge as `subword` says (None: the library's default)."""
    feats: list[np.ndarray] = []
    n_split = n_sub = n_dropped = 0
    merged = "first"
    for start in range(0, len(sentences), batch_size):
        chunk = [list(s) for s in sentences[start : start + batch_size]]
        results = cast(
            list[WordEmbedding],
            model.embed(
                chunk,
                level="word",
                is_split_into_words=True,
                layers="all",
                combine="stack",
                subword=subword,
            ),
        )
        merged = (results[0].meta.subword if results else None) or merged
        for words, r in zip(chunk, results):
            sizes = r.token_spans[:, 1] - r.token_spans[:, 0]  # (W,) sub-words per word
            n_split += int((sizes > 1).sum())
            n_sub += int(sizes[sizes > 1].sum())
            vecs, lost = _align(words, r.words, r.vectors.transpose(1, 0, 2))  # (W, K, H)
            n_dropped += lost
            feats.append(vecs)
        if on_batch:
            on_batch(len(chunk))
    return WordFeatures(
        vectors=np.concatenate(feats),
        sentence_lengths=tuple(len(s) for s in sentences),
        n_split=n_split,
        n_subwords_of_split=n_sub,
        n_dropped=n_dropped,
        subword=merged or "first",
    )


def _align(words: Sequence[str], kept: Sequence[str], vecs: np.ndarray) -> tuple[np.ndarray, int]:
    """The caller's words -> their vectors (W, K, H); a word the tokenizer dropped entirely
    (a zero-width space, a control character) gets a zero vector and is counted.

    >>> v, lost = _align(["a", "\u200b", "b"], ["a", "b"], np.ones((2, 1, 1)))
    >>> v[:, 0, 0].tolist(), lost
    ([1.0, 0.0, 1.0], 1)
    """
    out = np.zeros((len(words),) + vecs.shape[1:], dtype=vecs.dtype)
    j = 0
    for i, w in enumerate(words):
        if j < len(kept) and kept[j] == w:
            out[i] = vecs[j]
            j += 1
    return out, len(words) - j
