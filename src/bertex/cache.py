"""The on-disk cache (ONNX graphs, converted checkpoints): where it is, and whether to trust it.

A cached graph is code the process runs, so a cache another user can write to is refused, and
every cached file is checked against the SHA-256 recorded when bertex wrote it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from .errors import BertexWarning, UnsafeCacheError

T = TypeVar("T")

SEAL = "sha256.json"


def root() -> Path:
    """BERTEX_CACHE, else $XDG_CACHE_HOME/bertex, else ~/.cache/bertex."""
    base = os.environ.get("BERTEX_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "bertex"
    )
    return Path(base)


def check_private(path: Path, top: Path) -> None:
    """Refuse `path` if it, or a folder between it and `top` (included), can be written by
    another user: owned by someone else (other than root), or group/world-writable."""
    me = os.getuid()
    for p in [path, *path.parents]:
        if p.exists():
            st = p.stat()
            if st.st_uid not in (me, 0) or st.st_mode & 0o022:
                raise UnsafeCacheError(p, st.st_uid, st.st_mode & 0o777)
        if p == top:
            return


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def seal(folder: Path, *names: str) -> None:
    """Record the SHA-256 of `names` in folder/sha256.json (merged with what is there)."""
    record = _record(folder)
    record.update({n: digest(folder / n) for n in names})
    tmp = folder / f".{SEAL}.tmp"
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True))
    os.replace(tmp, folder / SEAL)


def place(tmp: Path, folder: Path) -> None:
    """Rename a finished, sealed folder into place. When another process renamed its copy
    there first (the same key: the same content), theirs is kept and `tmp` removed."""
    try:
        os.replace(tmp, folder)
    except OSError:  # ENOTEMPTY/EEXIST: it won the race between our check and our rename
        if not folder.is_dir():
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def intact(folder: Path, name: str) -> bool:
    """True when folder/name matches the hash recorded when it was written."""
    want = _record(folder).get(name)
    return want is not None and (folder / name).exists() and digest(folder / name) == want


def _record(folder: Path) -> dict[str, str]:
    try:
        data = json.loads((folder / SEAL).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def reopen(
    folder: Path, names: Sequence[str], open_: Callable[[Path], T], what: str, when: str
) -> T | None:
    """open_(folder/names[0]) when every file of `names` matches its seal and it opens; None
    when it is not there, or when it is broken: then the folder is removed, with a warning
    (the caller rebuilds it; a cached file is never trusted)."""
    path = folder / names[0]
    if not folder.exists():
        return None
    problem = f"it does not match the SHA-256 recorded {when}"
    if not path.exists():
        record = _record(folder)
        if record and path.name not in record:  # not made yet (int8 beside its sealed fp32)
            return None
        problem = "it is missing from its folder"  # sealed once, or no seal: half removed
    elif all(intact(folder, n) for n in names):
        try:
            return open_(path)
        except Exception as e:  # corrupt: rebuild, do not trust
            problem = f"it cannot be loaded ({type(e).__name__})"
    warnings.warn(f"cached {what} {path}: {problem}; rebuilding it", BertexWarning, stacklevel=4)
    shutil.rmtree(folder, ignore_errors=True)
    return None
