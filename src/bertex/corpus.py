"""Corpus jobs: a source streamed in shards of rows, each embedded and committed durably,
then merged into one self-describing output. Resumable after a kill at any point.

    rows ─► shards of `shard_rows` rows ─► executor (embed_shard) ─► commit (file + manifest)
         ─► finalize (one output file, errors file) ─► JobSummary

A shard always holds the same rows (by row number) and is embedded on its own, so a resumed
run computes bit-for-bit what an uninterrupted one would have. Adapters (the CLI, the Ray
engine) call `run_job`; a Ray executor only replaces how shards are embedded.
"""

from __future__ import annotations

import itertools
import json
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ._version import __version__
from .config import EmbedOptions
from .errors import InputError, OptionError, OutputError, OutputMismatchError, RowError
from .sinks import beside, format_of
from .sources import Row, SourceSpec, open_rows
from .tokenize import check_text

MANIFEST_VERSION = 1
OnError = Literal["skip", "fail"]
_PERFORMANCE_ONLY = ("batch_tokens", "max_batch_size")


@dataclass(frozen=True, kw_only=True)
class JobSpec:
    source: SourceSpec
    out: Path
    options: EmbedOptions
    shard_rows: int = 1000
    on_error: OnError = "skip"
    overwrite: bool = False
    keep_text: bool = False
    backend: str = "torch"
    precision: str = "fp32"  # the precision that really runs (after any fallback)


@dataclass(frozen=True)
class ShardTask:
    index: int
    rows: tuple[Row, ...]


@dataclass
class ShardResult:
    index: int
    table: Any  # pyarrow.Table, or None when no row of the shard could be embedded
    meta: dict[str, Any] | None
    errors: list[dict[str, Any]]
    stats: dict[str, int]


@dataclass
class JobSummary:
    out: str
    documents: int = 0
    tokens: int = 0
    windowed: int = 0
    truncated: int = 0
    unk_count: int = 0
    unk_chars: int = 0
    n_chars: int = 0
    skipped: int = 0
    shards: int = 0
    shards_resumed: int = 0
    wall_s: float = 0.0
    errors_file: str | None = None
    already_complete: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def unk_rate(self) -> float:
        return self.unk_chars / self.n_chars if self.n_chars else 0.0

    def add(self, stats: dict[str, int], n_errors: int) -> None:
        for key, value in stats.items():
            setattr(self, key, getattr(self, key) + value)
        self.skipped += n_errors


Executor = Callable[[Iterator[ShardTask]], Iterator[ShardResult]]


# -- embedding one shard (used by every executor) ---------------------------------------------


def embed_shard(
    model: Any, task: ShardTask, options: EmbedOptions, keep_text: bool, numeric_ids: bool
) -> ShardResult:
    """Embed the good rows of a shard; bad rows become error records, never silent drops."""
    from .sinks.shards import shard_stats, shard_table

    errors: list[dict[str, Any]] = []
    good: list[Row] = []
    for row in task.rows:
        reason = (
            row.error
            or _text_problem(row.text)
            or (_text_problem(row.pair) if row.pair is not None else None)
        )
        if reason:
            errors.append(_error(row, reason))
        else:
            good.append(row)
    result = None
    while good:
        pairs = [r.pair or "" for r in good] if good[0].pair is not None else None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = model.embed([r.text for r in good], pairs, options=options)
            break
        except InputError as e:  # one row the tokenizer or the length policy refuses
            if e.index is None:
                raise
            bad = good.pop(e.index)
            errors.append(_error(bad, str(e).split(": ", 1)[-1]))
    errors.sort(key=lambda e: e["row"])
    if result is None:
        return ShardResult(task.index, None, None, errors, shard_stats(()))
    texts = [r.text or "" for r in good] if keep_text else None
    table, meta = shard_table(
        [r.id for r in good],
        [r.row for r in good],
        result,
        numeric_ids,
        texts,
        pairs if keep_text else None,
    )
    reports = result.reports if hasattr(result, "reports") else [r.report for r in result]
    return ShardResult(task.index, table, meta, errors, shard_stats(reports))


