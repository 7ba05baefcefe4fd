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
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from ._version import __version__
from .clock import stage
from .config import EmbedOptions
from .errors import OptionError, OutputError, OutputMismatchError, RowError
from .jobstate import Workspace, check_consumed, locked, refuse_early, refuse_mismatch, rows_digest
from .sinks import beside, format_of
from .sources import Row, SourceSpec, open_rows, resolve_source

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
    device: str = "cpu"  # the device that really runs ("cuda:0", not "auto")
    calibration: str | None = None  # calibrated int8: the sample's SHA-256 (sample_sha256)
    quantizer: dict[str, Any] | None = None  # int8: what decides the graph (int8_identity)


@dataclass(frozen=True)
class ShardTask:
    index: int
    rows: tuple[Row, ...]
    digest: str = ""  # rows_digest of every row up to the end of this shard


@dataclass
class ShardResult:
    index: int
    table: Any  # pyarrow.Table, or None when no row of the shard could be embedded
    meta: dict[str, Any] | None
    errors: list[dict[str, Any]]
    stats: dict[str, int]
    digest: str = ""


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
    rows_resumed: int = 0  # rows (documents and skipped) in the shards resumed from
    documents_resumed: int = 0  # the documents among them
    tokens_resumed: int = 0  # and their tokens
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
    model: Any,
    task: ShardTask,
    options: EmbedOptions,
    keep_text: bool,
    numeric_ids: bool,
    timings: dict[str, float] | None = None,
) -> ShardResult:
    """Embed the good rows of a shard; bad rows become error records, never silent drops.
    `timings`, when given, receives Model.embed's stages and "write" (the shard's table)."""
    from .sinks.shards import reports_of, shard_stats, shard_table

    errors: list[dict[str, Any]] = []
    good: list[Row] = []
    for row in task.rows:
        reason = row.error or ("no text" if row.text is None else None)
        if reason:  # what the text itself lacks, the library says (on_error="collect")
            errors.append(_error(row, reason))
        else:
            good.append(row)
    pairs = [r.pair or "" for r in good] if good and good[0].pair is not None else None
    result = None
    if good:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = model.embed(
                [r.text for r in good], pairs, options=options, on_error="collect", timings=timings
            )
        errors += [_error(good[e.index], e.reason) for e in got.errors]
        result, good = got.results, [good[k] for k in got.kept]
        pairs = [pairs[k] for k in got.kept] if pairs is not None else None
    errors.sort(key=lambda e: e["row"])
    if result is None:
        return ShardResult(task.index, None, None, errors, shard_stats(()), task.digest)
    with stage(timings, "write"):
        table, meta = shard_table(
            [r.id for r in good],
            [r.row for r in good],
            result,
            numeric_ids,
            [r.text or "" for r in good] if keep_text else None,
            pairs if keep_text else None,
            _kept_fields(good),
        )
        stats = shard_stats(reports_of(result))
    return ShardResult(task.index, table, meta, errors, stats, task.digest)


def _kept_fields(rows: list[Row]) -> dict[str, list[str | None]]:
    names = list(rows[0].fields) if rows else []
    return {name: [r.fields.get(name) for r in rows] for name in names}


def _error(row: Row, reason: str) -> dict[str, Any]:
    return {"row": row.row, "id": row.id, "reason": reason}


def local_executor(
    model: Any,
    options: EmbedOptions,
    keep_text: bool,
    numeric_ids: bool,
    timings: dict[str, float] | None = None,
) -> Executor:
    """Shards in order, shard n+1 embedded in a thread while the job writes and commits shard
    n (one shard ahead at most: memory stays bounded, and the commit order is the input's)."""

    def run(tasks: Iterator[ShardTask]) -> Iterator[ShardResult]:
        with ThreadPoolExecutor(1, thread_name_prefix="bertex-shard") as pool:
            ahead: Future[ShardResult] | None = None
            for task in tasks:
                future = pool.submit(
                    embed_shard, model, task, options, keep_text, numeric_ids, timings
                )
                if ahead is not None:
                    yield ahead.result()
                ahead = future
            if ahead is not None:
                yield ahead.result()

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
            "keep_fields": list(src.keep_fields),
            "max_doc_bytes": src.max_doc_bytes,
        },
        "shard_rows": spec.shard_rows,
        "keep_text": spec.keep_text,
        "backend": spec.backend,
        "precision": spec.precision,
        "device": spec.device,
        "output_format": format_of(spec.out),
        **({"calibration": spec.calibration} if spec.calibration else {}),
        **({"quantizer": dict(spec.quantizer)} if spec.quantizer else {}),
    }


def check_resume(
    spec: JobSpec, model_name: str, weights_sha256: str, undecided: Sequence[str] = ()
) -> None:
    """Before the model loads: refuse to resume (or confirm) an OUT recorded with another
    fingerprint, all but the `undecided` fields (those the load decides) compared now."""
    if not spec.overwrite:
        refuse_early(spec.out, fingerprint(spec, model_name, weights_sha256), undecided)


def shard_tasks(
    rows: Iterator[Row], size: int, committed: Sequence[dict[str, Any]] = (), out: Path = Path()
) -> Iterator[ShardTask]:
    """Rows -> shards of `size` rows by row number, each with the running digest of every row
    so far. The committed shards are read again, checked against their recorded digest and
    passed over (so a resume never mixes two different inputs)."""
    digest = ""
    for index in itertools.count():
        chunk = tuple(itertools.islice(rows, size))
        if not chunk and index < len(committed):
            check_consumed(out, index, committed[index].get("input_sha256"), "(ended)")
        if not chunk:
            return
        digest = rows_digest(digest, chunk)
        if index < len(committed):
            check_consumed(out, index, committed[index].get("input_sha256"), digest)
        else:
            yield ShardTask(index, chunk, digest)


