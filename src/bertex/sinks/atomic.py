"""Durable writes: write a temporary file, fsync it, rename it into place, fsync the folder.
A reader (or a resumed job) sees either the old file or the whole new one, never a part."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO

from ..errors import OutputError


def write_atomic(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise output_error(path, e) from None


def write_bytes_atomic(path: Path, data: bytes) -> None:
    write_atomic(path, lambda f: f.write(data))  # type: ignore[arg-type,return-value]


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def output_error(path: Path, e: OSError) -> OutputError:
    if e.errno == errno.ENOSPC:
        why = "the disk is full; free some space"
    elif e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = "permission denied; choose a writable --out"
    elif e.errno in (errno.ENOTDIR, errno.ENOENT):
        why = "its folder does not exist or is not a folder; choose another --out"
    else:
        why = e.strerror or str(e)
    return OutputError(
        f"cannot write {path}: {why}. Committed shards are kept: run the same command again "
        "to resume"
    )
