"""A token-classification folder: entity spans with character offsets and a score.

Sub-token probabilities (softmax over id2label) become word labels by the chosen aggregation
and words become entities by the BIO rules (spans.py), as transformers' token-classification
pipeline does; a "word" is what the tokenizer's pre-tokenizer calls one (its word ids).
A text longer than the model's window is read in overlapping windows (`stride` tokens shared)
and never cut: each token's probabilities come from the window where it has the most context.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import OptionError
from .classify import softmax
from .folder import TaskModel, check_texts
from .spans import Entity, check_aggregation, entities, words


class Tagger(TaskModel):
    """Any *ForTokenClassification folder."""

    def predict(
        self, texts: Any, aggregation: str = "first", *, stride: int | None = None
    ) -> list[list[Entity]]:
        """The entities of each text (a list per text)."""
        check_aggregation(aggregation)
        texts = check_texts(texts)
        probs = self.token_probabilities(texts, stride)
        return [self._entities(t, p, aggregation) for t, p in zip(texts, probs, strict=True)]

    def token_probabilities(self, texts: list[str], stride: int | None = None) -> list[Any]:
        """Per text: (encoding of the whole text, probabilities (T, C) of its T tokens)."""
        tok, limit = self.loaded.tokenizer, self.loaded.max_length
        content = limit - tok.num_special_tokens_to_add(pair=False)
        stride = content // 4 if stride is None else stride
        if not 0 <= stride < content:
            raise OptionError("stride", stride, [f"0..{content - 1}"], "tokens shared by windows")
        enc = self.encode(
            texts,
            truncation=True,
            max_length=limit,
            stride=stride,
            return_overflowing_tokens=True,
            return_special_tokens_mask=True,
        )
        logits = self.forward(enc, list(range(len(enc["input_ids"]))))["logits"]
        sample = enc["overflow_to_sample_mapping"]
        out = []
        for i, text in enumerate(texts):
            full = self.encode(text, add_special_tokens=False, return_offsets_mapping=True)
            rows = [w for w, s in enumerate(sample) if s == i]
            windows = [(softmax(logits[w]), enc["special_tokens_mask"][w]) for w in rows]
            out.append((full, stitch(windows, len(full["input_ids"]), content - stride)))
        return out

    def _entities(self, text: str, encoded: Any, aggregation: str) -> list[Entity]:
        full, probs = encoded  # probs (T, C)
        word_ids = [w if w is not None else -1 for w in full.word_ids()]
        offsets = full["offset_mapping"]
        labels, scores, ranges = words(probs, word_ids, aggregation)
        tags = [self.labels[int(k)] for k in labels]
        spans = [(offsets[a][0], offsets[b - 1][1]) for a, b in ranges]
        return entities(text, tags, list(scores), spans)


def stitch(windows: list[tuple[np.ndarray, list[int]]], n: int, step: int) -> np.ndarray:
    """Windows' token probabilities -> one row per token of the whole text.

    Window w holds tokens [w * step, w * step + its content length) (the tokenizer's
    overflow with a stride advances by `step` = content - stride). subtle: a token seen by
    two windows takes the one where it is furthest from an edge (the most context on both
    sides); on a tie the earlier window wins.

    >>> a = np.array([[1.0], [2], [3], [4], [5]])  # specials at both ends, 3 tokens
    >>> b = np.array([[1.0], [6], [7], [8], [9]])  # starts at token 2 (step 2)
    >>> stitch([(a, [1, 0, 0, 0, 1]), (b, [1, 0, 0, 0, 1])], 5, 2)[:, 0]
    array([2., 3., 4., 7., 8.])
    """
    best = np.full(n, -1)
    out = np.zeros((n, windows[0][0].shape[1]))  # (T, C)
    for w, (probs, special) in enumerate(windows):
        rows = [p for p, s in enumerate(special) if not s]
        for k, p in enumerate(rows):
            j = w * step + k
            margin = min(k, len(rows) - 1 - k)
            if j < n and margin > best[j]:
                best[j], out[j] = margin, probs[p]
    return out
