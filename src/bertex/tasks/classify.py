"""A sequence-classification folder: labels and probabilities for texts or text pairs.

As transformers' text-classification pipeline scores them: softmax over the labels, except a
multi-label model (config.json problem_type "multi_label_classification") and a one-output
model, which take a sigmoid per label. A multi-label prediction lists every label at or over
`threshold` in `labels`, and its `label` is the most probable of them: None when no label
reaches the threshold (the text has none of the labels, as the model reads it). A text over
the model's limit is refused unless `truncate=True` (then flagged).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError, OptionError, TooLongError
from .folder import TaskModel, check_texts


@dataclass(frozen=True)
class Prediction:
    label: str | None  # the most probable label (multi-label: None when `labels` is empty)
    probabilities: dict[str, float]
    labels: tuple[str, ...] = field(default=())  # multi-label: every label over the threshold
    truncated: bool = False  # the input was cut to the model's limit (truncate=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def softmax(x: np.ndarray) -> np.ndarray:
    """Along the last axis; (N, C) -> (N, C)."""
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


class Classifier(TaskModel):
    """Any *ForSequenceClassification folder; with pairs, a cross-encoder."""

    @property
    def multi_label(self) -> bool:
        return getattr(self.loaded.module.config, "problem_type", None) == (
            "multi_label_classification"
        )

    def logits(
        self, texts: Any, pairs: Any = None, truncate: bool = False
    ) -> tuple[np.ndarray, list[bool]]:
        """Raw scores (N, C) and which inputs were cut to the limit."""
        texts = check_texts(texts)
        if pairs is not None:
            pairs = check_texts(pairs, "text pair")
            if len(pairs) != len(texts):
                raise InputError(f"{len(texts)} texts but {len(pairs)} text pairs")
        limit = self.loaded.max_length
        full = self.encode(texts, pairs, truncation=False)
        lengths = [len(ids) for ids in full["input_ids"]]
        cut = [n > limit for n in lengths]
        for i, n in enumerate(lengths):
            if cut[i] and not truncate:
                raise TooLongError(n, limit, i, "pass truncate=True (--truncate) to cut it")
        if pairs and any(cut):
            self._check_first_fits([t for t, c in zip(texts, cut, strict=True) if c], cut, limit)
        enc = (
            self.encode(texts, pairs, truncation="only_second" if pairs else True, max_length=limit)
            if any(cut)
            else full
        )
        out = self.forward(enc, list(range(len(texts))))
        return np.stack(out["logits"]), cut  # (N, C)

    def _check_first_fits(self, firsts: list[str], cut: list[bool], limit: int) -> None:
        """Only a pair's second text is cut: a first text (a query) that leaves it no room
        is refused, naming both lengths (the tokenizer would raise a bare Exception)."""
        room = limit - self.loaded.tokenizer.num_special_tokens_to_add(pair=True)
        rows = [i for i, c in enumerate(cut) if c]
        for i, ids in zip(rows, self.encode(firsts, add_special_tokens=False)["input_ids"]):
            if len(ids) >= room:
                raise TooLongError(
                    len(ids), room, i, "only the second text of a pair is cut: shorten the first"
                )

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """(N, C) logits -> (N, C) probabilities as the pipeline's default function does."""
        if self.multi_label or logits.shape[1] == 1:
            return sigmoid(logits)
        return softmax(logits)

    def predict(
        self,
        texts: Any,
        labels: list[str] | None = None,
        *,
        pairs: Any = None,
        threshold: float = 0.5,
        truncate: bool = False,
    ) -> list[Prediction]:
        """One Prediction per text (or pair); `labels` restricts the answer to those labels."""
        keep = self._restrict(labels)
        raw, cut = self.logits(texts, pairs, truncate)
        probs = self.probabilities(raw) * keep  # (N, C)
        if not self.multi_label and probs.shape[1] > 1:
            probs = probs / probs.sum(axis=1, keepdims=True)
        names = self.labels
        out = []
        for row, was_cut in zip(probs, cut, strict=True):
            best: str | None = names[int(row.argmax())]
            over: tuple[str, ...] = ()
            if self.multi_label:
                over = tuple(n for n, p in zip(names, row) if p >= threshold)
                best = best if over else None  # the most probable is in `over` when any is
            out.append(Prediction(best, dict(zip(names, map(float, row))), over, was_cut))
        return out

    def _restrict(self, labels: list[str] | None) -> np.ndarray:
        if labels is None:
            return np.ones(len(self.labels))
        if not labels:  # no label left to choose: every probability would be 0/0 (NaN)
            raise OptionError("labels", [], self.labels, "restrict to at least one")
        for label in labels:
            if label not in self.labels:
                raise OptionError("labels", label, self.labels, "this model knows only these")
        return np.array([lab in labels for lab in self.labels], dtype=np.float64)
