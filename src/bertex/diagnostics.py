"""The loud part: warnings about [UNK] tokens, long inputs and weak poolings, with numbers."""

from __future__ import annotations

import unicodedata
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import LongInputWarning, UnknownTokenWarning, WeakPoolingWarning
from .types import DocPlan, Encoding

_SCRIPTS = {
    "CJK": "Han",
    "HIRAGANA": "Japanese kana",
    "KATAKANA": "Japanese kana",
    "HANGUL": "Hangul",
    "ARABIC": "Arabic",
    "HEBREW": "Hebrew",
    "CYRILLIC": "Cyrillic",
    "DEVANAGARI": "Devanagari",
    "THAI": "Thai",
    "GREEK": "Greek",
    "BENGALI": "Bengali",
    "TAMIL": "Tamil",
    "GEORGIAN": "Georgian",
    "ARMENIAN": "Armenian",
    "ETHIOPIC": "Ethiopic",
}
_SUGGEST = {
    "Han": "bert-base-chinese (one token per character) or bert-base-multilingual-cased",
    "Japanese kana": "cl-tohoku/bert-base-japanese or bert-base-multilingual-cased",
    "Hangul": "klue/bert-base or bert-base-multilingual-cased",
}
_MULTILINGUAL = "bert-base-multilingual-cased or xlm-roberta-base"
SHOWN = 5


def script_of(char: str) -> str:
    """'你' -> 'Han', 'ж' -> 'Cyrillic', '😀' -> 'symbols/emoji', 'a' -> 'Latin'."""
    name = unicodedata.name(char, "")
    first = name.split(" ")[0] if name else ""
    if first in _SCRIPTS:
        return _SCRIPTS[first]
    if first == "LATIN":
        return "Latin"
    return "symbols/emoji"


@dataclass(frozen=True)
class Vocab:
    """What the diagnosis needs to know of a tokenizer: its single-character pieces and
    WordPiece's word-length limit (None for BPE/Unigram tokenizers, which have none)."""

    chars: frozenset[str]  # characters that are a token alone or as a "##" continuation
    max_word_chars: int | None

    @classmethod
    def of(cls, hf_tokenizer: Any) -> Vocab:
        model = hf_tokenizer.backend_tokenizer.model
        limit = getattr(model, "max_input_chars_per_word", None)
        chars = {t.removeprefix("##") for t in hf_tokenizer.get_vocab()}
        return cls(frozenset(c for c in chars if len(c) == 1), limit)


def unk_causes(enc: Encoding, unk_id: int, vocab: Vocab) -> Counter[str]:
    """Characters lost to the unknown token, by cause: "over-long word" (WordPiece turns a
    word longer than its limit into one unknown token, whatever its characters), "no split"
    (every character is in the vocabulary, but not the pieces this word needs, e.g. a
    continuation "##x" is missing), or the script of characters the vocabulary lacks."""
    counts: Counter[str] = Counter()
    for seg in (enc.a, enc.b):
        if seg is None:
            continue
        for (start, end), tid in zip(seg.offsets.tolist(), seg.ids.tolist()):
            if tid != unk_id:
                continue
            span = seg.text[start:end]
            if vocab.max_word_chars is not None and len(span) > vocab.max_word_chars:
                counts["over-long word"] += len(span)
            elif span and all(c in vocab.chars for c in span):
                counts["no split"] += len(span)
            else:
                counts.update(script_of(c) for c in span if c not in vocab.chars)
    return counts


def unk_message(enc: Encoding, unk_id: int, unk_token: str, model: str, vocab: Vocab) -> str:
    causes = unk_causes(enc, unk_id, vocab)
    main = causes.most_common(1)[0][0] if causes else "symbols/emoji"
    rate = 100.0 * enc.unk_chars / max(enc.n_chars, 1)
    head = (
        f"input {enc.index}: {enc.unk_chars} of {enc.n_chars} characters ({rate:.1f}%) became "
        f"{unk_token} ({enc.unk_count} tokens)"
    )
    if main == "over-long word":
        return (
            f"{head}, mostly in words over {vocab.max_word_chars} characters: WordPiece turns "
            f"any longer word into a single {unk_token}, whatever its characters. Split such "
            "runs (URLs, base64, repeated characters) or remove them before embedding"
        )
    if main == "no split":
        return (
            f"{head}: their characters are in the vocabulary of {model}, but not the sub-word "
            f"pieces these words need, so each whole word became {unk_token}"
        )
    if main == "symbols/emoji":
        return f"{head}, mostly symbols/emoji: the vocabulary of {model} does not cover them"
    suggestion = _SUGGEST.get(main, _MULTILINGUAL)
    return (
        f"{head}, mostly {main} script: the vocabulary of {model} does not cover it and these "
        f"characters lose their meaning. Use a model whose vocabulary covers {main}, e.g. "
        f"{suggestion}"
    )


def warn_unknown(
    encodings: Sequence[Encoding],
    unk_id: int | None,
    unk_token: str | None,
    model: str,
    vocab: Vocab,
    hits: int | None = None,
    stacklevel: int = 3,
) -> None:
    """Warn about the inputs with UNK tokens among `encodings`; `hits`, when given, is how
    many inputs have one in all (the caller passed only the first few)."""
    if unk_id is None or unk_token is None:
        return
    hit = [e for e in encodings if e.unk_count]
    if not hit:
        return
    n = len(hit) if hits is None else hits
    lines = [unk_message(e, unk_id, unk_token, model, vocab) for e in hit[:SHOWN]]
    if n > SHOWN:
        lines.append(f"... and {n - SHOWN} more inputs with {unk_token} tokens")
    warnings.warn("\n".join(lines), UnknownTokenWarning, stacklevel=stacklevel)


def warn_long(plans: Sequence[DocPlan], max_length: int, stacklevel: int = 3) -> None:
    windowed = [p for p in plans if p.windowed]
    truncated = [p for p in plans if p.truncated]
    lines = []
    for p in windowed[:SHOWN]:
        lines.append(
            f"input {p.encoding.index}: {p.n_tokens} tokens is over the model's limit of "
            f"{max_length}; embedded in {len(p.windows)} overlapping windows and stitched"
        )
    for p in truncated[:SHOWN]:
        lines.append(
            f"input {p.encoding.index}: {p.n_tokens} tokens truncated to {max_length} "
            f"(long='truncate'); {p.n_tokens - max_length} tokens were not embedded"
        )
    more = len(windowed) + len(truncated) - len(lines)
    if more > 0:
        lines.append(f"... and {more} more long inputs")
    if lines:
        warnings.warn("\n".join(lines), LongInputWarning, stacklevel=stacklevel)


def warn_pooling(pooling: str, source: str, model_default: str) -> None:
    if source != "requested" or pooling == model_default:
        return
    if pooling == "pooler":
        warnings.warn(
            "pooling='pooler' is BERT's next-sentence-prediction head (tanh of a dense layer on "
            "[CLS]); without fine-tuning it is a poor sentence vector. Prefer pooling='mean'",
            WeakPoolingWarning,
            stacklevel=4,
        )
    elif pooling == "cls":
        warnings.warn(
            "pooling='cls': the [CLS] vector of a model not trained for it is a weak sentence "
            f"vector (this model's own pooling is {model_default!r}). Prefer pooling='mean' "
            "unless the model was fine-tuned on [CLS]",
            WeakPoolingWarning,
            stacklevel=4,
        )