def _companions(out: Path) -> list[Path]:
    return [out, beside(out, "ids.jsonl"), beside(out, "meta.json"), errors_path(out)]


def errors_path(out: Path) -> Path:
    return out.with_name(out.name + ".errors.jsonl")


def check_job(spec: JobSpec) -> None:
    """Refuse what a corpus job cannot write, before any work."""
    from .sinks.final import check_output
    from .sinks.write import check_target

    check_output(format_of(spec.out), spec.options, spec.source.keep_fields)
    check_target(spec.out)
    if spec.shard_rows < 1:
        raise OptionError("shard_rows", spec.shard_rows, ["an integer >= 1"])


def run_job(
    spec: JobSpec,
    model_name: str,
    weights_sha256: str,
    executor: Executor,
    on_progress: Callable[[JobSummary], None] | None = None,
    timings: dict[str, float] | None = None,
) -> JobSummary:
    """Run (or resume, or confirm) a corpus job; returns what was done. `timings`, when given,
    receives the seconds spent committing shards ("write")."""
    check_job(spec)
    spec = replace(spec, source=resolve_source(spec.source))
    with locked(spec.out):
        return _run_locked(spec, model_name, weights_sha256, executor, on_progress, timings)


def _run_locked(
    spec: JobSpec,
    model_name: str,
    weights_sha256: str,
    executor: Executor,
    on_progress: Callable[[JobSummary], None] | None,
    timings: dict[str, float] | None = None,
) -> JobSummary:
    start = time.monotonic()
    want = fingerprint(spec, model_name, weights_sha256)
    work = Workspace(spec.out)
    if spec.overwrite:
        work.discard()
        for p in _companions(spec.out):
            p.unlink(missing_ok=True)
    if spec.out.exists():  # complete: OUT is renamed into place only once every shard is in
        return _already_complete(spec.out, want, work)
    manifest = work.load(want)
    summary = JobSummary(str(spec.out), shards_resumed=len(manifest["shards"]))
    for s in manifest["shards"]:
        summary.add(s["stats"], len(s["errors"]))
    summary.shards = len(manifest["shards"])
    summary.rows_resumed = summary.documents + summary.skipped
    summary.documents_resumed = summary.documents
    summary.tokens_resumed = summary.tokens
    tasks = shard_tasks(open_rows(spec.source), spec.shard_rows, manifest["shards"], spec.out)
    for result in executor(tasks):
        if result.errors and spec.on_error == "fail":
            first = result.errors[0]
            raise RowError(first["row"], first["id"], first["reason"])
        with stage(timings, "write"):  # the job's thread, while the next shard embeds
            work.commit(manifest, result)
        summary.add(result.stats, len(result.errors))
        summary.shards += 1
        if on_progress:
            on_progress(summary)
    with stage(timings, "write"):
        _finish(spec, manifest, summary, want, work)
    summary.wall_s = time.monotonic() - start
    return summary


def _already_complete(out: Path, want: dict[str, Any], work: Workspace) -> JobSummary:
    from .errors import SourceError
    from .sinks.read import read_meta

    try:
        meta = read_meta(out)
    except SourceError as e:
        raise OutputMismatchError(
            f"{out} exists and is not an output of this job ({e}); pass --overwrite to replace "
            "it, or choose another --out"
        ) from None
    refuse_mismatch(out, meta.get("job", {}), want)
    work.discard()  # left over when a kill interrupted the final clean-up
    return JobSummary(str(out), already_complete=True, meta=meta, **meta.get("summary", {}))


_COUNTS = ("documents", "tokens", "windowed", "truncated", "unk_count", "unk_chars", "n_chars")


def _finish(
    spec: JobSpec,
    manifest: dict[str, Any],
    summary: JobSummary,
    want: dict[str, Any],
    work: Workspace,
) -> None:
    """The errors file, then the output (renamed into place last), then the clean-up."""
    from .sinks.atomic import write_bytes_atomic
    from .sinks.final import finalize

    errors = [e for s in manifest["shards"] for e in s["errors"]]
    if errors:
        body = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in errors)
        write_bytes_atomic(errors_path(spec.out), body.encode())
        summary.errors_file = str(errors_path(spec.out))
    shard_meta = next((s["meta"] for s in manifest["shards"] if s["meta"]), None)
    if shard_meta is None:
        raise OutputError(_nothing_embedded(spec, errors))
    counts = {k: getattr(summary, k) for k in (*_COUNTS, "skipped")}
    meta = {**shard_meta, "job": want, "summary": counts, "bertex_version": __version__}
    finalize(work.shard_files(manifest), spec.out, meta)
    work.discard()
    summary.meta = meta


def _nothing_embedded(spec: JobSpec, errors: list[dict[str, Any]]) -> str:
    if not errors:
        return f"{spec.source.path} holds no rows; nothing to write"
    shown = "; ".join(f"row {e['row']}: {e['reason']}" for e in errors[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return (
        f"no row of {spec.source.path} could be embedded; nothing to write. {len(errors)} "
        f"rows failed: {shown}{more}; every reason is in {errors_path(spec.out)}"
    )


def summary_dict(summary: JobSummary) -> dict[str, Any]:
    d = asdict(summary)
    d.pop("meta", None)
    d["unk_rate"] = round(summary.unk_rate, 6)
    return d
