"""Tag predictions -> entity spans by the BIO/IOB2 rules, and entity-level F1.

One rule everywhere (frozen heads, a folder's own token-classification head, the probe's F1):
an entity starts at B-X, or at an I-X that does not continue an X (conlleval and seqeval's
default mode do the same; such an I-X is counted as a bad transition, so a file that breaks
BIO is reported, not hidden); I-X continues X; a label without a B-/I- prefix (an IO scheme:
"PER", "LOC") continues an entity of the same label, as transformers' pipeline groups them;
"O" is outside.

Sub-token predictions become word predictions first (`words`), with the aggregation
strategies of transformers' token-classification pipeline: "first" (the first sub-token's
label and score), "average" (the mean of the sub-tokens' probabilities) and "max" (the
sub-token with the highest probability); "simple" skips that step (each token on its own).
An entity's score is the mean of its words' (or tokens') scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import OptionError

AGGREGATIONS = ("first", "average", "max", "simple")


@dataclass(frozen=True)
class Entity:
    label: str  # the entity type (B-/I- removed)
    start: int  # character offsets into the text
    end: int
    text: str
    score: float = float("nan")  # the mean of its words' probabilities


@dataclass(frozen=True)
class Spans:
    spans: tuple[tuple[str, int, int], ...]  # (type, first word, last word + 1)
    bad_transitions: int  # I-X after O or after another type (an entity starts there)


def _parts(tag: str) -> tuple[str, str]:
    """'B-PER' -> ('B', 'PER'); 'I-PER' -> ('I', 'PER'); 'O' -> ('O', ''); 'PER' -> ('I', 'PER')."""
    if tag == "O":
        return "O", ""
    prefix, sep, typ = tag.partition("-")
    if sep and prefix in ("B", "I"):
        return prefix, typ
    return "I", tag  # IO scheme: a bare label continues its own kind


def spans(tags: Sequence[str]) -> Spans:
    """Entities of one sentence's BIO tags.

    >>> spans(["B-PER", "I-PER", "O", "I-LOC", "B-LOC", "B-LOC"])
    Spans(spans=(('PER', 0, 2), ('LOC', 3, 4), ('LOC', 4, 5), ('LOC', 5, 6)), bad_transitions=1)
    >>> spans(["PER", "PER", "O", "LOC"]).spans  # IO labels: runs of one label
    (('PER', 0, 2), ('LOC', 3, 4))
    """
    out: list[tuple[str, int, int]] = []
    bad = 0
    kind: str | None = None
    start = 0
    for i, tag in enumerate([*tags, "O"]):
        prefix, typ = _parts(tag)
        inside = prefix == "I" and kind == typ
        if kind is not None and not inside:
            out.append((kind, start, i))
            kind = None
        if prefix == "B" or (prefix == "I" and not inside):
            bad += prefix == "I" and tag.startswith("I-")
            kind, start = typ, i
    return Spans(tuple(out), bad)


def entity_f1(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> float:
    """Micro F1 over exact (sentence, type, start, end) matches; 0.0 when nothing is found.

    >>> entity_f1([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]])
    0.0
    >>> entity_f1([["B-PER", "O", "B-LOC"]], [["B-PER", "O", "O"]])
    0.6666666666666666
    """
    return entity_scores(gold, pred)[2]


def entity_scores(
    gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]
) -> tuple[float, float, float]:
    """Micro (precision, recall, F1) over exact entity matches (seqeval's default counts).

    >>> entity_scores([["B-PER", "O", "B-LOC"]], [["B-PER", "O", "O"]])
    (1.0, 0.5, 0.6666666666666666)
    """
    g = {(n, *s) for n, t in enumerate(gold) for s in spans(t).spans}
    p = {(n, *s) for n, t in enumerate(pred) for s in spans(t).spans}
    hit = len(g & p)
    if not hit:
        return 0.0, 0.0, 0.0
    precision, recall = hit / len(p), hit / len(g)
    return precision, recall, 2 * precision * recall / (precision + recall)


def bad_transitions(tags: Sequence[Sequence[str]]) -> int:
    """I-X tags that follow neither B-X nor I-X, over all sentences."""
    return sum(spans(t).bad_transitions for t in tags)


def check_aggregation(aggregation: str) -> str:
    if aggregation not in AGGREGATIONS:
        raise OptionError(
            "aggregation", aggregation, AGGREGATIONS, "how sub-token predictions become words"
        )
    return aggregation


def words(
    probs: np.ndarray, word_ids: Sequence[int], aggregation: str
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Sub-token probabilities -> one label and score per word, and each word's token range.

    probs (T, C) for the T non-special tokens in text order; word_ids (T,) the word of each
    token. Returns labels (W,), scores (W,) and [first, last + 1) token ranges (W).

    >>> p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])  # "Obama" = "Ob" "##ama"; "went"
    >>> words(p, [0, 0, 1], "first")
    (array([0, 0]), array([0.9, 0.6]), [(0, 2), (2, 3)])
    >>> words(p, [0, 0, 1], "average")[:2]
    (array([0, 0]), array([0.55, 0.6 ]))
    >>> words(p, [0, 0, 1], "max")[:2]
    (array([0, 0]), array([0.9, 0.6]))
    """
    check_aggregation(aggregation)
    if aggregation == "simple":
        ranges = [(t, t + 1) for t in range(len(word_ids))]
    else:
        ranges, start = [], 0
        for t in range(1, len(word_ids) + 1):
            if t == len(word_ids) or word_ids[t] != word_ids[start]:
                ranges.append((start, t))
                start = t
    rows = []
    for a, b in ranges:
        block = probs[a:b]  # (n, C): one word's sub-tokens
        if aggregation == "average":
            rows.append(block.mean(axis=0))
        elif aggregation == "max":
            rows.append(block[int(block.max(axis=1).argmax())])
        else:  # first, simple
            rows.append(block[0])
    chosen = np.stack(rows) if rows else np.zeros((0, probs.shape[1]))  # (W, C)
    labels = chosen.argmax(axis=1)
    return labels, chosen[np.arange(len(labels)), labels], ranges


def entities(
    text: str,
    tags: Sequence[str],
    scores: Sequence[float],
    offsets: Sequence[tuple[int, int]],
) -> list[Entity]:
    """Words (or tokens) with their tag, score and character span -> the entities.

    >>> entities("Ada Lovelace wrote", ["B-PER", "I-PER", "O"], [0.9, 0.7, 0.8],
    ...          [(0, 3), (4, 12), (13, 18)])
    [Entity(label='PER', start=0, end=12, text='Ada Lovelace', score=0.8)]
    """
    out = []
    for kind, a, b in spans(tags).spans:
        start, end = int(offsets[a][0]), int(offsets[b - 1][1])
        score = float(np.mean(scores[a:b]))
        out.append(Entity(kind, start, end, text[start:end], score))
    return out
