"""`bertex embed --input PATH --out PATH`: the corpus job, with a progress bar and a summary."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..config import EmbedOptions
from . import calibration, common
from .inputs import positive, source_spec


def add_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("corpus jobs (--input FILE --out FILE)")
    g.add_argument("--keep-text", action="store_true", help="store each text beside its vectors")
    g.add_argument(
        "--on-error",
        choices=("skip", "fail"),
        default=None,
        help="bad rows: record them in OUT.errors.jsonl and go on (skip, the default with "
        "--out), or stop at the first (fail, the default without --out)",
    )
    g.add_argument("--overwrite", action="store_true", help="start afresh over an existing --out")
    g.add_argument("--shard-rows", type=positive, default=1000, help="rows per committed shard")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary")
    g.add_argument("--engine", choices=("local", "ray"), default="local")
    g.add_argument("--ray-address", help="an existing Ray cluster (default: start a local one)")
    g.add_argument("--ray-actors", type=int, help="model replicas (default: one per 2 CPUs)")
    g.add_argument("--ray-cpus-per-actor", type=float, default=2.0)
    g.add_argument("--ray-gpus-per-actor", type=float, default=0.0)


def run(args: argparse.Namespace) -> int:
    """The corpus job: --input FILE (or -) to --out FILE, resumable."""
    from ..corpus import JobSpec, check_job, check_resume, local_executor, run_job
    from ..models.source import resolve, weights_sha256
    from ..sources import resolve_source

    kwargs = common.embed_kwargs(args)
    kwargs.pop("is_split_into_words", None)
    options = EmbedOptions.create(**kwargs)
    calibrating = getattr(args, "calibrate", None) is not None
    spec = JobSpec(
        source=source_spec(args, args.input),
        out=Path(args.out),
        options=options,
        shard_rows=args.shard_rows,
        on_error=args.on_error or "skip",
        overwrite=args.overwrite,
        keep_text=args.keep_text,
        backend=args.backend,
        # calibrated int8: fp32 until the gate has said which runs (set after the load)
        precision=_precision(args, calibrating),
        device=_device(args),
    )
    check_job(spec)  # before the model loads
    spec = replace(spec, source=resolve_source(spec.source))
    src = resolve(args.model)
    sha = weights_sha256(src.folder)
    texts = calibration.sample(args) if calibrating else None
    spec = replace(spec, **calibration.job_fields(args, texts, spec.precision))
    # another --calibrate, quantizer or CPU than OUT's: refused now, before minutes of work
    check_resume(spec, src.name, sha, undecided=("precision",) if calibrating else ())
    numeric_ids = spec.source.numeric_ids
    # --profile: the stages of this process (with Ray, the embedding runs in its actors)
    timings: dict[str, float] | None = {} if getattr(args, "profile", False) else None
    if args.engine == "ray":
        from ..distributed.ray_engine import ray_executor

        executor = ray_executor(
            args.model,
            options,
            args.keep_text,
            numeric_ids,
            address=args.ray_address,
            actors=args.ray_actors,
            cpus=args.ray_cpus_per_actor,
            gpus=args.ray_gpus_per_actor,
            backend=args.backend,
            precision=spec.precision,
            device=args.device,
        )
    else:
        model = calibration.load(args, texts)
        record = getattr(model.backend, "quantization", None)
        if record is not None:  # the precision the gate chose (run_job compares it)
            spec = replace(spec, precision=record["precision"])
        executor = local_executor(model, options, args.keep_text, numeric_ids, timings)
    bar = _progress(spec, args.quiet)
    summary = run_job(
        spec, src.name, sha, executor, on_progress=bar.update if bar else None, timings=timings
    )
    if bar:
        bar.close()
    if not args.quiet:
        print(_summary_text(summary), file=sys.stderr)
    if timings is not None:
        rows = summary.documents + summary.skipped - summary.rows_resumed
        idle = f": {args.out} was already complete" if summary.already_complete else ""
        if not rows and not summary.already_complete:  # killed after its last commit
            idle = ": every row was in the shards an earlier run committed"
        common.print_profile(timings, rows, idle)
        if args.engine == "ray" and not summary.already_complete:
            print(
                "profile: the embedding ran in Ray's actors, untimed here; the stages above "
                "are this process's (committing the shards, writing OUT)",
                file=sys.stderr,
            )
    return 0


def _precision(args: argparse.Namespace, calibrating: bool) -> str:
    """The precision that will run, checked before the model loads. Its warning (int8 that
    moves with its batch, bf16 emulated) is said once: by bertex.load when the model loads
    here, by this check when it loads in Ray's actors (whose warnings stay there)."""
    from ..backends.precision import choose
    from ..errors import PrecisionWarning

    with warnings.catch_warnings():
        if args.engine == "local":
            warnings.simplefilter("ignore", PrecisionWarning)
        return choose(args.backend, "fp32" if calibrating else args.precision, _device(args))


