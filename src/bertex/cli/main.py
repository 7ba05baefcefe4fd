"""Entry point: parse, dispatch, and map bertex's exception tree to exit codes, once.

Exit codes: 0 success, 2 a usage error, bad input or an unusable model (a one-line message,
never a traceback), 1 an unexpected failure (a bug: the traceback is shown).
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

from .._version import __version__
from ..errors import BertexError, BertexWarning, ForwardTimeoutError
from . import analysis, common, convert, embed, heads, index, info, search, serve, tokens, tune, viz
from . import fill as fill_cmd
from . import tasks as task_commands


class _Parser(argparse.ArgumentParser):
    """One line, exit 2, as for every user mistake; it names the command's own --help and
    a misspelled option's closest valid one."""

    argv: Sequence[str] = ()  # what main() parses, for the hints

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_defaults(_parser=self)  # the deepest command's parser wins

    def error(self, message: str) -> NoReturn:
        command = re.match(r"argument command: invalid choice: '([^']*)'", message)
        if command:
            self.exit(2, f"bertex: error: {_command_pointer(command.group(1), self)}\n")
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


SCOPE = "docs/scope.md (what bertex does not do, and where to go)"
TUNE = "`bertex tune` trains the encoder itself (pairs, simcse, mlm, classify, tag, qa)"
# names users bring from other tools -> where bertex does it (or the scope page)
POINTERS = {
    "finetune": TUNE,
    "fine-tune": TUNE,
    "fine_tune": TUNE,
    "fill-mask": "`bertex fill` fills [MASK] tokens with the model's masked-language head",
    "fill_mask": "`bertex fill` fills [MASK] tokens with the model's masked-language head",
    "encode": "`bertex embed` embeds texts (sentence vectors by default)",
    "generate": "bertex is an encoder toolkit and does not generate text: use a decoder "
    "model (a causal LM, e.g. transformers' text-generation pipeline); see " + SCOPE,
    "translate": "bertex does not translate: use a translation model (e.g. Marian or NLLB "
    "through transformers' translation pipeline); for cross-lingual search embed with a "
    "multilingual checkpoint; see " + SCOPE,
}


def _command_pointer(name: str, parser: argparse.ArgumentParser) -> str:
    """`bertex NAME` that does not exist: where that is done, or the closest command."""
    if name.lower() in POINTERS:
        return f"there is no `bertex {name}`: {POINTERS[name.lower()]}"
    commands = [
        c for a in parser._actions if isinstance(a, argparse._SubParsersAction) for c in a.choices
    ]
    close = difflib.get_close_matches(name, commands, n=1, cutoff=0.6)
    hint = f"did you mean `bertex {close[0]}`? " if close else ""
    return (
        f"unknown command {name!r}: {hint}choose from {', '.join(commands)} (see `bertex --help`)"
    )


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
    task_commands.add_parser(sub)  # bertex answer
    analysis.add_parser(sub)
    heads.add_parser(sub)
    tune.add_parser(sub)
    viz.add_parser(sub)
    fill_cmd.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The `bertex` command. `argv` None: run as the command itself, so the process is its
    own (cli/calibration.py then freezes what loading the model made for the garbage
    collector); a caller passing argv keeps its process as it was."""
    parser = build_parser()
    _Parser.argv = list(sys.argv[1:] if argv is None else argv)
    args, extra = parser.parse_known_args(argv)
    if extra:  # told by the command that was given, not the top level
        args._parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.own_process = argv is None
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
