"""`bertex embed`: texts in, vectors out, for people (default) or machines (--format).

One way in, one way out:
  in   TEXT arguments, '-' (stdin) or --input FILE, read by the corpus source readers;
  out  printed (--format human|json|jsonl), or --out FILE through the one Sink protocol
       (.parquet/.jsonl/.npy/.safetensors, by suffix; bertex.read() reads each back).
       --input with --out is a corpus job: sharded, resumable, bad rows in OUT.errors.jsonl.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ..clock import stage
from ..errors import InputError, OptionError, OutputError
from . import calibration, common, corpus, inputs
from .render import human_results, result_record

FORMATS = ("human", "json", "jsonl", "npy")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "embed",
        help="embed texts and show or write the vectors",
        description="Embed TEXT arguments, a file (--input FILE) or stdin ('-'). Without --out "
        "the vectors are printed (--format); --out FILE writes .parquet, .jsonl, .npy or "
        ".safetensors (by suffix), which bertex.read() reads back; --input with --out is a "
        "resumable corpus job.",
    )
    inputs.add_inputs(p)
    common.add_model(p)
    common.add_embed_options(p)
    p.add_argument(
        "--format", choices=FORMATS, default="human", help="printed output (with --out: its suffix)"
    )
    p.add_argument("-o", "--out", type=Path, help="write a .parquet/.jsonl/.npy/.safetensors file")
    p.add_argument(
        "--preview", type=inputs.non_negative, default=4, help="values shown per vector (human)"
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="print the time spent in each stage (tokenize, plan, forward, pool, report, "
        "output, write) in seconds and microseconds per input, and the CPU of the stages that "
        "are Python's own work, on every path (docs/speed.md)",
    )
    common.add_backend(p)
    calibration.add_options(p)
    inputs.add_source_options(p)
    corpus.add_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    inputs.take_file_flag(args)
    calibration.check(args)
    if args.out is None:
        if args.format == "npy":
            raise OptionError("--out", None, ["a .npy path"], "--format npy writes a file")
        _refuse_file_flags(args)
        return _print(args)
    _check_out(args)
    if args.texts == ["-"] and args.input is None:
        args.input, args.texts = "-", []
    if args.input is not None:
        if args.texts:
            raise InputError("give TEXT arguments or --input, not both")
        return corpus.run(args)
    return _write_small(args)


def _refuse_file_flags(args: argparse.Namespace) -> None:
    """Flags that shape a written file mean nothing when the vectors are printed."""
    given = [
        flag
        for flag, on in (
            ("--keep-text", args.keep_text),
            ("--keep-field", args.keep_field),
            ("--overwrite", args.overwrite),
            ("--engine", args.engine != "local"),
        )
        if on
    ]
    if given:
        raise OptionError(
            "--out", None, ["a .parquet/.jsonl/.npy/.safetensors path"], f"{given[0]} needs --out"
        )


def _check_out(args: argparse.Namespace) -> None:
    """The --out suffix decides the format; a --format that says otherwise is refused."""
    from ..sinks import format_of
    from ..sinks.write import check_target

    fmt = format_of(args.out)
    if args.format not in ("human", fmt):
        raise OptionError(
            "--format",
            args.format,
            [fmt],
            f"--out {args.out} is written as {fmt} (its suffix decides): drop --format, or "
            f"give --out a .{'jsonl' if args.format == 'json' else args.format} name",
        )
    check_target(args.out)


def _embed(args: argparse.Namespace, data: inputs.Inputs, on_error: str) -> tuple[Any, dict]:
    """Embed the inputs; a bad one stops the command naming it (its line for a file), or is
    skipped with a warning under --on-error skip."""
    model = calibration.load(args, calibration.sample(args, data.texts))
    timings: dict[str, float] = {}
    kwargs = common.embed_kwargs(args)
    got = model.embed(data.texts, data.pairs, timings=timings, on_error="collect", **kwargs)
    for e in got.errors:
        if on_error == "fail":
            raise InputError(f"{data.names[e.index]}: {e.reason}")
        print(f"warning: skipped {data.names[e.index]}: {e.reason}", file=sys.stderr)
    if got.results is None:
        raise InputError(f"none of the {len(data.texts)} inputs could be embedded")
    return got.results, timings


def _print(args: argparse.Namespace) -> int:
    data = inputs.read_inputs(args, args.on_error or "fail")
    result, timings = _embed(args, data, args.on_error or "fail")
    items = result if isinstance(result, list) else [result]
    with stage(timings, "write"):
        if args.format == "human":
            text = human_results(result, args.preview)
        elif args.format == "json":
            text = common.dumps(_json_doc(result, items)) + "\n"
        else:
            text = "".join(common.dumps(r) + "\n" for r in _records(result, items))
        emit(text)
    _profile(args, timings, len(items) if isinstance(result, list) else len(result))
    return 0


def _write_small(args: argparse.Namespace) -> int:
    """TEXT arguments to --out: one table through the same Sink as a corpus job's output."""
    from ..config import EmbedOptions
    from ..sinks import format_of
    from ..sinks.final import check_output
    from ..sinks.shards import reports_of, shard_stats, shard_table
    from ..sinks.write import open_sink

    kwargs = common.embed_kwargs(args)
    check_output(format_of(args.out), EmbedOptions.create(**kwargs))
    data = inputs.read_inputs(args, "fail")
    result, timings = _embed(args, data, "fail")
    texts = [t if isinstance(t, str) else " ".join(t) for t in data.texts]
    with stage(timings, "write"):
        table, meta = shard_table(
            data.ids,
            list(range(len(texts))),
            result,
            True,
            texts if args.keep_text else None,
            data.pairs if args.keep_text else None,
        )
        meta["summary"] = {**shard_stats(reports_of(result)), "skipped": 0}
        with open_sink(args.out, meta, len(texts)) as sink:
            sink.write(table)
    print(
        f"wrote {args.out}: {len(texts)} rows, {meta['dims']} dims, {meta['dtype']}, level "
        f"{meta['level']}",
        file=sys.stderr,
    )
    _profile(args, timings, len(texts))
    return 0


def emit(text: str) -> None:
    """Write to stdout; a full disk or a closed device is one line, not a traceback."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the exit-time flush must not fail again
        raise OutputError(f"cannot write to stdout: {e.strerror or e}") from None


def _profile(args: argparse.Namespace, timings: dict[str, float], inputs: int) -> None:
    if args.profile:
        common.print_profile(timings, inputs)


def _records(result: Any, items: list) -> list[dict]:
    if not isinstance(result, list) and result.kind == "sentence":
        return [
            {
                "index": i,
                "text": t,
                "vector": v.tolist(),
                "report": r.to_dict(),
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