def _text_problem(text: str | None) -> str | None:
    if text is None:
        return "no text"
    try:
        check_text(text, 0)
    except InputError as e:
        return str(e).split(": ", 1)[-1]
    if not text.strip():
        return "empty or whitespace-only text"
    return None


def _error(row: Row, reason: str) -> dict[str, Any]:
    return {"row": row.row, "id": row.id, "reason": reason}


def local_executor(
    model: Any, options: EmbedOptions, keep_text: bool, numeric_ids: bool
) -> Executor:
    def run(tasks: Iterator[ShardTask]) -> Iterator[ShardResult]:
        for task in tasks:
            yield embed_shard(model, task, options, keep_text, numeric_ids)

    return run


# -- the job ----------------------------------------------------------------------------------


def fingerprint(spec: JobSpec, model_name: str, weights_sha256: str) -> dict[str, Any]:
    """Everything that changes the output's bytes; a resume must match it exactly."""
    options = {k: v for k, v in spec.options.to_dict().items() if k not in _PERFORMANCE_ONLY}
    if isinstance(options.get("layers"), tuple):
        options["layers"] = list(options["layers"])
    src = spec.source
    return {
        "model": model_name,
        "weights_sha256": weights_sha256,
        "options": options,
        "input": {
            **src.identity(),
            "format": src.resolved_format(),
            "text": src.text_field,
            "id": src.id_field,
            "pair": src.pair_field,
        },
        "shard_rows": spec.shard_rows,
        "keep_text": spec.keep_text,
        "backend": spec.backend,
        "precision": spec.precision,
        "output_format": format_of(spec.out),
    }


def shard_tasks(rows: Iterator[Row], size: int, skip: int) -> Iterator[ShardTask]:
    """Rows -> shards of `size` rows by row number; the first `skip` shards are passed over."""
    for index in itertools.count():
        chunk = tuple(itertools.islice(rows, size))
        if not chunk:
            return
        if index >= skip:
            yield ShardTask(index, chunk)


