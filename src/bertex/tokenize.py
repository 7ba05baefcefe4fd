"""Texts -> Encodings with a fast (Rust) Hugging Face tokenizer.

Content tokens are produced without special tokens; `Template` adds the model's own special
tokens ([CLS] a [SEP] b [SEP], <s> a </s></s> b </s>, ...) per window, so a long text can be
cut into windows that each look like a normal input to the model.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import EmptyInputError, InputError, InvalidTextError, TooLongError
from .types import Encoding, Segment

TextInput = str | bytes
Words = Sequence[str]


@dataclass(frozen=True)
class Layout:
    """Where each position of a model input comes from.

    For [CLS] a0 a1 [SEP] b0 [SEP] (na=2, nb=1):
        ids      = [101, -1, -1, 102, -1, 102]   (-1: a content token)
        segment  = [ -1,  0,  0,  -1,  1,  -1]
        index    = [  0,  0,  1,   0,  0,   0]   (position within its segment)
        type_ids = [  0,  0,  0,   0,  1,   1]
    """

    ids: np.ndarray
    segment: np.ndarray
    index: np.ndarray
    type_ids: np.ndarray


@dataclass(frozen=True)
class Template:
    """The special tokens a model wraps around one text or a pair, read off its tokenizer."""

    prefix: tuple[tuple[int, int], ...]  # (id, type) before the first text
    suffix: tuple[tuple[int, int], ...]  # after the first text, single input
    pair_prefix: tuple[tuple[int, int], ...]
    pair_middle: tuple[tuple[int, int], ...]
    pair_suffix: tuple[tuple[int, int], ...]
    type_a: int
    type_b: int

    def n_special(self, pair: bool) -> int:
        if pair:
            return len(self.pair_prefix) + len(self.pair_middle) + len(self.pair_suffix)
        return len(self.prefix) + len(self.suffix)

    def layout(self, na: int, nb: int | None = None) -> Layout:
        """The layout of na (and nb) content tokens; made once per shape and shared, so its
        arrays are read-only."""
        return _layout(self, na, nb)

    def _build_layout(self, na: int, nb: int | None) -> Layout:
        parts: list[tuple[tuple[tuple[int, int], ...], int, int, int]] = []
        if nb is None:
            parts = [(self.prefix, -1, 0, 0), ((), 0, na, self.type_a), (self.suffix, -1, 0, 0)]
        else:
            parts = [
                (self.pair_prefix, -1, 0, 0),
                ((), 0, na, self.type_a),
                (self.pair_middle, -1, 0, 0),
                ((), 1, nb, self.type_b),
                (self.pair_suffix, -1, 0, 0),
            ]
        ids: list[int] = []
        seg: list[int] = []
        idx: list[int] = []
        types: list[int] = []
        for specials, segment, n, type_id in parts:
            ids += [sid for sid, _ in specials]
            seg += [-1] * len(specials)
            idx += [0] * len(specials)
            types += [stype for _, stype in specials]
            ids += [-1] * n
            seg += [segment] * n
            idx += range(n)
            types += [type_id] * n
        return Layout(_int64(ids), _int64(seg), _int64(idx), _int64(types))


def read_template(tokenizer: Any) -> Template:
    """Find the special tokens by tokenizing a probe with and without them."""
    probe_a, probe_b = "hello", "world"
    a = tokenizer(probe_a, add_special_tokens=False)["input_ids"]
    b = tokenizer(probe_b, add_special_tokens=False)["input_ids"]
    single = tokenizer(probe_a, return_token_type_ids=True)
    pair = tokenizer(probe_a, probe_b, return_token_type_ids=True)
    s_ids, s_types = single["input_ids"], single["token_type_ids"]
    p_ids, p_types = pair["input_ids"], pair["token_type_ids"]
    i = _find(s_ids, a, 0)
    j = _find(p_ids, a, 0)
    k = _find(p_ids, b, j + len(a))

    def zipped(ids: list[int], types: list[int], lo: int, hi: int) -> tuple[tuple[int, int], ...]:
        return tuple(zip(ids[lo:hi], types[lo:hi]))

    return Template(
        prefix=zipped(s_ids, s_types, 0, i),
        suffix=zipped(s_ids, s_types, i + len(a), len(s_ids)),
        pair_prefix=zipped(p_ids, p_types, 0, j),
        pair_middle=zipped(p_ids, p_types, j + len(a), k),
        pair_suffix=zipped(p_ids, p_types, k + len(b), len(p_ids)),
        type_a=p_types[j] if a else 0,
        type_b=p_types[k] if b else 0,
    )


@functools.lru_cache(maxsize=4096)
def _layout(template: Template, na: int, nb: int | None) -> Layout:
    layout = template._build_layout(na, nb)
    for array in (layout.ids, layout.segment, layout.index, layout.type_ids):
        array.flags.writeable = False
    return layout


def _int64(values: list[int]) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def _find(seq: list[int], sub: list[int], start: int) -> int:
    for i in range(start, len(seq) - len(sub) + 1):
        if seq[i : i + len(sub)] == sub:
            return i
    raise ValueError(f"cannot find the probe tokens {sub} in {seq}")


def check_text(value: object, index: int) -> str:
    """Return `value` as valid text, or raise an error that names the index and the problem."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidTextError(
                f"invalid UTF-8 at byte {e.start} ({value[e.start : e.start + 1]!r}); "
                "decode the bytes yourself (e.g. errors='replace') or fix the source",
                index,
            ) from None
    if not isinstance(value, str):
        raise InvalidTextError(f"expected a string, got {type(value).__name__}", index)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidTextError(
            f"lone surrogate U+{ord(value[e.start]):04X} at character {e.start} is not valid "
            "Unicode; it usually comes from bytes decoded with errors='surrogateescape'",
            index,
        ) from None
    return value


