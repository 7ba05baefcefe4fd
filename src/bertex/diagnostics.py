"""The loud part: warnings about [UNK] tokens, long inputs and weak poolings, with numbers."""

from __future__ import annotations

import unicodedata
import warnings
from collections import Counter
from collections.abc import Sequence

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
_SHOWN = 5


def script_of(char: str) -> str:
    """'你' -> 'Han', 'ж' -> 'Cyrillic', '😀' -> 'symbols/emoji', 'a' -> 'Latin'."""
    name = unicodedata.name(char, "")
    first = name.split(" ")[0] if name else ""
    if first in _SCRIPTS:
        return _SCRIPTS[first]
    if first == "LATIN":
        return "Latin"
    return "symbols/emoji"


def unk_scripts(enc: Encoding, unk_id: int) -> Counter[str]:
    counts: Counter[str] = Counter()
    for seg in (enc.a, enc.b):
        if seg is None:
            continue
        for (start, end), tid in zip(seg.offsets.tolist(), seg.ids.tolist()):
            if tid == unk_id:
                counts.update(script_of(c) for c in seg.text[start:end])
    return counts


def unk_message(enc: Encoding, unk_id: int, unk_token: str, model: str) -> str:
    scripts = unk_scripts(enc, unk_id)
    main = scripts.most_common(1)[0][0] if scripts else "symbols/emoji"
    rate = 100.0 * enc.unk_chars / max(enc.n_chars, 1)
    head = (
        f"input {enc.index}: {enc.unk_chars} of {enc.n_chars} characters ({rate:.1f}%) became "
        f"{unk_token} ({enc.unk_count} tokens), mostly {main}"
    )
    if main == "symbols/emoji":
        return head + f": the vocabulary of {model} does not cover these symbols"
    suggestion = _SUGGEST.get(main, _MULTILINGUAL)
    return (
        f"{head} script: the vocabulary of {model} does not cover it and these characters lose "
        f"their meaning. Use a model whose vocabulary covers {main}, e.g. {suggestion}"
    )


def warn_unknown(
    encodings: Sequence[Encoding], unk_id: int | None, unk_token: str | None, model: str
) -> None:
    if unk_id is None or unk_token is None:
        return
    hit = [e for e in encodings if e.unk_count]
    if not hit:
        return
    lines = [unk_message(e, unk_id, unk_token, model) for e in hit[:_SHOWN]]
    if len(hit) > _SHOWN:
        lines.append(f"... and {len(hit) - _SHOWN} more inputs with {unk_token} tokens")
    warnings.warn("\n".join(lines), UnknownTokenWarning, stacklevel=3)


def warn_long(plans: Sequence[DocPlan], max_length: int) -> None:
    windowed = [p for p in plans if p.windowed]
    truncated = [p for p in plans if p.truncated]
    lines = []
    for p in windowed[:_SHOWN]:
        lines.append(
            f"input {p.encoding.index}: {p.n_tokens} tokens is over the model's limit of "
            f"{max_length}; embedded in {len(p.windows)} overlapping windows and stitched"
        )
    for p in truncated[:_SHOWN]:
        lines.append(
            f"input {p.encoding.index}: {p.n_tokens} tokens truncated to {max_length} "
            f"(long='truncate'); {p.n_tokens - max_length} tokens were not embedded"
        )
    more = len(windowed) + len(truncated) - len(lines)
    if more > 0:
        lines.append(f"... and {more} more long inputs")
    if lines:
        warnings.warn("\n".join(lines), LongInputWarning, stacklevel=3)


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
