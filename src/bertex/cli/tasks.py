"""`bertex answer`, `bertex predict --model TASK_FOLDER` and `bertex search --rerank`: a model
folder's own task head on the command line (the logic lives in bertex.tasks)."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..errors import EmptyInputError, InvalidTextError
from . import common
from .inputs import file_text, non_negative, positive


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "answer",
        help="extract the answer to a question from a context or an index's passages (QA model)",
        description="The answer span, its character offsets in the passage, its score and the "
        "passage, read by a question-answering folder (--model).",
    )
    p.add_argument("question")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--context",
        action="append",
        metavar="FILE|TEXT",
        help="a text file or the text (repeatable)",
    )
    src.add_argument("--index", help="retrieve passages from this index (bertex index build)")
    p.add_argument("-k", type=positive, default=3, help="passages to read with --index (default 3)")
    add_answer_options(p)
    p.add_argument("--format", choices=("human", "json"), default="human")
    common.add_model(p)
    p.set_defaults(run=run_answer)


def add_answer_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--top-k", type=positive, default=1, help="answers to show (n-best; default 1)")
    p.add_argument(
        "--no-answer", action="store_true", help="allow the null answer (SQuAD 2.0 models)"
    )
    p.add_argument(
        "--null-threshold",
        type=float,
        default=0.0,
        help="the null answer must beat a span's score by more than this (default 0)",
    )
    p.add_argument("--max-answer-len", type=positive, default=15, help="tokens (default 15)")
    p.add_argument(
        "--max-length", type=positive, help="tokens per window (default min(limit, 384))"
    )
    p.add_argument("--doc-stride", type=non_negative, help="tokens shared by windows (default 128)")


def answer_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "top_k": args.top_k,
        "no_answer": args.no_answer,
        "null_threshold": args.null_threshold,
        "max_answer_len": args.max_answer_len,
        "max_length": args.max_length,
        "doc_stride": args.doc_stride,
    }


def run_answer(args: argparse.Namespace) -> int:
    from .. import tasks
    from ..tasks.answer import from_index

    reader = tasks.folder.read(args.model, "qa")
    qa = tasks.Reader(reader)
    if args.index:
        from ..index import Index

        with Index.open(args.index) as ix:
            found = from_index(qa, args.question, ix, args.k, **answer_options(args))
        passages = None
    else:
        passages = [context_text(c) for c in args.context]
        found = qa.answer(args.question, passages, **answer_options(args))
    show_answers(found, args.format, passages)
    return 0


def context_text(value: str) -> str:
    """--context: a file's text when the value names a file, else the value itself."""
    path = Path(value)
    try:
        is_file = len(value) < 4096 and "\n" not in value and path.is_file()
    except OSError:
        is_file = False
    text = file_text(value, "--context") if is_file else value
    if not text.strip():
        raise EmptyInputError(
            f"the context file {value} is empty" if is_file else "the context is empty"
        )
    return text


def show_answers(found: list[Any], fmt: str, passages: list[str] | None) -> None:
    if fmt == "json":
        print(common.dumps([asdict(a) for a in found]))
        return
    for a in found:
        where = f"passage {a.passage}" + (f" (id {a.passage_id})" if a.passage_id else "")
        shown = a.text if a.text else "(no answer)"
        print(f"{a.score:.4f}  {shown}  [{where}, chars {a.start}:{a.end}]")


def predict_with_folder(args: argparse.Namespace, texts: list[str]) -> int:
    """`bertex predict --model DIR`: the folder's own head (classify, tag or QA)."""
    from .. import tasks

    model = tasks.load(args.model)
    _check_flags(args, model, len(texts))
    if model.task == "qa":
        for text in texts:
            found = model.answer(args.question, text, top_k=args.top_k, no_answer=args.no_answer)
            row = {"text": text, "answers": [asdict(a) for a in found]}
            print(common.dumps(row))
        return 0
    if model.task == "tag":
        out = model.predict(texts, aggregation=args.aggregation or "first")
        rows: list[Any] = [[asdict(e) for e in ents] for ents in out]
    else:
        labels = args.labels.split(",") if args.labels else None
        preds = model.predict(
            texts, labels, pairs=args.pair, threshold=args.threshold, truncate=args.truncate
        )
        rows = [asdict(p) for p in preds]
    for i, (text, value) in enumerate(zip(texts, rows, strict=True)):
        pair = {"text_pair": args.pair[i]} if args.pair else {}
        print(common.dumps({"text": text, **pair, "prediction": value}))
    return 0


def _check_flags(args: argparse.Namespace, model: Any, n: int) -> None:
    """Flags that do not fit this folder's kind of head: one line naming what does."""
    kind = f"{args.model} is a {model.task} model"
    if model.task == "qa" and not args.question:
        raise InvalidTextError(
            f"{args.model} is a question-answering model: give --question QUESTION (each "
            "input is then a context), or use `bertex answer QUESTION --context ...`"
        )
    if args.question and model.task != "qa":
        raise InvalidTextError(f"--question is for question-answering models; {kind}")
    if args.pair and (model.task != "classify" or len(args.pair) != n or args.input):
        raise InvalidTextError(
            "--pair gives the second text of a pair to a sequence-classification model, once "
            f"per --text ({n} texts, {len(args.pair)} pairs; {kind})"
        )
    if args.aggregation and model.task != "tag":
        raise InvalidTextError(f"--aggregation is for token-classification models; {kind}")
    if args.labels and model.task != "classify":
        raise InvalidTextError(f"--labels restricts a classifier's labels; {kind}")


def rerank_hits(
    path: str, query: str, records: list[dict[str, Any]], truncate: bool
) -> list[dict[str, Any]]:
    """`bertex search --rerank DIR`: the hits re-scored by the cross-encoder, best first; each
    keeps its retrieval score as `retrieval_score` and its retrieval rank."""
    from .. import tasks

    if not records:
        return records
    missing = [r["id"] for r in records if not r.get("text")]
    if missing:
        raise InvalidTextError(
            f"--rerank reads the hits' texts, and the index holds none for {missing[0]!r}: "
            "build the index with its texts kept"
        )
    ce = cross_encoder(path)
    ranked = tasks.rerank(ce, query, [r["text"] for r in records], truncate=truncate)
    out = []
    for rank, r in enumerate(ranked, start=1):
        hit = records[r.index]
        out.append({**hit, "rank": rank, "score": r.score, "logit": r.logit,
                    "retrieval_rank": hit["rank"], "retrieval_score": hit["score"]})  # fmt: skip
    return out


_LOADED: dict[str, Any] = {}


def cross_encoder(path: str) -> Any:
    from .. import tasks

    if path not in _LOADED:
        _LOADED[path] = tasks.Classifier(tasks.folder.read(path, "classify"))
    return _LOADED[path]
