"""What a WordPiece vocabulary says about its tokenizer (shared by hf.py and tf_cache.py)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..errors import TFCheckpointError


def vocab_is_cased(vocab: Iterable[str]) -> bool:
    """A cased vocabulary has upper-case word pieces: at least 20, and 1% of the words.

    >>> vocab_is_cased(["[CLS]", "the", "##s"] + [f"Word{i}" for i in range(30)])
    True
    """
    words = [t.removeprefix("##") for t in vocab if t[:1] != "[" and t.removeprefix("##").isalpha()]
    upper = sum(1 for t in words if any(c.isupper() for c in t))
    return upper >= 20 and upper >= 0.01 * len(words)


SPECIALS = ("[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]")


def read_vocab(path: Path) -> list[str]:
    """A WordPiece vocab.txt's tokens, one a line, checked before a tokenizer is built from it:
    UTF-8, not empty, with BERT's special tokens (a tokenizer built without them fails deep in
    the `tokenizers` library, or runs with [UNK] for every separator).

    The error names the file, the line or the missing tokens, and the fix."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise TFCheckpointError(
            path, f"line {line} is not UTF-8: a vocab.txt is UTF-8 text, one token a line"
        ) from None
    tokens = [t.strip() for t in text.split("\n") if t.strip()]
    if not tokens:
        raise TFCheckpointError(
            path, "is empty: a BERT vocab.txt lists the model's tokens, one a line"
        )
    missing = [s for s in SPECIALS if s not in tokens]
    if missing:
        raise TFCheckpointError(
            path,
            f"lacks BERT's special tokens {', '.join(missing)}: it is not this model's "
            "vocab.txt (use the one released with the checkpoint)",
        )
    return tokens