class Workspace:
    """The `OUT.parts/` folder: committed shard files and the manifest that lists them."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.folder = out.with_name(out.name + ".parts")
        self.manifest_path = self.folder / "manifest.json"

    def load(self, want: dict[str, Any]) -> dict[str, Any]:
        if not self.manifest_path.exists():
            self._mkdir()
            return {"version": MANIFEST_VERSION, "fingerprint": want, "shards": []}
        manifest = json.loads(self.manifest_path.read_text())
        _refuse_mismatch(self.out, manifest["fingerprint"], want)
        keep = {s["file"] for s in manifest["shards"] if s["file"]} | {"manifest.json"}
        for stray in self.folder.iterdir():  # half-written files of a killed run
            if stray.name not in keep:
                stray.unlink()
        return manifest

    def _mkdir(self) -> None:
        from .sinks.atomic import output_error

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise output_error(self.folder, e) from None

    def commit(self, manifest: dict[str, Any], result: ShardResult) -> None:
        import pyarrow.parquet as pq

        from .sinks.atomic import write_atomic, write_bytes_atomic

        name = None
        if result.table is not None:
            name = f"shard-{result.index:06d}.parquet"
            table = result.table
            write_atomic(self.folder / name, lambda f: pq.write_table(table, f, compression="zstd"))
        manifest["shards"].append(
            {
                "index": result.index,
                "file": name,
                "meta": result.meta,
                "errors": result.errors,
                "stats": result.stats,
            }
        )
        write_bytes_atomic(self.manifest_path, json.dumps(manifest).encode())

    def shard_files(self, manifest: dict[str, Any]) -> list[Path]:
        return [self.folder / s["file"] for s in manifest["shards"] if s["file"]]


def _refuse_mismatch(out: Path, have: dict[str, Any], want: dict[str, Any]) -> None:
    if have == want:
        return
    diffs = []
    for key in sorted(set(have) | set(want)):
        a, b = have.get(key), want.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += [
                f"{key}.{k}: {a.get(k)!r} -> {b.get(k)!r}"
                for k in sorted(set(a) | set(b))
                if a.get(k) != b.get(k)
            ]
        elif a != b:
            diffs.append(f"{key}: {a!r} -> {b!r}")
    raise OutputMismatchError(
        f"{out} was started with other options or input ({'; '.join(diffs[:6])}); refusing to "
        "mix vectors. Pass --overwrite to start afresh, or choose another --out"
    )


def _companions(out: Path) -> list[Path]:
    return [out, beside(out, "ids.jsonl"), beside(out, "meta.json"), errors_path(out)]


def errors_path(out: Path) -> Path:
    return out.with_name(out.name + ".errors.jsonl")


def run_job(
    spec: JobSpec,
    model_name: str,
    weights_sha256: str,
    executor: Executor,
    on_progress: Callable[[JobSummary], None] | None = None,
) -> JobSummary:
    """Run (or resume, or confirm) a corpus job; returns what was done."""
    from .sinks.atomic import write_bytes_atomic
    from .sinks.final import check_level, finalize
    from .sinks.read import read_meta

    start = time.monotonic()
    fmt = format_of(spec.out)
    check_level(fmt, spec.options.level)
    if spec.shard_rows < 1:
        raise OptionError("shard_rows", spec.shard_rows, ["an integer >= 1"])
    want = fingerprint(spec, model_name, weights_sha256)
    work = Workspace(spec.out)
    if spec.overwrite:
        shutil.rmtree(work.folder, ignore_errors=True)
        for p in _companions(spec.out):
            p.unlink(missing_ok=True)
    if spec.out.exists() and not work.folder.exists():
        meta = read_meta(spec.out)
        _refuse_mismatch(spec.out, meta.get("job", {}), want)
        return JobSummary(
            str(spec.out), already_complete=True, meta=meta, **meta.get("summary", {})
        )
    manifest = work.load(want)
    summary = JobSummary(str(spec.out), shards_resumed=len(manifest["shards"]))
    for s in manifest["shards"]:
        summary.add(s["stats"], len(s["errors"]))
    summary.shards = len(manifest["shards"])
    rows = open_rows(spec.source)
    tasks = shard_tasks(rows, spec.shard_rows, skip=len(manifest["shards"]))
    for result in executor(tasks):
        if result.errors and spec.on_error == "fail":
            first = result.errors[0]
            raise RowError(first["row"], first["id"], first["reason"])
        work.commit(manifest, result)
        summary.add(result.stats, len(result.errors))
        summary.shards += 1
        if on_progress:
            on_progress(summary)
    shard_meta = next((s["meta"] for s in manifest["shards"] if s["meta"]), None)
    if shard_meta is None:
        raise OutputError(
            f"no row of {spec.source.path} could be embedded; nothing to write "
            f"(see the reasons with --on-error fail)"
        )
    counts = {
        k: getattr(summary, k)
        for k in (
            "documents",
            "tokens",
            "windowed",
            "truncated",
            "unk_count",
            "unk_chars",
            "n_chars",
            "skipped",
        )
    }
    meta = {**shard_meta, "job": want, "summary": counts, "bertex_version": __version__}
    errors = [e for s in manifest["shards"] for e in s["errors"]]
    if errors:
        body = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in errors)
        write_bytes_atomic(errors_path(spec.out), body.encode())
        summary.errors_file = str(errors_path(spec.out))
    finalize(work.shard_files(manifest), spec.out, fmt, meta)
    shutil.rmtree(work.folder)
    summary.wall_s = time.monotonic() - start
    summary.meta = meta
    return summary


def summary_dict(summary: JobSummary) -> dict[str, Any]:
    d = asdict(summary)
    d.pop("meta", None)
    d["unk_rate"] = round(summary.unk_rate, 6)
    return d
