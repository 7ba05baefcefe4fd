"""`bertex fill "The capital of France is [MASK]."`: the k best tokens for every mask."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from . import common, inputs


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "fill",
        help="fill [MASK] / <mask> in texts: the k most probable tokens with probabilities "
        "(needs a masked-LM head: bertex tune mlm gives one)",
    )
    p.add_argument(
        "texts", nargs="*", metavar="TEXT", help="texts with [MASK] or <mask>; '-' reads stdin"
    )
    p.add_argument(
        "-i", "--input", metavar="FILE", help="a .txt file (one text a line), .jsonl, .csv, ..."
    )
    p.add_argument("-k", "--top-k", dest="k", type=inputs.positive, default=5, help="default: 5")
    p.add_argument("--format", choices=("human", "json"), default="human")
    common.add_model(p)
    p.set_defaults(run=run, file=None, pair=None, split_words=False)


def run(args: argparse.Namespace) -> int:
    import bertex

    texts = inputs.read_inputs(args).texts
    model = bertex.load(args.model)
    filled = model.fill(texts, k=args.k)
    if args.format == "json":
        doc = [f.to_dict() for f in filled]
        sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
        return 0
    for i, f in enumerate(filled):
        print(f"input {i}: {f.best()}" if len(filled) > 1 else f.best())
        for j, m in enumerate(f.masks):
            print(f"  mask {j} (characters {m.start}:{m.end})")
            for c in m.candidates:
                print(f"    {c.probability:8.4f}  {c.word}")
    return 0
