"""Committed shards -> the final output file, streamed shard by shard (bounded memory)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..errors import OptionError, OutputError
from .read import STRUCTURE
from .shards import UNREADABLE, read_shard, shard_rows
from .write import open_sink

SENTENCE_ONLY = ("npy", "safetensors")
T = TypeVar("T")


def check_output(fmt: str, options: Any, keep_fields: Sequence[str] = ()) -> None:
    """Refuse, before any work, what a file output cannot hold."""
    check_level(fmt, options.level)
    if options.attentions:
        raise OptionError(
            "--attentions",
            True,
            [False],
            "attention maps are not written to files (--out); print them with `bertex embed "
            "TEXT --attentions --format jsonl`, or call Model.embed(..., attentions=True)",
        )
    if keep_fields and fmt in SENTENCE_ONLY:
        raise OptionError(
            "output format",
            fmt,
            ["parquet", "jsonl"],
            f"--keep-field needs a table: {fmt} holds only vectors (ids beside them)",
        )
    clash = [f for f in keep_fields if f in STRUCTURE]
    if clash:
        raise OptionError("--keep-field", clash[0], ["a field other than " + ", ".join(STRUCTURE)])


def check_level(fmt: str, level: str) -> None:
    if fmt in SENTENCE_ONLY and level != "sentence":
        raise OptionError(
            "output format",
            fmt,
            ["parquet", "jsonl"],
            f"{fmt} holds one array of sentence vectors; token and word vectors have a length "
            "per document: write .parquet or .jsonl, or use --level sentence",
        )


def finalize(shards: Sequence[Path], out: Path, meta: dict[str, Any]) -> None:
    rows = sum(_read(shard_rows, p) for p in shards)
    with open_sink(out, meta, rows) as sink:
        for path in shards:
            sink.write(_read(read_shard, path))


def _read(read: Callable[[Path], T], path: Path) -> T:
    """A committed shard that cannot be read (damaged on disk) is named, with the way out:
    a resume embeds a missing shard again (jobstate.Workspace.load)."""
    try:
        return read(path)
    except UNREADABLE as e:
        raise OutputError(
            f"cannot read {path}, a shard this job committed ({e}); remove it and run the "
            "same command again: it and the shards after it are embedded again"
        ) from None
