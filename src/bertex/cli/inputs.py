"""Where the texts come from: TEXT arguments, '-' (stdin) or --input FILE, read by the same
source readers as a corpus job (one way to embed a file). --file is the deprecated spelling."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidTextError


def add_inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to embed; '-' reads stdin")
    p.add_argument(
        "-i",
        "--input",
        metavar="FILE",
        help="a .txt (one text per line), .jsonl, .csv, .tsv or .parquet file, a folder of .txt "
        "files, or - for stdin",
    )
    p.add_argument("-f", "--file", type=Path, help="deprecated: use --input FILE")
    p.add_argument(
        "--pair", action="append", metavar="TEXT", help="the second text of a pair (once per TEXT)"
    )
    p.add_argument(
        "--split-words", action="store_true", help="each TEXT is already split into words at spaces"
    )


def add_source_options(p: argparse.ArgumentParser) -> None:
    from ..sources import DEFAULT_MAX_DOC_BYTES, FORMATS

    g = p.add_argument_group("file inputs (with --input)")
    g.add_argument("--input-format", choices=FORMATS, help="default: from the file's suffix")
    g.add_argument("--text-field", "--text-col", dest="text_field", default="text")
    g.add_argument(
        "--id-field", "--id-col", dest="id_field", help="default: a field named id, if any"
    )
    g.add_argument("--pair-field", "--pair-col", dest="pair_field")
    g.add_argument(
        "--keep-field",
        action="append",
        metavar="NAME",
        help="carry this input field into the output (repeatable; .parquet/.jsonl outputs)",
    )
    g.add_argument(
        "--max-doc-bytes",
        type=non_negative,
        default=DEFAULT_MAX_DOC_BYTES,
        help=f"a longer document is a bad row (default {DEFAULT_MAX_DOC_BYTES:,}; 0: no limit)",
    )


def file_text(path: str, what: str) -> str:
    """The whole text of the file an option names ("-": stdin), decoded as the library decodes
    every user file (sources.files): a bad byte or a UTF-16 file is one line naming the option
    and the file, with the iconv hint."""
    from ..sources.files import utf8_file_lines, utf8_lines

    if path == "-":
        return "".join(utf8_lines(sys.stdin.buffer, f"{what} stdin"))
    return "".join(utf8_file_lines(Path(path), f"{what} {path}"))


def non_negative(value: str) -> int:
    """An argparse type: an integer >= 0."""
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer >= 0")
    return n


def positive(value: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer >= 1")
    return n


def take_file_flag(args: argparse.Namespace) -> None:
    """The deprecated --file F becomes --input F (with its old default, --level token)."""
    if args.file is None:
        return
    if args.file.is_dir():
        raise InvalidTextError(
            f"--file {args.file} is a folder; --file takes one file (use --input "
            f"{args.file} to embed each .txt file in it)"
        )
    if getattr(args, "input", None) is not None:
        raise InvalidTextError("give --input or --file (deprecated), not both")
    print(
        f"warning: --file is deprecated; use --input {args.file} (--input defaults to "
        "--level sentence; add --level token for what --file gave)",
        file=sys.stderr,
    )
    args.input = str(args.file)
    if getattr(args, "explicit_level", "token") is None:
        args.explicit_level = "token"
    args.file = None


def source_spec(args: argparse.Namespace, path: str) -> Any:
    from ..sources import DEFAULT_MAX_DOC_BYTES, SourceSpec

    return SourceSpec(
        path=path,
        format=getattr(args, "input_format", None),
        text_field=getattr(args, "text_field", "text"),
        id_field=getattr(args, "id_field", None),
        pair_field=getattr(args, "pair_field", None),
        keep_fields=tuple(getattr(args, "keep_field", None) or ()),
        max_doc_bytes=getattr(args, "max_doc_bytes", DEFAULT_MAX_DOC_BYTES),
    )


@dataclass
class Inputs:
    """Texts to embed in memory, and how to name each one in a message."""

    texts: list[Any]
    pairs: list[str] | None
    names: list[str]  # "input 0", "line 3" (1-based, files), "row 5" (tables)
    ids: list[Any]

    def drop(self, i: int) -> None:
        for seq in (self.texts, self.pairs, self.names, self.ids):
            if seq is not None:
                del seq[i]


def read_inputs(args: argparse.Namespace, on_error: str = "fail") -> Inputs:
    """TEXT arguments, --input (a file or -) or '-' -> the texts, read in memory.

    A file is read by the same source readers as a corpus job (same line splitting, BOM and
    encoding checks, document size limit). Its bad rows stop the command (on_error "fail")
    or are skipped with a warning ("skip")."""
    take_file_flag(args)
    path = getattr(args, "input", None)
    if path is not None and args.texts:
        raise InvalidTextError("give TEXT arguments or --input, not both")
    if path is None and args.texts == ["-"]:
        path = "-"
    if path is not None:
        inputs = _from_source(source_spec(args, path), on_error)
    elif args.texts:
        n = len(args.texts)
        inputs = Inputs(list(args.texts), args.pair, [f"input {i}" for i in range(n)], [*range(n)])
    else:
        raise InvalidTextError("no input: give TEXT arguments, --input FILE, or '-' for stdin")
    if args.split_words:
        inputs.texts = [t.split(" ") for t in inputs.texts]
    return inputs


def _from_source(spec: Any, on_error: str) -> Inputs:
    from ..sources import open_rows, resolve_source

    spec = resolve_source(spec)
    by_line = spec.resolved_format() in ("txt", "jsonl")
    name = "stdin" if spec.path == "-" else spec.path
    texts: list[Any] = []
    pairs: list[Any] = []
    names: list[str] = []
    ids: list[Any] = []
    for row in open_rows(spec):
        where = f"{name} line {row.row + 1}" if by_line else f"{name} row {row.row}"
        if row.error and on_error == "fail":
            raise InvalidTextError(f"{where}: {row.error}")
        if row.error:
            print(f"warning: skipped {where}: {row.error}", file=sys.stderr)
            continue
        texts.append(row.text)
        pairs.append(row.pair)
        names.append(where)
        ids.append(row.id)
    if not texts:
        raise InvalidTextError(f"{name} holds no rows to embed")
    has_pairs = spec.pair_field is not None
    return Inputs(texts, pairs if has_pairs else None, names, ids)
