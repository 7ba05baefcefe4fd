"""`bertex train classify|tag` and `bertex predict HEAD`: fit a linear head, then use it."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..errors import EmptyInputError, InvalidTextError
from ..tasks.spans import AGGREGATIONS
from . import common
from .inputs import positive


def add_parser(sub: Any) -> None:
    tr = sub.add_parser(
        "train",
        help="fit a linear head on frozen features (classify or tag; seconds; "
        "`tune` changes the encoder for a better model in minutes)",
    )
    kinds = tr.add_subparsers(dest="kind", required=True)
    for kind, data_help in (("classify", "text,label CSV/TSV/JSONL"), ("tag", "CoNLL token/tag")):
        p = kinds.add_parser(kind, help=f"train a {kind} head")
        p.add_argument("--data", required=True, help=data_help)
        p.add_argument("--layer", type=int, default=-1, help="0 = embedding output; -1 = last")
        if kind == "classify":
            p.add_argument("--pooling", default=None, help="default: the model's own")
        p.add_argument("--out", required=True, help="the head file to write (safetensors)")
        p.add_argument(
            "--held-out",
            type=float,
            default=0.2,
            help="the fraction of rows (sentences) held out and scored, split by a fixed seed; "
            "the head is fit on the rest (default 0.2; 0: fit on every row, no score)",
        )
        p.add_argument("--seed", type=int, default=0, help="the held-out split's seed (default 0)")
        common.add_model(p)
        p.set_defaults(run=run_train)
    pr = sub.add_parser(
        "predict",
        help="labels, entity spans or answers from a head file (bertex train) or a model "
        "folder's own task head (--model DIR)",
    )
    pr.add_argument(
        "head", nargs="?", help="a head file (bertex train); left out: --model's own task head"
    )
    pr.add_argument("--input", help="a text file, one input per line; - = stdin")
    pr.add_argument("--text", action="append", help="a text to predict (repeatable)")
    pr.add_argument(
        "--pair",
        action="append",
        metavar="TEXT",
        help="a pair-form classifier (NLI, paraphrase, a cross-encoder): the second text, once "
        "per --text",
    )
    pr.add_argument("--labels", default=None, help="restrict to these labels (comma-separated)")
    pr.add_argument(
        "--aggregation",
        choices=AGGREGATIONS,
        help="tag: how sub-token predictions become words (default: first for a task folder, "
        "the head's own word vectors for a head file)",
    )
    pr.add_argument("--question", help="a QA folder: the question (each input is a context)")
    pr.add_argument("--top-k", type=positive, default=1, help="QA: answers per context")
    pr.add_argument("--no-answer", action="store_true", help="QA: allow the null answer")
    pr.add_argument(
        "--threshold", type=float, default=0.5, help="multi-label: labels at or over it"
    )
    pr.add_argument("--truncate", action="store_true", help="cut over-long inputs (flagged)")
    common.add_model(pr)
    pr.set_defaults(run=run_predict)


def run_train(args: argparse.Namespace) -> int:
    import bertex

    from ..analysis import train

    model = bertex.load(args.model)
    split = {"held_out": args.held_out, "seed": args.seed}
    if args.kind == "classify":
        head = train.train_classify(model, args.data, args.layer, args.pooling, **split)
    else:
        head = train.train_tag(model, args.data, args.layer, **split)
    head.save(args.out)
    p = head.provenance
    print(f"wrote {args.out}: {p.task} head, {len(p.labels)} labels, layer {p.layer}, {p.model}")
    print(train.describe_score(p.held_out))
    return 0


def run_predict(args: argparse.Namespace) -> int:
    import bertex

    from .. import heads
    from .tasks import predict_with_folder

    texts = _texts(args)
    if args.head is None:
        return predict_with_folder(args, texts)
    if args.question or args.pair:
        raise InvalidTextError(
            "--question and --pair need a task model folder (--model DIR), not a head file"
        )
    head = heads.load(args.head, bertex.load(args.model))  # refused if the weights differ
    labels = args.labels.split(",") if args.labels else None
    for text, out in zip(texts, head.predict(texts, labels, args.aggregation)):
        value = [asdict(e) for e in out] if isinstance(out, list) else asdict(out)
        print(common.dumps({"text": text, "prediction": value}))
    return 0


def _texts(args: argparse.Namespace) -> list[str]:
    """--text values, or --input's lines (- = stdin); blank lines are skipped."""
    if args.input is not None and args.text:
        raise InvalidTextError("give --input FILE or --text TEXT, not both")
    if args.text:
        texts = list(args.text)
    elif args.input is not None:
        from ..sources.files import utf8_file_lines, utf8_lines  # the corpus reader's decoding

        path = Path(args.input)
        if args.input != "-" and not path.is_file():
            raise InvalidTextError(f"--input {args.input}: no such file")
        stdin = args.input == "-"
        lines = utf8_lines(sys.stdin.buffer, "stdin") if stdin else utf8_file_lines(path)
        texts = [x.rstrip("\r\n") for x in lines if x.strip()]
    else:
        raise InvalidTextError("no input: give --input FILE (one text a line; - = stdin) or --text")
    if not texts or not all(t.strip() for t in texts):
        raise EmptyInputError(f"no text to predict in {args.input or '--text'}")
    return texts
