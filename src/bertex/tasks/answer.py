"""Extractive question answering with a *ForQuestionAnswering folder: the answer span, its
character offsets in the original context, its score and the passage it came from.

The rule is transformers' question-answering pipeline's (it left transformers in 5.0; its
scoring lives on in transformers.pipelines.document_question_answering.select_starts_ends):
- the question and the context are read together, the context split into windows of
  `max_length` tokens (default min(the model's limit, 384)) sharing `doc_stride` tokens
  (default min(max_length // 2, 128)); nothing is cut;
- in each window, start and end logits become probabilities by a softmax over the context's
  tokens and [CLS]; a span's score is P(start) * P(end), at most `max_answer_len` tokens long;
- a span is widened to whole words (the tokenizer's words); candidates that come to the same
  text (any case) in one context add their scores; the n best are kept;
- no_answer=True (SQuAD 2.0): the null answer ("" at 0..0) scores P(start=[CLS]) *
  P(end=[CLS]), the least over the windows, and is ranked with the spans; `null_threshold`
  (default 0) asks more of it: it ranks above a span only when it beats that span's score by
  more than the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError, OptionError
from .folder import TaskModel, check_texts


@dataclass(frozen=True)
class Answer:
    text: str  # "" is the null answer (no_answer=True)
    score: float
    start: int  # character offsets into the passage's text
    end: int
    passage: int  # which context (index into those given), or the index hit's rank
    passage_id: str | None = None  # the hit's id, when the passages came from an index

    @property
    def is_null(self) -> bool:
        return self.text == "" and self.start == self.end == 0


@dataclass(frozen=True)
class Options:
    top_k: int = 1
    no_answer: bool = False
    null_threshold: float = 0.0
    max_answer_len: int = 15
    max_length: int | None = None
    doc_stride: int | None = None


class Reader(TaskModel):
    """Any *ForQuestionAnswering folder."""

    def answer(self, question: str, context: Any, **options: Any) -> list[Answer]:
        """The n best answers (options.top_k) over one context or a list of them, best first.

        Options: top_k, no_answer, null_threshold, max_answer_len, max_length, doc_stride.
        """
        opts = _options(options)
        (question,) = check_texts([question], "question")
        contexts = check_texts(context, "context")
        length, stride = self._window(question, opts)
        tok = self.loaded.tokenizer
        enc = self.encode(
            [question] * len(contexts),
            contexts,
            truncation="only_second",
            max_length=length,
            stride=stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        out = self.forward(enc, list(range(len(enc["input_ids"]))))
        sample = enc["overflow_to_sample_mapping"]
        spans: list[Answer] = []
        nulls: list[float] = []
        for c, text in enumerate(contexts):
            rows = [f for f, s in enumerate(sample) if s == c]
            found, null_score = _read(enc, rows, out, text, c, opts, tok.cls_token_id)
            spans.extend(found)
            nulls.append(null_score)
        spans.sort(key=lambda a: -a.score)  # stable: the earlier passage wins a tie
        if opts.no_answer:
            null = Answer("", min(nulls), 0, 0, int(np.argmin(nulls)))
            at = next(
                (i for i, a in enumerate(spans) if null.score > a.score + opts.null_threshold),
                len(spans),
            )
            spans.insert(at, null)
        return spans[: opts.top_k]

    def _window(self, question: str, opts: Options) -> tuple[int, int]:
        tok = self.loaded.tokenizer
        length = min(self.loaded.max_length, 384) if opts.max_length is None else opts.max_length
        if not 8 <= length <= self.loaded.max_length:
            raise OptionError(
                "max_length", length, [f"8..{self.loaded.max_length}"], "tokens per window"
            )
        stride = min(length // 2, 128) if opts.doc_stride is None else opts.doc_stride
        q = len(self.encode(question, add_special_tokens=False)["input_ids"])
        room = length - q - tok.num_special_tokens_to_add(pair=True)
        if room <= stride:
            raise InputError(
                f"the question has {q} tokens: a window of {length} tokens leaves {room} for "
                f"the context, not more than the doc stride ({stride}); shorten the question "
                "or lower the doc stride"
            )
        return length, stride


def _options(given: dict[str, Any]) -> Options:
    names = Options.__dataclass_fields__
    for key in given:
        if key not in names:
            raise OptionError("option", key, names, "Reader.answer takes these options")
    opts = Options(**given)
    if opts.top_k < 1:
        raise OptionError("top_k", opts.top_k, ["an integer >= 1"])
    if opts.max_answer_len < 1:
        raise OptionError("max_answer_len", opts.max_answer_len, ["an integer >= 1"])
    if opts.doc_stride is not None and opts.doc_stride < 0:
        raise OptionError("doc_stride", opts.doc_stride, ["an integer >= 0"])
    return opts


def _read(
    enc: Any,
    rows: list[int],
    out: dict[str, Any],
    text: str,
    passage: int,
    opts: Options,
    cls_id: int | None,
) -> tuple[list[Answer], float]:
    """One context's windows -> its merged candidate answers and its null score."""
    null = 1e6  # large: the least over the windows is kept
    found: dict[str, Answer] = {}  # by lowercased text, in the order first seen
    for f in rows:
        ids = np.asarray(enc["input_ids"][f])
        allowed = np.array([s == 1 for s in enc.sequence_ids(f)])  # (W,) context tokens
        if cls_id is not None:
            allowed |= ids == cls_id  # [CLS] stays in the softmax: it is the null answer
        start = _masked_softmax(out["start_logits"][f], allowed)  # (W,)
        end = _masked_softmax(out["end_logits"][f], allowed)  # (W,)
        null = min(null, float(start[0] * end[0]))
        start[0] = end[0] = 0.0
        for s, e, score in _best_spans(start, end, allowed, 2 * opts.top_k + 10, opts):
            a, b = _chars(enc, f, s, e)
            key = text[a:b].lower()
            if key in found:
                old = found[key]
                found[key] = Answer(old.text, old.score + score, old.start, old.end, passage)
            else:
                found[key] = Answer(text[a:b], score, a, b, passage)
    return list(found.values()), null


