"""BIO tag spans and entity-level F1 (exact span match), as seqeval's default mode counts them.

Implemented here rather than depending on seqeval: the rule is a dozen lines. seqeval's
default (conlleval) mode starts an entity at an I-X that does not follow B-X or I-X; we do the
same and also count those transitions, so a file that breaks BIO is reported, not hidden.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Spans:
    spans: tuple[tuple[str, int, int], ...]  # (type, first word, last word + 1)
    bad_transitions: int  # I-X after O or after another type (an entity starts there)


def spans(tags: Sequence[str]) -> Spans:
    """Entities of one sentence's BIO tags.

    >>> spans(["B-PER", "I-PER", "O", "I-LOC", "B-LOC", "B-LOC"])
    Spans(spans=(('PER', 0, 2), ('LOC', 3, 4), ('LOC', 4, 5), ('LOC', 5, 6)), bad_transitions=1)
    """
    out: list[tuple[str, int, int]] = []
    bad = 0
    kind: str | None = None
    start = 0
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, typ = tag.partition("-")
        inside = prefix == "I" and kind == typ
        if kind is not None and not inside:
            out.append((kind, start, i))
            kind = None
        if prefix == "B" or (prefix == "I" and not inside):
            bad += prefix == "I"
            kind, start = typ, i
    return Spans(tuple(out), bad)


def entity_f1(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> float:
    """Micro F1 over exact (sentence, type, start, end) matches; 0.0 when nothing is found.

    >>> entity_f1([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]])
    0.0
    >>> entity_f1([["B-PER", "O", "B-LOC"]], [["B-PER", "O", "O"]])
    0.6666666666666666
    """
    g = {(n, *s) for n, t in enumerate(gold) for s in spans(t).spans}
    p = {(n, *s) for n, t in enumerate(pred) for s in spans(t).spans}
    hit = len(g & p)
    if not hit:
        return 0.0
    precision, recall = hit / len(p), hit / len(g)
    return 2 * precision * recall / (precision + recall)


def bad_transitions(tags: Sequence[Sequence[str]]) -> int:
    """I-X tags that follow neither B-X nor I-X, over all sentences."""
    return sum(spans(t).bad_transitions for t in tags)