def _device(args: argparse.Namespace) -> str:
    from ..backends.precision import device_of

    return device_of(args.device)


class _Bar:
    """tqdm on a terminal: documents/s, tokens/s, and an ETA when the row count is known."""

    def __init__(self, total: int | None) -> None:
        from tqdm import tqdm

        try:
            size = os.get_terminal_size(sys.stderr.fileno())
            width, height = size.columns or 100, size.lines or 24
        except OSError:
            width, height = 100, 24
        # a terminal that reports 0 rows (some ptys) would make tqdm hide the bar
        self.bar = tqdm(total=total, unit="doc", file=sys.stderr, ncols=width, nrows=height)
        self.seen = 0

    def update(self, s: Any) -> None:
        """The job's progress. Rows an earlier run committed are shown done but not counted in
        the rates: they took no time in this run."""
        if not self.seen and s.rows_resumed:
            self.bar.initial = self.bar.n = self.seen = s.rows_resumed
        done = s.documents + s.skipped
        self.bar.update(done - self.seen)
        self.seen = done
        rate = (s.tokens - s.tokens_resumed) / max(self.bar.format_dict["elapsed"], 1e-9)
        self.bar.set_postfix(tokens_s=f"{rate:,.0f}", skipped=s.skipped, refresh=False)

    def close(self) -> None:
        self.bar.close()


def _progress(spec: Any, quiet: bool) -> _Bar | None:
    if quiet or not sys.stderr.isatty():
        return None
    return _Bar(_count_rows(spec.source))


def _count_rows(src: Any) -> int | None:
    """Rows of a source when cheap to know: Parquet metadata, or newlines of a text file."""
    from ..sources import count_hint

    hint = count_hint(src)
    if hint is not None or src.path == "-" or src.resolved_format() not in ("txt", "jsonl"):
        return hint
    n, last = 0, b"\n"
    with open(src.path, "rb") as f:
        while chunk := f.read(1 << 20):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (last != b"\n")


def _summary_text(s: Any) -> str:
    if s.already_complete:
        return (
            f"{s.out} is already complete ({s.documents} documents, {s.skipped} skipped "
            "rows); nothing to do (--overwrite starts afresh)"
        )
    # the rate is this run's: documents an earlier run committed took none of its time
    rate = (s.documents - s.documents_resumed) / s.wall_s if s.wall_s else 0.0
    earlier = f", {s.documents_resumed:,} of them by an earlier run," if s.documents_resumed else ""
    lines = [
        f"embedded {s.documents:,} documents ({s.tokens:,} tokens){earlier} in {s.wall_s:.1f} s: "
        f"{rate:,.1f} documents/s",
        f"windowed {s.windowed:,}, truncated {s.truncated:,}, unknown tokens {s.unk_count:,} "
        f"({100 * s.unk_rate:.2f}% of characters)",
        f"skipped rows {s.skipped:,}" + (f" (reasons in {s.errors_file})" if s.errors_file else ""),
        f"wrote {s.out}: {s.meta.get('dims')} dims, {s.meta.get('dtype')}, level "
        f"{s.meta.get('level')}"
        + (f"; resumed after {s.shards_resumed} committed shards" if s.shards_resumed else ""),
    ]
    return "\n".join(lines)
