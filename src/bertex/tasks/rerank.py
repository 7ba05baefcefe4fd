"""Cross-encoder rerank: a sequence-classification folder reads (query, document) pairs and
its own logit orders the documents.

A one-output model (the usual cross-encoder, e.g. ms-marco MiniLM) scores sigmoid(logit), as
TEI and infinity report it (raw_scores: the logit itself); a two-label model scores the
softmax probability of its second label (the "relevant" class of a pair classifier). The
order is the logit's either way. Over-long pairs are refused unless `truncate=True` (the
document is cut, never the query).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import EmptyInputError, NoTaskHeadError, OptionError, TooLongError
from .classify import Classifier, sigmoid, softmax


@dataclass(frozen=True)
class Ranked:
    index: int  # the document's position in the list given
    score: float  # sigmoid(logit) (one output) or P(second label) (two)
    logit: float  # the model's raw relevance (the order)
    truncated: bool = False


def relevance(classifier: Classifier, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, C) logits -> (N,) scores and (N,) raw relevance."""
    c = logits.shape[1]
    if c == 1:
        return sigmoid(logits[:, 0]), logits[:, 0]
    if c == 2:
        return softmax(logits)[:, 1], logits[:, 1] - logits[:, 0]
    raise NoTaskHeadError(
        f"{classifier.name}: a cross-encoder has one output (a relevance score) or two labels "
        f"(not relevant, relevant); this model has {c}: {', '.join(classifier.labels)}"
    )


def rerank(
    classifier: Classifier, query: str, documents: Any, top_n: int | None = None,
    truncate: bool = False,
) -> list[Ranked]:  # fmt: skip
    """The documents by the cross-encoder's relevance to `query`, best first."""
    if top_n is not None and top_n < 1:  # out[:0] or out[:-1] would drop hits silently
        raise OptionError("top_n", top_n, ["an integer >= 1", None])
    docs = [documents] if isinstance(documents, str) else list(documents)
    if not docs:
        raise EmptyInputError("no documents to rerank")
    _check_query(classifier, query)
    logits, cut = classifier.logits([query] * len(docs), docs, truncate)  # (N, C)
    scores, raw = relevance(classifier, logits)
    order = np.argsort(-raw, kind="stable")
    out = [Ranked(int(i), float(scores[i]), float(raw[i]), cut[i]) for i in order]
    return out[:top_n] if top_n is not None else out


def _check_query(classifier: Classifier, query: str) -> None:
    """A query that leaves no room for a document is the query's error (not document 0's):
    no truncation helps, since only documents are cut."""
    loaded = classifier.loaded
    room = loaded.max_length - loaded.tokenizer.num_special_tokens_to_add(pair=True)
    n = len(classifier.encode(query, add_special_tokens=False)["input_ids"])
    if n >= room:
        raise TooLongError(n, room, None, "the query is never cut, only documents: shorten it")
