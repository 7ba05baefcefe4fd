"""Data for `bertex tune qa`: SQuAD-format questions over contexts, and their model features.

Reads SQuAD JSON ({"data": [{"paragraphs": [{"context", "qas": [{"id", "question",
"answers": [{"text", "answer_start"}], "is_impossible"}]}]}]}, v1.1 and v2.0) and the flat
JSONL form of the Hugging Face `squad` dataset ({"id", "question", "context", "answers":
{"text": [...], "answer_start": [...]}}). An empty answer list is a question with no answer
in its context (SQuAD 2.0). Every answer's character start is checked against its context.

A context longer than the window is split into overlapping windows (`stride` tokens shared
by neighbours, transformers' doc stride); each window is one feature whose start and end
positions are the answer's first and last token, or [CLS] (0) when the answer is not wholly
inside it, as transformers' run_qa prepares them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DataFileError
from . import tables


@dataclass(frozen=True)
class Answer:
    text: str
    start: int  # character offset into the context


@dataclass(frozen=True)
class QAExample:
    id: str
    question: str
    context: str
    answers: tuple[Answer, ...]  # empty: no answer in the context


def read_squad(path: str | Path) -> tuple[QAExample, ...]:
    """SQuAD JSON (.json) or the flat JSONL form (.jsonl); every answer checked."""
    path = Path(path)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        cols = ["id", "question", "context", "answers"]
        found = [_flat(path, n, r) for n, r in tables.records(path, cols, "SQuAD fields")]
    else:
        found = list(_nested(path, _load_json(path)))
    if not found:
        raise DataFileError(path, None, "no questions")
    seen: set[str] = set()
    for ex in found:
        if ex.id in seen:
            raise DataFileError(path, None, f"question id {ex.id!r} appears twice")
        seen.add(ex.id)
    return tuple(found)


def _load_json(path: Path) -> Any:
    if not path.is_file():
        raise DataFileError(path, None, "no such file")
    text = path.read_text(encoding="utf-8-sig")
    if not text.strip():
        raise DataFileError(path, None, "the file is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataFileError(path, e.lineno, f"not JSON ({e.msg})") from None


def _nested(path: Path, doc: Any):
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        keys = list(doc) if isinstance(doc, dict) else type(doc).__name__
        raise DataFileError(path, None, f"no 'data' list (SQuAD format); the top level has {keys}")
    for d, article in enumerate(doc["data"]):
        for p, para in enumerate(_field(path, f"data[{d}]", article, "paragraphs", list)):
            where = f"data[{d}].paragraphs[{p}]"
            context = _field(path, where, para, "context", str)
            for q, qa in enumerate(_field(path, where, para, "qas", list)):
                qid = str(_field(path, f"{where}.qas[{q}]", qa, "id", (str, int)))
                question = _field(path, f"question {qid!r}", qa, "question", str)
                raw = _field(path, f"question {qid!r}", qa, "answers", list)
                if qa.get("is_impossible") and raw:
                    raise DataFileError(
                        path, None, f"question {qid!r} is_impossible but lists answers"
                    )
                pairs = [(_field(path, qid, a, "text", str), _field(path, qid, a, "answer_start",
                          int)) for a in raw]  # fmt: skip
                yield _example(path, qid, question, context, pairs)


def _flat(path: Path, n: int, rec: dict[str, Any]) -> QAExample:
    qid = str(rec["id"])
    ans = rec["answers"]
    if not isinstance(ans, dict) or not {"text", "answer_start"} <= set(ans):
        raise DataFileError(path, n, f"question {qid!r}: answers is not {{text, answer_start}}")
    texts, starts = ans["text"], ans["answer_start"]
    if not isinstance(texts, list) or not isinstance(starts, list) or len(texts) != len(starts):
        raise DataFileError(path, n, f"question {qid!r}: answers' lists differ in length")
    for name in ("question", "context"):
        if not isinstance(rec[name], str):
            raise DataFileError(path, n, f"question {qid!r}: {name} is not text")
    return _example(path, qid, rec["question"], rec["context"], list(zip(texts, starts)))


def _field(path: Path, where: str, obj: Any, name: str, kind: Any) -> Any:
    if not isinstance(obj, dict) or name not in obj:
        has = list(obj) if isinstance(obj, dict) else type(obj).__name__
        raise DataFileError(path, None, f"{where}: no {name!r} (it has {has})")
    value = obj[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise DataFileError(path, None, f"{where}: {name!r} is a {type(value).__name__}")
    return value


def _example(
    path: Path, qid: str, question: str, context: str, answers: Sequence[tuple[Any, Any]]
) -> QAExample:
    if not question.strip():
        raise DataFileError(path, None, f"question {qid!r} is empty")
    if not context.strip():
        raise DataFileError(path, None, f"question {qid!r}: the context is empty")
    out = []
    for text, start in answers:
        if not isinstance(text, str) or not isinstance(start, int) or not text:
            raise DataFileError(path, None, f"question {qid!r}: an answer without text or start")
        found = context[start : start + len(text)]
        if found != text:
            raise DataFileError(
                path,
                None,
                f"question {qid!r}: the answer {text!r} does not start at character {start} "
                f"of its context (found {found!r} there)",
            )
        out.append(Answer(text, start))
    return QAExample(qid, question.lstrip(), context, tuple(out))


@dataclass(frozen=True)
class QAFeatures:
    """One feature per window of a context; labels for training, offsets for decoding."""

    features: list[dict[str, Any]]  # input_ids, attention_mask[, token_type_ids],
    #                                 start_positions, end_positions
    example: list[int]  # per feature: the index of its example
    offsets: list[list[tuple[int, int] | None]]  # per token: context characters (else None)
    windows: int  # features beyond one per example: contexts split by the doc stride


def qa_features(
    tokenizer: Any,
    examples: Sequence[QAExample],
    max_length: int,
    stride: int,
    source: str = "the data",
) -> QAFeatures:
    """Windows of each context after its question (question first, as BERT's SQuAD did);
    `source` (the file) is named when a question leaves no room for its context."""
    _check_room(tokenizer, examples, max_length, stride, source)
    enc = tokenizer(
        [e.question for e in examples],
        [e.context for e in examples],
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    mapping = enc.pop("overflow_to_sample_mapping")
    offset_rows = enc.pop("offset_mapping")
    feats, offsets = [], []
    for i, k in enumerate(mapping):
        seq = enc.sequence_ids(i)
        offs = [tuple(o) if s == 1 else None for o, s in zip(offset_rows[i], seq)]
        start, end = answer_tokens(offs, examples[k].answers)
        f = {name: enc[name][i] for name in enc.keys()}
        f["start_positions"], f["end_positions"] = start, end
        feats.append(f)
        offsets.append(offs)
    return QAFeatures(feats, list(mapping), offsets, len(mapping) - len(examples))


def answer_tokens(
    offsets: Sequence[tuple[int, int] | None], answers: Sequence[Answer]
) -> tuple[int, int]:
    """The first answer's first and last token in this window; (0, 0) ([CLS]) when there is
    no answer or it is not wholly inside the window.

    >>> answer_tokens([None, None, (0, 3), (4, 9), (10, 12), None], [Answer("lives", 4)])
    (3, 3)
    >>> answer_tokens([None, (0, 3), (4, 9), None], [Answer("lives in", 4)])
    (0, 0)
    """
    if not answers:
        return 0, 0
    a = answers[0].start
    b = a + len(answers[0].text)
    inside = [(i, o) for i, o in enumerate(offsets) if o is not None]
    if not inside or inside[0][1][0] > a or inside[-1][1][1] < b:
        return 0, 0
    # subtle: a token can straddle the answer's edge (a sub-word "New" of "Newark" for the
    # answer "New"): the answer starts in the last token starting at or before a, and ends in
    # the first token ending at or after b.
    start = max(i for i, o in inside if o[0] <= a)
    end = min(i for i, o in inside if o[1] >= b)
    return start, end


def _check_room(
    tokenizer: Any, examples: Sequence[QAExample], max_length: int, stride: int, source: str
) -> None:
    """The context's share of a window must exceed the stride, or windows cannot advance."""
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    q_ids = tokenizer([e.question for e in examples], add_special_tokens=False)["input_ids"]
    for e, ids in zip(examples, q_ids):
        room = max_length - specials - len(ids)
        if room <= stride:
            raise DataFileError(
                source,
                None,
                f"question {e.id!r} is {len(ids)} tokens: with max length {max_length} and "
                f"doc stride {stride}, a window has {room} context tokens, not more than the "
                "stride; shorten the question, raise --max-length or lower --doc-stride",
            )