def _masked_softmax(logits: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    x = np.where(allowed, logits.astype(np.float64), -10000.0)  # (W,)
    x = np.exp(x - x.max())
    return x / x.sum()


def _best_spans(
    start: np.ndarray, end: np.ndarray, allowed: np.ndarray, k: int, opts: Options
) -> list[tuple[int, int, float]]:
    """The k best (start, end, P(start) P(end)) with start <= end < start + max_answer_len,
    both on context tokens; spans of score 0 (the masked [CLS]) are never answers."""
    outer = np.outer(start, end)  # (W, W)
    cand = np.tril(np.triu(outer), opts.max_answer_len - 1)  # end >= start, not too long
    flat = cand.ravel()
    order = np.argsort(-flat, kind="stable")[:k]
    w = len(start)
    out = []
    for i in order:
        s, e = divmod(int(i), w)
        if flat[i] > 0 and allowed[s] and allowed[e]:
            out.append((s, e, float(flat[i])))
    return out


def _chars(enc: Any, f: int, s: int, e: int) -> tuple[int, int]:
    """Token span -> character span in the context, widened to whole words."""
    first, last = enc.token_to_word(f, s), enc.token_to_word(f, e)
    if first is None or last is None:
        offsets = enc["offset_mapping"][f]
        return int(offsets[s][0]), int(offsets[e][1])
    a = enc.word_to_chars(f, first, sequence_index=1)
    b = enc.word_to_chars(f, last, sequence_index=1)
    return int(a.start), int(b.end)


def from_index(
    reader: Reader, question: str, index: Any, k: int = 3, where: Any = None, **options: Any
) -> list[Answer]:
    """Retrieve the `k` best passages for `question` from `index` (a bertex.Index), then read
    them; each answer names its passage (rank and id) and has offsets into that text."""
    hits = index.search([question], k=k, where=where)[0]
    texts = [t or "" for t in hits.texts]
    if not any(t.strip() for t in texts):
        raise InputError(
            f"the index found {len(texts)} passages for this question but holds no texts "
            "(build it with the texts kept) or none matched"
        )
    keep = [i for i, t in enumerate(texts) if t.strip()]
    found = reader.answer(question, [texts[i] for i in keep], **options)
    return [
        Answer(a.text, a.score, a.start, a.end, keep[a.passage], str(hits.ids[keep[a.passage]]))
        for a in found
    ]


def answer(
    question: str,
    context: Any = None,
    *,
    model: Any,
    index: Any = None,
    k: int = 3,
    **options: Any,
) -> list[Answer]:
    """`bertex.answer`: read `context` (a text or a list) or the `k` passages `index` retrieves
    with the question-answering folder `model` (a path, or a Reader from bertex.tasks.load).
    For many questions, load the Reader once: `bertex.tasks.load(DIR).answer(...)`."""
    from .folder import read

    reader = model if isinstance(model, Reader) else Reader(read(model, "qa"))
    if (context is None) == (index is None):
        raise OptionError("context", context, ["a text or a list of texts", "index=..."],
                          "give context or index, not both or neither")  # fmt: skip
    if index is not None:
        return from_index(reader, question, index, k, **options)
    return reader.answer(question, context, **options)