def check_words(value: object, index: int) -> list[str]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise InvalidTextError(
            f"with is_split_into_words=True each input is a list of words, got "
            f"{type(value).__name__}",
            index,
        )
    return [check_text(w, index) for w in value]


def check_inputs(
    inputs: Any, text_pair: Any, split: bool, collect: bool, max_chars: int | None = None
) -> tuple[bool, list[Any], list[str] | None, list[int], list[InputError]]:
    """The caller's inputs, checked: (single?, texts, pairs, the caller's index of each text,
    the errors of the inputs left out when `collect`; raised at once otherwise). The one place
    that decides what an input is: the library, the engine and every adapter call it."""
    single = isinstance(inputs, (str, bytes)) or (
        split and isinstance(inputs, (list, tuple)) and all(isinstance(w, str) for w in inputs)
    )
    items = [inputs] if single else as_list(inputs)
    if len(items) == 0:
        raise InvalidTextError("no inputs: the list is empty")
    pair_items = None
    if text_pair is not None:
        pair_items = [text_pair] if isinstance(text_pair, (str, bytes)) else as_list(text_pair)
        if len(pair_items) != len(items):
            raise InvalidTextError(
                f"{len(items)} texts but {len(pair_items)} text_pair values;"
                " give one pair text per text"
            )
    if not split and pair_items is None and _plain_texts(items, max_chars):
        return single, items, None, list(range(len(items))), []
    check = check_words if split else check_text
    texts: list[Any] = []
    pairs: list[str] | None = [] if pair_items is not None else None
    kept: list[int] = []
    errors: list[InputError] = []
    for i, x in enumerate(items):
        try:
            text = check(x, i)
            pair = check_text(pair_items[i], i) if pair_items is not None else None
            _check_size(text, pair, max_chars, i)
        except InputError as e:
            if not collect:
                raise
            errors.append(e)
            continue
        texts.append(text)
        if pairs is not None and pair is not None:
            pairs.append(pair)
        kept.append(i)
    return single, texts, pairs, kept, errors


def _plain_texts(items: list[Any], max_chars: int | None) -> bool:
    """True when every item is a str of valid Unicode within max_chars, checked in bulk (a few
    C-level passes, not a Python call per input); False sends the caller to the per-input
    checks, which name the first bad input.

    >>> _plain_texts(["a", "b"], 10), _plain_texts(["a", b"b"], 10), _plain_texts(["abc"], 2)
    (True, False, False)
    >>> _plain_texts(["ok", "\\ud800"], None)  # a lone surrogate
    False
    """
    if not all(type(x) is str for x in items):
        return False
    try:
        "".join(items).encode("utf-8")  # the encoder refuses every surrogate code point
    except UnicodeEncodeError:
        return False
    return not max_chars or max(map(len, items)) <= max_chars


