"""The embedded store's files and their one commit protocol.

    INDEX/manifest.json            provenance, generation g, next key, segments, graph, format
    INDEX/rows-<g>[-<j>].parquet   segments: key, id, text, start, end, vector, f:<field> ...
                                   (the truth; keys ascend across the segments in order)
    INDEX/graph-<g>.usearch        the ANN graph over every row with key < graph.next_key
                                   (derived: rebuildable, and caught up on open)

An add writes one new segment (its rows, merged with the small segments before it, so a build
of N rows keeps O(log N) segments and rewrites each row O(log N) times, never the whole index per
commit); a remove rewrites only the segments that held the removed rows. Each file is written to
a temporary name, fsynced, renamed; only then is the manifest replaced (atomically) to name the
new set, and files it no longer names are deleted. A kill -9 at any moment leaves a manifest
naming complete files: the old set or the new one. Every segment's schema metadata carries the
manifest of its commit, so `repair` can rebuild an index whose manifest is lost.

Format 1 (bertex before segments) kept one rows-<g>.parquet and graph-<g>.usearch per
generation; it opens as one segment and a graph covering every row.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from ..errors import IndexCorruptError, OutputError
from ..sinks.atomic import fsync_dir, write_bytes_atomic
from .provenance import Provenance

FORMAT = 2
MANIFEST = "manifest.json"
_SEGMENT = re.compile(r"^rows-(\d+)(?:-(\d+))?\.parquet$")


def segment_name(gen: int, j: int = 0) -> str:
    return f"rows-{gen}.parquet" if j == 0 else f"rows-{gen}-{j}.parquet"


def graph_name(gen: int) -> str:
    return f"graph-{gen}.usearch"


def segments_of(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """[{"file": name, "rows": n}, ...] in key order (format 1: its one rows file)."""
    if "segments" in manifest:
        return [dict(s) for s in manifest["segments"]]
    return [{"file": segment_name(int(manifest["generation"])), "rows": None}]


def graph_of(manifest: dict[str, Any]) -> dict[str, Any]:
    """{"file": name, "next_key": k}: the graph holds every row whose key is below k."""
    if "graph" in manifest:
        return dict(manifest["graph"])
    gen = int(manifest["generation"])
    return {"file": graph_name(gen), "next_key": int(manifest["next_key"])}


def corrupt(folder: Path, what: str) -> IndexCorruptError:
    return IndexCorruptError(
        f"{folder}: {what}. Run `bertex index repair {folder}` (it rebuilds the index from the "
        "readable rows-*.parquet files in it), or build the index again"
    )


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if folder.is_file():
        raise IndexCorruptError(
            f"{folder} is a file, not an index (an index is the folder `bertex index build` or "
            "Index.create makes)"
        )
    if not folder.is_dir():
        raise IndexCorruptError(
            f"{folder}: no such index (create one with `bertex index build` or Index.create)"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        int(manifest["generation"])
        Provenance.from_dict(manifest["provenance"])  # every field it needs is there
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


BACKUP = "manifest.backup.json"  # the same, for repair when manifest.json is lost


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    data = json.dumps(manifest, indent=2, sort_keys=True).encode()
    write_bytes_atomic(folder / MANIFEST, data)  # the commit point
    write_bytes_atomic(folder / BACKUP, data)


def replace_file(tmp: Path, path: Path) -> None:
    """fsync a finished temporary file and rename it into place."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def sweep(folder: Path, manifest: dict[str, Any]) -> None:
    """Delete the segment and graph files the manifest does not name, and temporary files."""
    keep = {s["file"] for s in segments_of(manifest)} | {
        graph_of(manifest)["file"],
        MANIFEST,
        BACKUP,
    }
    for p in folder.iterdir():
        ours = p.name.endswith(".tmp") or _SEGMENT.match(p.name) or p.name.startswith("graph-")
        if ours and p.name not in keep:
            p.unlink(missing_ok=True)


def segment_files(folder: Path) -> list[str]:
    """Every segment file present, newest commit first (for repair without a manifest)."""
    found = [
        (int(m.group(1)), int(m.group(2) or 0), p.name)
        for p in folder.iterdir()
        if (m := _SEGMENT.match(p.name))
    ]
    return [name for *_, name in sorted(found, reverse=True)]


def check_new(folder: Path, existed: bool) -> None:
    """A folder a new index may be made in: empty but for the lock, or what a create killed
    before its first commit left (deleted here); else refused, saying what to do."""
    leftovers = [p for p in folder.iterdir() if p.name != "writer.lock"] if existed else []
    if leftovers and all(p.name.endswith(".tmp") for p in leftovers):
        for p in leftovers:  # what a create killed before its first commit left
            p.unlink()
    elif leftovers:
        damaged = any(folder.glob("rows-*.parquet"))
        raise OutputError(
            f"{folder} exists and is not empty; "
            + (
                f"it holds index segments but no manifest: run `bertex index repair {folder}`"
                if damaged
                else "choose another index path or open it with Index.open"
            )
        )
