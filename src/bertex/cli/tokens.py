"""`bertex tokens`: what the model would see, without running it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from . import common, inputs


def add_parser(sub: Any) -> None:
    p = sub.add_parser("tokens", help="show tokens, ids, offsets, words and [UNK] for texts")
    inputs.add_inputs(p)
    inputs.add_source_options(p)
    common.add_model(p)
    p.add_argument("--max-length", type=int)
    p.add_argument("--long", choices=("window", "truncate", "error"), default="window")
    p.add_argument("--format", choices=("human", "json"), default="human")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import bertex

    data = inputs.read_inputs(args)
    texts, pairs = data.texts, data.pairs
    model = bertex.load(args.model)
    items = model.tokenize(
        texts,
        pairs,
        is_split_into_words=args.split_words,
        max_length=args.max_length,
        long=args.long,
    )
    items = items if isinstance(items, list) else [items]  # one pre-split input is one result
    unk = model.tokenizer.unk_token
    if args.format == "json":
        doc = [t.to_dict() for t in items]
        sys.stdout.write(common.dumps(doc) + "\n")
        return 0
    for i, t in enumerate(items):
        rep = t.report
        print(
            f"input {i}: {t.text!r}: {rep.n_tokens} tokens, {rep.unk_count} {unk} "
            f"({rep.unk_chars} of {rep.n_chars} characters)"
            + (f", {rep.n_windows} windows" if rep.windowed else "")
            + (", truncated" if rep.truncated else "")
        )
        print(f"  {'#':>4}  {'token':<16} {'id':>7} {'chars':<11} word")
        for j, (tok, tid, (s, e), w) in enumerate(
            zip(t.tokens, t.ids.tolist(), t.offsets.tolist(), t.word_ids.tolist())
        ):
            span = f"{s}:{e}"
            word = "-" if w < 0 else str(w)
            print(f"  {j:>4}  {tok:<16} {tid:>7} {span:<11} {word}")
    return 0