def _check_size(text: Any, pair: str | None, max_chars: int | None, index: int) -> None:
    """Bound one input before the tokenizer sees it: tokenizing 200 MB at once takes tens of
    GB (offsets and strings per token), whatever windowing does afterwards."""
    if not max_chars:
        return
    n = (len(text) if isinstance(text, str) else sum(len(w) + 1 for w in text)) + len(pair or "")
    if n > max_chars:
        raise TooLongError(
            n,
            max_chars,
            index,
            f"that many characters is over max_chars={max_chars:,}; split the document "
            "(bertex.split_sentences) or raise max_chars (0: no limit)",
            unit="characters",
        )


def as_list(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, Mapping):
        raise InvalidTextError(
            f"expected a string or a list of strings, got a {type(value).__name__}; "
            "pass list(d.values()) or list(d) to say which"
        )
    if isinstance(value, (set, frozenset)) or not isinstance(value, Iterable):
        raise InvalidTextError(
            f"expected a string or a list of strings, got {type(value).__name__}"
        )
    return list(value)


class TextTokenizer:
    """The model's fast tokenizer, producing Encodings (content tokens only)."""

    def __init__(self, hf_tokenizer: Any, split_tokenizer: Any | None = None) -> None:
        self.hf = hf_tokenizer
        self._split = split_tokenizer  # a copy with add_prefix_space for pre-split input
        self.template = read_template(hf_tokenizer)
        self.unk_id: int | None = hf_tokenizer.unk_token_id
        self.unk_token: str | None = hf_tokenizer.unk_token

    def encode(
        self,
        texts: Sequence[str] | Sequence[list[str]],
        pairs: Sequence[str] | None = None,
        split_words: bool = False,
        start_index: int = 0,
    ) -> list[Encoding]:
        segs_a = self._segments(texts, split_words, start_index)
        segs_b = self._segments(pairs, False, start_index) if pairs is not None else None
        out = []
        for i, a in enumerate(segs_a):
            b = segs_b[i] if segs_b is not None else None
            out.append(self._encoding(start_index + i, a, b))
        return out

    def _segments(self, texts: Any, split_words: bool, start: int) -> list[Segment]:
        tok = (self._split or self.hf) if split_words else self.hf
        enc = tok(
            list(texts),
            add_special_tokens=False,
            return_offsets_mapping=True,
            return_attention_mask=False,
            return_token_type_ids=False,
            is_split_into_words=split_words,
        )
        segs = []
        for i, text in enumerate(texts):
            e = enc.encodings[i]
            ids = np.asarray(e.ids, dtype=np.int64)
            offsets = np.asarray(e.offsets, dtype=np.int64).reshape(-1, 2)
            word_ids = np.asarray([-1 if w is None else w for w in e.word_ids], dtype=np.int64)
            words = None
            if split_words:
                text, offsets, words = _join_words(text, offsets, word_ids)
            segs.append(Segment(text, ids, tuple(e.tokens), offsets, word_ids, words))
            if len(ids) == 0:
                raise EmptyInputError(_why_empty(text), start + i)
        return segs

    def _encoding(self, index: int, a: Segment, b: Segment | None) -> Encoding:
        unk_count = unk_chars = n_chars = 0
        for seg in (a, b):
            if seg is None:
                continue
            if self.unk_id is not None:
                is_unk = seg.ids == self.unk_id
                unk_count += int(is_unk.sum())
                spans = seg.offsets[is_unk]
                unk_chars += int((spans[:, 1] - spans[:, 0]).sum()) if len(spans) else 0
            n_chars += len("".join(seg.text.split()))  # split(): the chars isspace() finds
        return Encoding(index, a, b, unk_count, unk_chars, n_chars)


def _join_words(
    words: list[str], offsets: np.ndarray, word_ids: np.ndarray
) -> tuple[str, np.ndarray, tuple[str, ...]]:
    """Pre-split words -> the text "w0 w1 ...", with token offsets moved into that text.

    The tokenizer reports offsets within each word: word 1 "cats" split as "cat" (0, 3),
    "##s" (3, 4) becomes (4, 7), (7, 8) in "my cats".
    """
    starts, pos = [], 0
    for w in words:
        starts.append(pos)
        pos += len(w) + 1
    shift = np.asarray(starts, dtype=np.int64)[np.maximum(word_ids, 0)]
    return " ".join(words), offsets + shift[:, None], tuple(words)


def _why_empty(text: str) -> str:
    if text == "":
        return "the text is empty; there is nothing to embed"
    if text.isspace():
        return "the text is whitespace only; there is nothing to embed"
    names = sorted({unicodedata.category(c) for c in text if not c.isspace()})
    return (
        "the tokenizer produced no tokens (it drops control and format characters; "
        f"character categories here: {', '.join(names)})"
    )
