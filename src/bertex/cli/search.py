"""`bertex search INDEX "query" -k 5 [--where lang=en] [--format human|json|jsonl]`.

The human format prints rank, score, id and the text, with the part that matched best
highlighted: the hit's own span when the index holds pieces (sentences or windows), else the
sentence of the text closest to the query (bertex.split_sentences + model.similarity).
Highlighting is bold on a terminal and **like this** elsewhere.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from . import common
from .inputs import positive


def add_parser(sub: Any) -> None:
    p = sub.add_parser("search", help="the documents of an index closest to a query")
    p.add_argument("index", help="an index folder (bertex index build), or postgresql://...")
    p.add_argument("queries", nargs="+", help="one or more queries")
    p.add_argument("-k", type=positive, default=10, help="documents per query (default 10)")
    p.add_argument(
        "--where",
        action="append",
        default=[],
        help="a filter on a field, repeatable (all must hold): lang=en, year>=2020; "
        "operators = != < <= > >=",
    )
    p.add_argument(
        "--format",
        choices=("human", "json", "jsonl"),
        default="human",
        help="human: ranked lines, the best part highlighted (default); json; jsonl: a hit a line",
    )
    p.add_argument(
        "-m", "--model", dest="query_model", help="the model for queries (default: the index's own)"
    )
    p.add_argument(
        "--rerank",
        metavar="DIR",
        help="re-score the k hits with this cross-encoder (a sequence-classification folder "
        "read on (query, text) pairs), best first",
    )
    p.add_argument(
        "--truncate", action="store_true", help="--rerank: cut over-long hit texts (else refused)"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..index import Index

    model = None
    if args.query_model:
        from ..loader import load

        model = load(args.query_model)
    _query_first(args)
    if args.rerank:  # a folder without a classification head fails before the search
        from .tasks import cross_encoder

        cross_encoder(args.rerank)
    ix = Index.open(args.index, model=model)
    all_hits = ix.search(list(args.queries), k=args.k, where=args.where or None)
    records = [h.to_dicts() for h in all_hits]
    if args.rerank:
        from .tasks import rerank_hits

        records = [
            rerank_hits(args.rerank, q, r, args.truncate)
            for q, r in zip(args.queries, records, strict=True)
        ]
    if args.format == "json":
        out = [{"query": q, "hits": r} for q, r in zip(args.queries, records, strict=True)]
        print(common.dumps(out if len(out) > 1 else out[0]))
        return 0
    for q, hits in zip(args.queries, records, strict=True):
        if not hits and args.format == "human":  # said, not an empty screen
            where = f" where {' and '.join(args.where)}" if args.where else ""
            print(
                f"no hits for {q!r}{where} (the index holds {len(ix)} documents)", file=sys.stderr
            )
        for record in hits:
            if args.format == "jsonl":
                print(common.dumps({"query": q, **record}))
            else:
                _human(ix, q, record, sys.stdout.isatty())
    return 0


def _query_first(args: argparse.Namespace) -> None:
    """`bertex search "a query" INDEX`: say so, rather than "no such index: a query"."""
    from pathlib import Path

    from ..errors import OptionError

    if args.index.startswith(("postgresql://", "postgres://")) or Path(args.index).exists():
        return
    for q in args.queries:
        if (Path(q) / "manifest.json").is_file():
            raise OptionError(
                "INDEX", args.index, [q], "the index comes first: bertex search INDEX QUERY ..."
            )


def _human(ix: Any, query: str, hit: dict[str, Any], tty: bool) -> None:
    text = hit["text"] or ""
    start, end = best_part(ix, query, text, tuple(hit["span"]))
    on, off = ("\033[1m", "\033[0m") if tty else ("**", "**")
    shown = text[:start] + on + text[start:end] + off + text[end:] if end > start else text
    print(f"{hit['rank']:>3}  {hit['score']:.4f}  {hit['id']}  {shown}")


def best_part(ix: Any, query: str, text: str, span: tuple[int, int]) -> tuple[int, int]:
    """The span to highlight: the hit's piece, else the text's best-matching sentence."""
    if not text:
        return 0, 0
    if span != (0, len(text)):
        return span
    from ..sentences import split

    sentences = split(text)
    if len(sentences) < 2:
        return 0, len(text)
    opts = {k: v for k, v in ix.provenance.embed_options().items() if k != "level"}
    sims = ix.model.similarity([query], [s.text for s in sentences], **opts)[0]  # (S,)
    best = sentences[int(sims.argmax())]
    return best.start, best.end
