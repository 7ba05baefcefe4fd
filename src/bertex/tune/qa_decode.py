"""Answer texts from a QA model's start/end logits over the windows of each context.

The dev-set decoding of transformers' run_qa (postprocess_qa_predictions): per window, the
n best starts and ends that fall in the context, end >= start, at most max_answer_tokens
long, scored start + end logit; the best over all windows of a question wins. With no-answer
questions in the data (SQuAD 2.0), the answer is "" when the [CLS] score (start + end logit
at position 0, the lowest over the question's windows) beats the best span by more than
`null_margin`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .qa_data import QAExample, QAFeatures


@dataclass(frozen=True)
class Decoded:
    text: str
    start: int  # character offsets into the context; -1 for no answer
    end: int
    score: float  # start + end logit (the null score for no answer)


def decode(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    feats: QAFeatures,
    examples: Sequence[QAExample],
    allow_null: bool,
    n_best: int = 20,
    max_answer_tokens: int = 30,
    null_margin: float = 0.0,
) -> list[Decoded]:
    """start_logits, end_logits (F, T) for F features (T may exceed a feature's length: the
    batches were padded) -> one Decoded per example, in order."""
    best: list[Decoded | None] = [None] * len(examples)
    null = [np.inf] * len(examples)
    for f, k in enumerate(feats.example):
        offs = feats.offsets[f]
        s, e = start_logits[f][: len(offs)], end_logits[f][: len(offs)]  # (T_f,)
        null[k] = min(null[k], float(s[0] + e[0]))
        cand = _best_span(s, e, offs, n_best, max_answer_tokens)
        if cand is not None and (best[k] is None or cand[2] > best[k].score):  # type: ignore[union-attr]
            a, b, score = cand
            best[k] = Decoded(examples[k].context[a:b], a, b, score)
    out = []
    for k, d in enumerate(best):
        if d is None or (allow_null and null[k] > d.score + null_margin):
            d = Decoded("", -1, -1, null[k])
        out.append(d)
    return out


def _best_span(
    s: np.ndarray,
    e: np.ndarray,
    offs: Sequence[tuple[int, int] | None],
    n_best: int,
    max_tokens: int,
) -> tuple[int, int, float] | None:
    """The best (char start, char end, score) of one window, or None."""
    starts = np.argsort(s)[::-1][:n_best]
    ends = np.argsort(e)[::-1][:n_best]
    found = None
    for i in starts:
        for j in ends:
            if offs[i] is None or offs[j] is None or j < i or j - i + 1 > max_tokens:
                continue
            score = float(s[i] + e[j])
            if found is None or score > found[2]:
                found = (offs[i][0], offs[j][1], score)  # type: ignore[index]
    return found
