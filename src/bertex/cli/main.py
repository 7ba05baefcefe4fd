"""Entry point: parse, dispatch, and map bertex's exception tree to exit codes, once.

Exit codes: 0 success, 2 a usage error, bad input or an unusable model (a one-line message,
never a traceback), 1 an unexpected failure (a bug: the traceback is shown).
"""

from __future__ import annotations

import argparse
import difflib
import sys
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

from .._version import __version__
from ..errors import BertexError, BertexWarning, ForwardTimeoutError
from . import analysis, common, convert, embed, heads, index, info, search, serve, tokens, tune, viz


class _Parser(argparse.ArgumentParser):
    """One line, exit 2, as for every user mistake; it names the command's own --help and
    a misspelled option's closest valid one."""

    argv: Sequence[str] = ()  # what main() parses, for the hints

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_defaults(_parser=self)  # the deepest command's parser wins

    def error(self, message: str) -> NoReturn:
        hints = [h for h in map(self._hint, self.argv) if h]
        if hints and message.startswith("unrecognized arguments"):
            message = "; ".join(hints)
        elif hints:
            message = "; ".join([*hints, message])
        self.exit(2, f"bertex: error: {message} (see `{self.prog} --help`)\n")

    def _hint(self, token: str) -> str:
        name = token.split("=", 1)[0]
        if not name.startswith("--") or name == "--":
            return ""
        options = [o for o in self._option_string_actions if o.startswith("--")]
        if name in options or sum(o.startswith(name) for o in options) == 1:
            return ""  # valid, or an unambiguous abbreviation
        short = f"-{name[2:]}"  # --k for -k
        close = [short] if short in self._option_string_actions else []
        close = close or difflib.get_close_matches(name, options, n=1, cutoff=0.6)
        return f"unknown option {name}" + (f" (did you mean {close[0]}?)" if close else "")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bertex",
        description="Embeddings from BERT-family models: tokens, words, sentences, layers, "
        "attention.",
    )
    parser.add_argument("--version", action="version", version=f"bertex {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    embed.add_parser(sub)
    tokens.add_parser(sub)
    info.add_parser(sub)
    serve.add_parser(sub)
    convert.add_parser(sub)
    index.add_parser(sub)
    search.add_parser(sub)
    analysis.add_parser(sub)
    heads.add_parser(sub)
    tune.add_parser(sub)
    viz.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    _Parser.argv = list(sys.argv[1:] if argv is None else argv)
    args, extra = parser.parse_known_args(argv)
    if extra:  # told by the command that was given, not the top level
        args._parser.error(f"unrecognized arguments: {' '.join(extra)}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BertexWarning)
        try:
            _load_defaults(args)
            code = args.run(args)
        except ForwardTimeoutError as e:  # not the user's mistake: a wedged backend
            _show_warnings(caught)
            print(f"bertex: error: {e}", file=sys.stderr)
            return 1
        except BertexError as e:
            _show_warnings(caught)
            print(f"bertex: error: {e}", file=sys.stderr)
            return 2
        except BrokenPipeError:
            return 0
        except KeyboardInterrupt:
            print("bertex: interrupted", file=sys.stderr)
            return 130
    _show_warnings(caught)
    return int(code or 0)


def _load_defaults(args: argparse.Namespace) -> None:
    """--model, --backend, --precision left out: BERTEX_* variables, then the library's own."""
    if not hasattr(args, "model") or getattr(args, "own_defaults", False):
        return  # no model, or a command whose options object has its own (bertex tune)
    args.model_given = args.model is not None  # before the defaults fill it in
    load = common.load_options(args)
    for name in ("model", "backend", "precision", "device", "forward_timeout"):
        if hasattr(args, name) or name == "model":
            setattr(args, name, getattr(load, name))


def _show_warnings(caught: list[warnings.WarningMessage]) -> None:
    for w in caught:
        if issubclass(w.category, BertexWarning):
            for line in str(w.message).splitlines():
                print(f"warning: {line}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
