"""What a WordPiece vocabulary says about its tokenizer (shared by hf.py and tf_cache.py)."""

from __future__ import annotations

from collections.abc import Iterable


def vocab_is_cased(vocab: Iterable[str]) -> bool:
    """A cased vocabulary has upper-case word pieces: at least 20, and 1% of the words.

    >>> vocab_is_cased(["[CLS]", "the", "##s"] + [f"Word{i}" for i in range(30)])
    True
    """
    words = [t.removeprefix("##") for t in vocab if t[:1] != "[" and t.removeprefix("##").isalpha()]
    upper = sum(1 for t in words if any(c.isupper() for c in t))
    return upper >= 20 and upper >= 0.01 * len(words)
