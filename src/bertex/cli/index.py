"""`bertex index build|add|remove|info|repair`: make and keep a search index.

    bertex index build ix --input corpus.jsonl --field lang     # embed, in committed batches
    bertex index build ix --from vectors.parquet                # reuse a corpus output
    bertex index info ix

A build commits every --batch-rows rows; run the same command again after a crash (kill -9)
and it goes on: documents already in the index are skipped, none is embedded twice. Bad rows
go to INDEX.errors.jsonl (beside the index), as a corpus job records them, and are skipped.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from ..config import INDEX_WAIT_S
from . import common
from .inputs import positive, source_spec


def add_parser(sub: Any) -> None:
    p = sub.add_parser("index", help="build and keep a search index (see `bertex search`)")
    verbs = p.add_subparsers(dest="verb", required=True, parser_class=type(p))
    for verb, text in (
        ("build", "create an index (or resume a build) from a corpus"),
        ("add", "add a corpus to an existing index"),
    ):
        v = verbs.add_parser(verb, help=text)
        v.add_argument("index", help="an index folder, or postgresql://... ")
        src = v.add_mutually_exclusive_group(required=True)
        src.add_argument("--input", help="corpus: .txt, .jsonl, .csv, .tsv or .parquet")
        src.add_argument(
            "--from", dest="vectors", help="a bertex output (vectors, no re-embedding)"
        )
        v.add_argument(
            "--text-field",
            default="text",
            help="the text's field (jsonl/csv/parquet; default text)",
        )
        v.add_argument(
            "--id-field", help="the id's field (default: a field named id, else the row number)"
        )
        v.add_argument(
            "--field",
            action="append",
            dest="keep_field",
            default=[],
            help="a field to keep for filtering (repeatable): --field lang",
        )
        v.add_argument(
            "--split",
            choices=("sentence", "window"),
            help="one vector per sentence or per model window (QA retrieval)",
        )
        v.add_argument(
            "--replace",
            action="store_true",
            help="replace documents whose id "
            "is already in the index (default: skip them, so a build resumes)",
        )
        v.add_argument(
            "--batch-rows", type=positive, default=256, help="documents per commit (default 256)"
        )
        v.add_argument("-q", "--quiet", action="store_true", help="no summary line")
        _add_wait(v)
        common.add_model(v)
        common.add_backend(v)
        v.add_argument(
            "--pooling", choices=common.choices_of("pooling"), help="default: the model's own"
        )
        v.add_argument("--layers", help="Hugging Face numbering: -1 last (default)")
        v.add_argument(
            "--normalize",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="unit-length vectors (default: the model's own)",
        )
        v.set_defaults(run=run_build, create=verb == "build")
    rm = verbs.add_parser("remove", help="remove documents by id")
    rm.add_argument("index")
    rm.add_argument("ids", nargs="+")
    _add_wait(rm)
    rm.set_defaults(run=run_remove)
    info = verbs.add_parser("info", help="rows, fields, model provenance, disk size")
    info.add_argument("index")
    info.add_argument("--format", choices=("human", "json"), default="human")
    info.set_defaults(run=run_info)
    rep = verbs.add_parser(
        "repair",
        help="rebuild a damaged index from its Parquet rows (PostgreSQL: count its rows again)",
    )
    rep.add_argument("index")
    _add_wait(rep)
    rep.set_defaults(run=run_repair)


def _add_wait(p: Any) -> None:
    help = "wait this long for another process writing the same (embedded) index, then say so"
    p.add_argument("--wait", type=float, default=INDEX_WAIT_S, metavar="SECONDS", help=help)


def run_build(args: argparse.Namespace) -> int:
    from ..errors import OutputError
    from ..index import Index

    if args.vectors:
        return _from_vectors(args)
    opts = {k: getattr(args, k) for k in _EMBED_OPTIONS if getattr(args, k) is not None}
    created = args.create and not _exists(args.index)
    model = _model(args)
    ix = None
    if created:
        spec = _source(args)  # a bad --input is refused before an index is made
        try:
            ix = Index.create(args.index, model=model, wait=args.wait, **opts)
        except OutputError:
            if not _exists(args.index):
                raise
            created = False  # another build made it meanwhile: this one goes on as a resume
    if ix is None:
        ix = Index.open(args.index, model=model, wait=args.wait)  # held until the close
        _same_options(ix, args, opts)
        spec = _source(args)
    with ix:  # close: the graph is saved (built: PostgreSQL) with every row in it
        if args.create:  # a build: PostgreSQL builds its graph once, at the close (a new index)
            ix.store.defer_graph(start=created)
        done = _embed_corpus(ix, args, spec)
        total = len(ix)  # asked while open (a PostgreSQL index answers through its connection)
    _say(
        args,
        f"{done.added} documents added, {done.bad} bad rows"
        + (f" (see {_errors_path(args.index)})" if done.bad else "")
        + (f", {done.skipped} already in the index (skipped)" if done.skipped else "")
        + f"; {total} in the index",
    )
    return 0


@dataclass
class _Done:
    added: int = 0
    bad: int = 0
    skipped: int = 0  # ids a previous (killed) run committed: not embedded twice


_EMBED_OPTIONS = ("pooling", "layers", "normalize")


def _source(args: argparse.Namespace) -> Any:
    """The corpus, checked: it exists, and a CSV or Parquet file has the fields named."""
    from ..errors import SourceError
    from ..sources import resolve_source, tables

    spec = resolve_source(source_spec(args, args.input))
    fmt = spec.resolved_format()
    have = tables.field_names(Path(spec.path), fmt) if spec.path != "-" else []
    if fmt in ("csv", "tsv", "parquet") and have:  # [] when unreadable: the reader says why
        for flag, name in [("--text-field", spec.text_field)] + [
            ("--field", f) for f in spec.keep_fields
        ]:
            if name not in have:
                raise SourceError(
                    f"{spec.path}: no field {name!r} ({flag}); its fields: {', '.join(have)}"
                )
    return spec


def _same_options(ix: Any, args: argparse.Namespace, opts: dict[str, Any]) -> None:
    """A build run again (to resume) embeds as the first run did; other options would leave
    the index half one way, half the other: refused, naming what differs."""
    from ..errors import OptionError

    if opts:  # the vectors these options give must be the index's
        ix.check_options(**opts)
    if args.create and args.replace:  # every document of the corpus is embedded again
        ix.store.manifest["split"] = args.split or "none"  # kept by the first commit
    if not args.create and len(ix):  # index add: split and fielded as the index's documents
        args.split = args.split or (None if ix.split in (None, "none") else ix.split)
        if not args.keep_field and source_spec(args, args.input).resolved_format() != "txt":
            args.keep_field = list(ix.store.field_names)
    if args.replace or not len(ix):
        return
    again = "add --replace to embed every document again" if args.create else "build a new one"
    split = args.split or "none"
    if ix.split is not None and split != ix.split:
        raise OptionError(
            "--split",
            split,
            [ix.split],
            f"this index was built with --split {ix.split}; {again}",
        )
    fields = sorted(args.keep_field)
    if fields != sorted(ix.store.field_names) and (args.create or args.keep_field):
        have = ", ".join(sorted(ix.store.field_names))
        raise OptionError(
            "--field",
            ", ".join(fields) or "none",
            [f"{have} (all of them)" if have else "none"],
            "the documents in the index have the fields of its first build (a plain-text "
            f"input has none); {again}",
        )


_NO_EMPTY = (
    "no one could ask for that document by its id: give every row a non-empty id (documents "
    "before it are committed; run the same command again after the fix)"
)


def _embed_corpus(ix: Any, args: argparse.Namespace, spec: Any) -> _Done:
    from ..errors import SourceError
    from ..sources import open_rows

    errors_out = _errors_path(args.index)
    done = _Done()
    first_row: dict[str, int] = {}  # id -> its first row in this corpus
    with errors_out.open("w", encoding="utf-8") as log:
        rows = open_rows(spec)
        while batch := list(islice(rows, args.batch_rows)):
            done.bad += sum(_log(log, r.row, r.id, r.error) for r in batch if r.error is not None)
            good = []
            for r in (r for r in batch if r.error is None):
                key = str(r.id)
                if not key.strip():
                    raise SourceError(f"{spec.path}, row {r.row + 1}: the id is empty; {_NO_EMPTY}")
                if key in first_row:  # a repeated id would replace or hide a text
                    why = f"id {key!r} repeats row {first_row[key]}'s; ids must be unique"
                    done.bad += _log(log, r.row, r.id, why)
                else:
                    first_row[key] = r.row
                    good.append(r)
            if not args.replace:  # resume: what a killed run committed is not redone
                present = set(ix.store.has_ids([str(r.id) for r in good]))
                done.skipped += len(present)
                good = [r for r in good if str(r.id) not in present]
            if not good:
                continue
            fields = {k: [r.fields.get(k) for r in good] for k in spec.keep_fields}
            res = ix.add(
                [r.text for r in good],
                ids=[r.id for r in good],
                fields=fields,
                split=args.split,
                replace=args.replace,
                on_error="collect",
            )
            done.bad += sum(
                _log(log, good[e.index].row, good[e.index].id, e.reason) for e in res.errors
            )
            done.added += res.documents
    if done.bad == 0:
        errors_out.unlink(missing_ok=True)
    return done


def _from_vectors(args: argparse.Namespace) -> int:
    import bertex

    from ..errors import OptionError
    from ..index import Index

    unused = [
        f"--{k.replace('_', '-')}"
        for k in (*_EMBED_OPTIONS, "split")
        if getattr(args, k) is not None
    ]
    unused += ["--field"] * bool(args.keep_field) + ["--model"] * args.model_given
    if unused:  # an option that would be silently ignored is refused
        raise OptionError(
            "--from",
            f"with {' '.join(unused)}",
            ["--from alone (with --replace, --batch-rows, -q)", "--input, to embed again"],
            "--from adds a bertex output's vectors, texts and fields as they were made",
        )
    added = total = 0
    ix, done = None, False
    try:
        for part in bertex.read(args.vectors, batch_rows=args.batch_rows):
            if ix is None:
                exists = _exists(args.index) or not args.create  # add: the index must exist
                ix = (
                    Index.open(args.index, wait=args.wait)
                    if exists
                    else Index.create(args.index, like=part, wait=args.wait)
                )
                if args.create:  # as run_build's
                    ix.store.defer_graph(start=not exists)
            ids = [str(i) for i in part.ids]
            present = [] if args.replace else ix.store.has_ids(ids)
            if present:
                keep = [i for i, x in enumerate(ids) if x not in set(present)]
                part = _subset(part, keep)
            if len(part):
                added += ix.add(part, replace=args.replace).documents
        total = len(ix) if ix is not None else 0
        done = True
    finally:
        if ix is not None:
            ix.store.close(finish=done)  # stopped by an error: a deferred graph waits
    _say(args, f"{added} documents added; {total} in the index")
    return 0


def _subset(stored: Any, keep: list[int]) -> Any:
    from dataclasses import replace

    return replace(
        stored,
        ids=[stored.ids[i] for i in keep],
        vectors=stored.vectors[keep],
        texts=None if stored.texts is None else [stored.texts[i] for i in keep],
        fields={k: [v[i] for i in keep] for k, v in stored.fields.items()},
    )


def run_remove(args: argparse.Namespace) -> int:
    from ..index import Index

    with Index.open(args.index, wait=args.wait) as ix:
        absent = [i for i in dict.fromkeys(args.ids) if i not in set(ix.store.has_ids(args.ids))]
        n = ix.remove(args.ids)
    print(f"{n} documents removed")
    if absent:
        shown = ", ".join(map(repr, absent[:5])) + (" ..." if len(absent) > 5 else "")
        print(f"{len(absent)} ids were not in the index: {shown}", file=sys.stderr)
    return 0


def run_info(args: argparse.Namespace) -> int:
    from ..index import Index

    with Index.open(args.index) as ix:
        data = ix.info()
    if args.format == "json":
        print(common.dumps(data))
        return 0
    prov = data.pop("provenance")
    for key, value in {**data, **prov}.items():
        print(f"{key:<16}  {value}")
    return 0


def run_repair(args: argparse.Namespace) -> int:
    from ..index import Index

    with Index.repair(args.index, wait=args.wait) as ix:
        print(f"repaired: {len(ix)} documents, {ix.info()['rows']} rows")
        lost = ix.store.lost
    if lost is not None and lost.lost_files:
        rows = f"{lost.lost_rows} rows" if lost.lost_rows else "their rows"
        print(
            f"{', '.join(lost.lost_files)} could not be read: {rows} left the index. Run the "
            "same `bertex index build` again to add them back (documents present are skipped)",
            file=sys.stderr,
        )
    return 0


def _model(args: argparse.Namespace) -> Any:
    from ..loader import load

    return load(
        args.model,
        backend=args.backend,
        precision=args.precision,
        device=args.device,
        forward_timeout=getattr(args, "forward_timeout", None),
    )


def _exists(path: str) -> bool:
    if path.startswith(("postgresql://", "postgres://")):
        from ..index.postgres import PostgresStore

        return PostgresStore.exists(path)
    return (Path(path) / "manifest.json").exists()


def _errors_path(index: str) -> Path:
    if index.startswith(("postgresql://", "postgres://")):  # one report per table
        from ..index.postgres import split_url

        return Path(f"{split_url(index)[1]}.errors.jsonl")
    return Path(index.rstrip("/") + ".errors.jsonl")


def _log(log: Any, row: int, row_id: Any, reason: str) -> int:
    log.write(common.dumps({"row": row, "id": row_id, "reason": reason}) + "\n")
    log.flush()
    return 1


def _say(args: argparse.Namespace, line: str) -> None:
    if not getattr(args, "quiet", False):
        print(line, file=sys.stderr)
