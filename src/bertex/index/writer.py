"""One writer at a time on an embedded index, and readers that never mistake a commit for damage.

The lock is `writer.lock` in the index folder (an flock, released by the kernel when its holder
dies). A writer may hold it for a whole session (`bertex index build|add` does, from before it
reads the index until its close), so nothing changes between what it read and what it writes;
a second writer waits for it up to `wait` seconds, then is refused with IndexBusyError: "another
process is writing IDX; run again".

A reader takes no lock. A commit writes new files, then the manifest, then deletes the files
the manifest no longer names; a reader that read the old manifest can find one of those gone.
When the manifest's generation has moved on since, that is a commit, not damage: read again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..errors import IndexBusyError, IndexCorruptError
from ..jobstate import locked
from . import files

AFTER = "open the index again after it"  # what a writer locked out can do
_READS = 20  # a reader racing commits: each retry saw a newer generation
T = TypeVar("T")


def lock(folder: Path, wait: float = 0.0) -> contextlib.AbstractContextManager[None]:
    """The writer lock of the index at `folder`, waited for up to `wait` seconds."""

    def busy(holder: str) -> IndexBusyError:
        waited = f", waited {wait:g} s" if wait else ""
        return IndexBusyError(
            f"another process is writing {folder} (PID {holder}{waited}); run again when it "
            "is done (a build run again skips the documents already in the index)"
        )

    return locked(folder / "writer", AFTER, wait, busy)


def hold(folder: Path, wait: float) -> contextlib.ExitStack:
    """The writer lock taken now and kept until the returned stack is closed."""
    stack = contextlib.ExitStack()
    stack.enter_context(lock(folder, wait))
    return stack


def read_consistent(folder: Path, read: Callable[[dict[str, Any]], T]) -> T:
    """read(manifest), read again from the newer manifest while a missing or unreadable file
    turns out to be a commit that happened meanwhile; damage is raised as it is."""
    for _ in range(_READS):
        manifest = files.read_manifest(folder)
        try:
            return read(manifest)
        except IndexCorruptError:
            if _generation(folder) == manifest["generation"]:
                raise  # nothing committed since: the damage is real
    return read(files.read_manifest(folder))


def _generation(folder: Path) -> Any:
    try:
        return files.read_manifest(folder)["generation"]
    except IndexCorruptError:
        return None
