"""The embedded store's files and their one commit protocol.

    INDEX/manifest.json         provenance, generation g, next key, format version
    INDEX/rows-<g>.parquet      key, id, text, start, end, vector, f:<field> ... (the truth)
    INDEX/graph-<g>.usearch     the ANN graph over the same keys (derived: rebuildable)

A change writes generation g+1's two files, each to a temporary name, fsynced, renamed; only
then is the manifest replaced (atomically) to name g+1, and g's files are deleted. A kill -9 at
any moment leaves a manifest naming a complete generation: the old one or the new one.
The Parquet file's schema metadata carries the manifest too, so `repair` can rebuild an index
from the Parquet file alone.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from ..errors import IndexCorruptError
from ..sinks.atomic import fsync_dir, write_bytes_atomic

FORMAT = 1
MANIFEST = "manifest.json"
_GEN = re.compile(r"^rows-(\d+)\.parquet$")


def rows_file(folder: Path, gen: int) -> Path:
    return folder / f"rows-{gen}.parquet"


def graph_file(folder: Path, gen: int) -> Path:
    return folder / f"graph-{gen}.usearch"


def corrupt(folder: Path, what: str) -> IndexCorruptError:
    return IndexCorruptError(
        f"{folder}: {what}. Run `bertex index repair {folder}` (it rebuilds the index from the "
        "newest readable rows-*.parquet file in it), or build the index again"
    )


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not folder.is_dir():
        raise IndexCorruptError(
            f"{folder}: no such index (create one with Index.create or `bertex index build`)"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        int(manifest["generation"])
        manifest["provenance"]
    except FileNotFoundError:
        raise corrupt(folder, f"{MANIFEST} is missing") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise corrupt(folder, f"{MANIFEST} is unreadable ({type(e).__name__}: {e})") from None
    if manifest.get("format", FORMAT) > FORMAT:
        raise IndexCorruptError(
            f"{folder}: index format {manifest['format']} is newer than this bertex reads "
            f"({FORMAT}); upgrade bertex"
        )
    return manifest


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    data = json.dumps(manifest, indent=2, sort_keys=True).encode()
    write_bytes_atomic(folder / MANIFEST, data)


def replace_file(tmp: Path, path: Path) -> None:
    """fsync a finished temporary file and rename it into place."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def sweep(folder: Path, gen: int) -> None:
    """Delete every generation's files but `gen`'s, and temporary files a crash left."""
    keep = {rows_file(folder, gen).name, graph_file(folder, gen).name, MANIFEST}
    for p in folder.iterdir():
        stale = p.name.endswith(".tmp") or _GEN.match(p.name) or p.name.startswith("graph-")
        if stale and p.name not in keep:
            p.unlink(missing_ok=True)


def generations(folder: Path) -> list[int]:
    """The generations whose Parquet file is present, newest first."""
    found = [int(m.group(1)) for p in folder.iterdir() if (m := _GEN.match(p.name))]
    return sorted(found, reverse=True)
