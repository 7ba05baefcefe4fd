"""`bertex embed`: texts in, vectors out, for people (default) or machines (--format)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, OptionError
from . import common, corpus
from .render import human_results, result_record

FORMATS = ("human", "json", "jsonl", "npy")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "embed",
        help="embed texts and show or write the vectors",
        description="Embed TEXT arguments, a file (one text per line) or stdin.",
    )
    common.add_inputs(p)
    common.add_model(p)
    common.add_embed_options(p)
    p.add_argument("--format", choices=FORMATS, default="human")
    p.add_argument("-o", "--out", type=Path, help="write here instead of stdout (npy needs it)")
    p.add_argument("--preview", type=int, default=4, help="values shown per vector (human)")
    p.add_argument(
        "--profile",
        action="store_true",
        help="print the seconds spent in tokenization, forward, output and writing",
    )
    common.add_backend(p)
    corpus.add_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import bertex

    if args.input is not None:
        if args.texts or args.file is not None:
            raise InputError("give --input for a corpus, or TEXT/--file, not both")
        return corpus.run(args)
    texts, pairs, label = common.read_inputs(args)
    if args.format == "npy" and args.out is None:
        raise OptionError("--out", None, ["a file path"], "--format npy writes binary; give --out")
    model = bertex.load(args.model, backend=args.backend, precision=args.precision)
    timings: dict[str, float] = {}
    try:
        result = model.embed(texts, pairs, timings=timings, **common.embed_kwargs(args))
    except InputError as e:
        if label == "line" and e.index is not None:
            msg = str(e).replace(f"input {e.index}: ", "", 1)
            raise type(e)(f"line {e.index + 1}: {msg}") from None
        raise
    start = time.perf_counter()
    write(result, args)
    timings["write"] = time.perf_counter() - start
    if args.profile:
        total = sum(timings.values())
        parts = ", ".join(f"{k} {v:.3f} s ({100 * v / total:.0f}%)" for k, v in timings.items())
        print(f"profile: {parts}", file=sys.stderr)
    return 0


def write(result: Any, args: argparse.Namespace) -> None:
    items = result if isinstance(result, list) else [result]
    if args.format == "npy":
        _write_npy(result, items, args.out)
        return
    if args.format == "human":
        text = human_results(result, args.preview)
    elif args.format == "json":
        text = json.dumps(_json_doc(result, items), ensure_ascii=False) + "\n"
    else:
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _records(result, items))
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")


def _records(result: Any, items: list) -> list[dict]:
    if hasattr(result, "reports"):  # sentence level
        return [
            {
                "index": i,
                "text": t,
                "vector": v.tolist(),
                "report": _report(r),
                "meta": result.meta.to_dict(),
            }
            for i, (t, v, r) in enumerate(zip(result.texts, result.vectors, result.reports))
        ]
    return [result_record(i, r) for i, r in enumerate(items)]


def _json_doc(result: Any, items: list) -> dict:
    records = _records(result, items)
    meta = records[0]["meta"] if records else {}
    for r in records:
        r.pop("meta", None)
    return {"meta": meta, "results": records}


def _report(r: Any) -> dict:
    return {
        "n_tokens": r.n_tokens,
        "n_windows": r.n_windows,
        "truncated": r.truncated,
        "unk_count": r.unk_count,
        "unk_rate": round(r.unk_rate, 6),
    }


def _write_npy(result: Any, items: list, out: Path) -> None:
    """Sentence vectors (N, D), or one input's token/word vectors; metadata beside it."""
    if hasattr(result, "vectors") and hasattr(result, "reports"):
        array, meta = result.vectors, result.meta
    elif len(items) == 1:
        array, meta = items[0].vectors, items[0].meta
    else:
        raise OptionError(
            "--format",
            "npy",
            ["json", "jsonl"],
            f"{len(items)} inputs of different lengths do not fit one array; use "
            "--level sentence or a JSON format",
        )
    np.save(out, array)
    side = out.with_name(out.name + ".meta.json")
    side.write_text(
        json.dumps(
            {"shape": list(array.shape), "dtype": str(array.dtype), **meta.to_dict()}, indent=2
        )
        + "\n"
    )
    print(f"wrote {out} {tuple(array.shape)} {array.dtype} and {side.name}", file=sys.stderr)
