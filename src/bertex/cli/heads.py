"""`bertex train classify|tag` and `bertex predict HEAD`: fit a linear head, then use it."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import common


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
        common.add_model(p)
        p.set_defaults(run=run_train)
    pr = sub.add_parser("predict", help="labels (or entity spans) from a trained head")
    pr.add_argument("head")
    pr.add_argument("--input", required=True, help="a text file, one input per line; - = stdin")
    pr.add_argument("--labels", default=None, help="restrict to these labels (comma-separated)")
    common.add_model(pr)
    pr.set_defaults(run=run_predict)


def run_train(args: argparse.Namespace) -> int:
    import bertex

    from ..analysis import train

    model = bertex.load(args.model)
    if args.kind == "classify":
        head = train.train_classify(model, args.data, args.layer, args.pooling)
    else:
        head = train.train_tag(model, args.data, args.layer)
    head.save(args.out)
    p = head.provenance
    print(f"wrote {args.out}: {p.task} head, {len(p.labels)} labels, layer {p.layer}, {p.model}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    import bertex

    from .. import heads

    head = heads.load(args.head, bertex.load(args.model))  # refused if the weights differ
    raw = sys.stdin.read() if args.input == "-" else Path(args.input).read_text(encoding="utf-8")
    texts = [line for line in raw.splitlines() if line.strip()]
    labels = args.labels.split(",") if args.labels else None
    for text, out in zip(texts, head.predict(texts, labels)):
        value = [asdict(e) for e in out] if isinstance(out, list) else asdict(out)
        print(json.dumps({"text": text, "prediction": value}, ensure_ascii=False))
    return 0
