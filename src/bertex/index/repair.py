"""What `bertex index repair` can read back of a damaged embedded index.

The manifest names the segments; when it is missing or unreadable, its backup copy does (written
beside it at every commit), and without that, the newest readable segment's own copy of its
commit's manifest (older when a later commit wrote no segment). Every named segment that
reads back is kept; the rows of one that does not are lost from the index (counted, and named
in the message), and a rebuild with the same `bertex index build` command adds them again
(documents already present are skipped).
The graph is always rebuilt from the rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import IndexCorruptError
from . import files, segments
from .store_rows import Segment


@dataclass
class Readable:
    manifest: dict[str, Any]
    segs: list[Segment]
    lost_files: list[str] = field(default_factory=list)
    lost_rows: int = 0  # rows the manifest counted in the lost files (format 1 did not count)


def load_for_repair(folder: Path) -> Readable:
    manifest = _manifest(folder)
    dim = int(manifest["provenance"]["dim"])
    found = Readable(manifest, [])
    for s in files.segments_of(manifest):
        try:
            found.segs.append(Segment.read(folder, s["file"], dim))
        except IndexCorruptError:
            found.lost_files.append(s["file"])
            found.lost_rows += int(s.get("rows") or 0)
    return found


def _manifest(folder: Path) -> dict[str, Any]:
    if not folder.is_dir():
        raise IndexCorruptError(f"{folder}: no such index; nothing to repair")
    try:
        return files.read_manifest(folder)
    except IndexCorruptError:
        pass
    try:  # the copy written beside it at every commit (a remove may write no segment)
        backup = json.loads((folder / files.BACKUP).read_text(encoding="utf-8"))
        int(backup["generation"]), backup["provenance"]["dim"]
        return dict(backup)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    for name in files.segment_files(folder):
        try:
            return segments.manifest_in(folder, name)
        except Exception:  # noqa: BLE001 - an unreadable segment: try an older one
            continue
    raise IndexCorruptError(
        f"{folder}: no readable manifest.json or rows-*.parquet file: nothing to repair from; "
        "build the index again from its corpus"
    )
