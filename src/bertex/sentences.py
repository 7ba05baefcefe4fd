"""Split a document into sentences with character offsets, for "one vector per sentence".

The splitting is sentencex's (Wikimedia's rule-based segmenter: about 300 languages,
Chinese and Japanese full-width punctuation included, no model download, no dependencies);
bertex only trims the whitespace it leaves at sentence ends and keeps the offsets exact.

>>> [s.text for s in split("Dr. Smith arrived. He sat down.")]
['Dr. Smith arrived.', 'He sat down.']
>>> [(s.start, s.end) for s in split("你好，世界！今天很好。", language="zh")]
[(0, 6), (6, 11)]
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ExtraMissingError, InvalidTextError
from .tokenize import check_text


@dataclass(frozen=True)
class Span:
    """One sentence: `text == document[start:end]`."""

    text: str
    start: int
    end: int


def split(document: str, language: str = "en") -> list[Span]:
    """Sentences of `document` (ISO 639 code `language`, e.g. "en", "zh", "de"), in order,
    without surrounding whitespace; empty sentences are dropped."""
    try:
        from sentencex import get_sentence_boundaries
    except ImportError:  # pragma: no cover - a core dependency
        raise ExtraMissingError("core", "sentencex", "sentence splitting") from None
    text = check_text(document, 0)
    if not isinstance(language, str) or not language.strip():
        raise InvalidTextError(f"language must be an ISO 639 code such as 'en', got {language!r}")
    spans = []
    for b in get_sentence_boundaries(language.strip().lower(), text):
        start, end = int(b["start_index"]), int(b["end_index"])
        piece = text[start:end]
        lead = len(piece) - len(piece.lstrip())
        trail = len(piece.rstrip())
        if trail > lead:
            spans.append(Span(piece[lead:trail], start + lead, start + trail))
    return spans
