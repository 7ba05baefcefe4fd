"""`bertex eval sts` and `bertex probe`: which layer and which pooling knows what."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import common


def add_parser(sub: Any) -> None:
    ev = sub.add_parser("eval", help="score every layer x pooling on a task (sts)")
    tasks = ev.add_subparsers(dest="task", required=True)  # parser class: ev's own
    sts = tasks.add_parser("sts", help="Spearman of cosine similarity per layer x pooling")
    sts.add_argument(
        "file",
        help="pairs with gold scores: CSV/TSV (sentence1, sentence2, "
        "score; header optional) or JSONL with those fields",
    )
    sts.add_argument(
        "--columns",
        default="sentence1,sentence2,score",
        help="the three column names (default: %(default)s)",
    )
    _outputs(sts, "heatmap")
    sts.set_defaults(run=run_sts)

    pr = sub.add_parser("probe", help="linear probes per layer: sentence labels or token tags")
    pr.add_argument("file", help="text,label file (CSV/TSV/JSONL) or, with --tags, CoNLL")
    pr.add_argument("--tags", action="store_true", help="the file is CoNLL token<TAB>tag (BIO)")
    pr.add_argument("--test", default=None, help="a test file instead of k-fold CV")
    pr.add_argument("--folds", type=int, default=5, help="k of k-fold CV (default: 5)")
    pr.add_argument(
        "--pooling", default=None, help="sentence labels: pooling (default: the model's own)"
    )
    pr.add_argument(
        "--limit",
        type=int,
        default=None,
        help="read at most this many rows (CoNLL: tokens, whole sentences)",
    )
    pr.add_argument(
        "--no-control", action="store_true", help="skip the re-initialised control model"
    )
    pr.add_argument("--seed", type=int, default=0)
    pr.add_argument(
        "-q", "--quiet", action="store_true", help="no progress on stderr (bar or stage lines)"
    )
    _outputs(pr, "line plot")
    pr.set_defaults(run=run_probe)


class StageProgress:
    """Progress of a long analysis on stderr: a tqdm bar per stage on a terminal, else one
    line as each stage starts (logs and CI show where a run is, without bar redraws)."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.tty = sys.stderr.isatty()
        self.bar: Any = None
        self.started = time.monotonic()

    def __call__(self, stage: str, total: int) -> Callable[[int], None]:
        self.close()
        if not self.tty:
            elapsed = time.monotonic() - self.started
            print(
                f"bertex {self.command}: {stage} ({total} steps; {elapsed:.0f} s so far)",
                file=sys.stderr,
                flush=True,
            )
            return lambda n: None
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, desc=stage, file=sys.stderr, leave=False)
        return self.bar.update

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _outputs(p: argparse.ArgumentParser, plot: str) -> None:
    common.add_model(p)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--out", default=None, help="write the report as JSON here")
    p.add_argument("--plot", default=None, help=f"write a {plot} PNG here")


def _write(report: dict[str, Any], out: str | None) -> None:
    if out:
        Path(out).write_text(common.dumps(report, indent=1) + "\n")


def run_sts(args: argparse.Namespace) -> int:
    import bertex

    from ..analysis import data, plots, sts

    cols = tuple(c.strip() for c in args.columns.split(","))
    if len(cols) != 3:
        from ..errors import OptionError

        raise OptionError("--columns", args.columns, ["three names: text1,text2,score"])
    pairs = data.read_pairs(args.file, cols)  # type: ignore[arg-type]
    model = bertex.load(args.model)
    report = sts.evaluate_sts(model, pairs, args.batch_size)
    print(_table(report.poolings, report.layers, report.spearman, report.best[:2]))
    pooling, layer, score = report.best
    print(
        f"best: pooling={pooling} layer={layer} spearman={score:.2f} "
        f"({report.n_pairs} pairs, {model.info.name})"
    )
    _write(report.to_dict(), args.out)
    if args.plot:
        plots.heatmap(
            report.spearman,
            report.poolings,
            report.layers,
            f"STS Spearman x100, {model.info.name}, {report.n_pairs} pairs",
            args.plot,
        )
    return 0


def _table(rows: Any, layers: Any, grid: Any, best: tuple[str, int] | None) -> str:
    """Rows x layers, one decimal; the best cell marked with '*'."""
    width = max(len(r) for r in rows)
    lines = [" " * width + "".join(f"{'L' + str(k):>8}" for k in layers)]
    for name, row in zip(rows, grid):
        cells = "".join(
            f"{v:7.1f}" + ("*" if best == (name, k) else " ") for k, v in zip(layers, row)
        )
        lines.append(f"{name:<{width}}{cells}")
    return "\n".join(lines)


def run_probe(args: argparse.Namespace) -> int:
    import bertex

    from ..analysis import plots, probe

    model = bertex.load(args.model)
    progress = None if args.quiet else StageProgress("probe")
    options = probe.ProbeOptions(
        folds=args.folds,
        seed=args.seed,
        control=not args.no_control,
        batch_size=args.batch_size,
        progress=progress,
    )
    try:
        if args.tags:
            report = probe.probe_tags(model, args.file, args.test, args.limit, options)
        else:
            report = probe.probe_labels(
                model, args.file, args.test, args.pooling, args.limit, options
            )
    finally:
        if progress:
            progress.close()
    names = list(report.curves)
    grid = [[100 * v for v in report.curves[n]] for n in names]  # percent
    print(_table(names, report.layers, grid, None))
    for line in report.notes:
        print(line)
    _write(report.to_dict(), args.out)
    if args.plot:
        plots.curves(
            report.layers,
            report.curves,
            "score",
            f"{report.task} probe, {model.info.name}",
            args.plot,
        )
    return 0
