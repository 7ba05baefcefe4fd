"""Sinks: embedding results -> self-describing files, and `read` to get them back.

Every file records its metadata (model, weights hash, level, layers, combine, pooling,
normalize, long-text policy, dims, dtype, bertex version): Parquet in its schema metadata,
JSONL in a first header line, .npy and .safetensors in a `.meta.json` beside them (and in the
safetensors header), with the ids in a `.ids.jsonl` beside them.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import OptionError

FORMATS = ("parquet", "npy", "safetensors", "jsonl")
FORMAT_VERSION = 1


def format_of(path: Path | str) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix in ("parquet", "pq"):
        return "parquet"
    if suffix in FORMATS:
        return suffix
    raise OptionError(
        "output suffix",
        suffix or str(path),
        [f".{f}" for f in FORMATS],
        "the output format follows the --out file's suffix",
    )


def beside(out: Path, what: str) -> Path:
    """The companion files of an .npy/.safetensors output: v.npy -> v.npy.meta.json."""
    return out.with_name(f"{out.name}.{what}")
