"""The on-disk cache (ONNX graphs, converted checkpoints): where it is, and whether to trust it.

A cached graph is code the process runs, so a cache another user can write to is refused, and
every cached file is checked against the SHA-256 recorded when bertex wrote it.

A cached folder is built in a `.build-*` folder beside it (`building`), sealed, and renamed
into place (`place`). A build killed half-way (SIGKILL, power loss) leaves its build folder
behind: the next build in the same place removes it (`sweep`), but never the folder of a
build still running, whose owner holds a lock on the folder's `.owner` file.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from .errors import BertexWarning, UnsafeCacheError

T = TypeVar("T")

SEAL = "sha256.json"
BUILD = ".build-"  # a build folder's name starts so
OWNER = ".owner"  # in a build folder: locked (flock) by the building process for its life
# a build folder with no owner file (an older bertex's, or one made a moment ago) is removed
# only once nothing in it has changed for this long: no build goes a day without writing
ORPHAN_AGE_S = 24 * 3600


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
    fd, tmp = tempfile.mkstemp(prefix=f".{SEAL}.", suffix=".tmp", dir=folder)  # its own
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(record, indent=2, sort_keys=True))
        os.replace(tmp, folder / SEAL)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on `folder` itself (flock) for the block: one process at a time
    adds a file to a placed folder, and its seal with it. The kernel releases it when the
    process dies. FileNotFoundError when there is no folder; where the file system has no
    flock (some NFS mounts), the block runs unlocked."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            pass
        yield
    finally:
        os.close(fd)


@contextmanager
def building(parent: Path, prefix: str = BUILD) -> Iterator[Path]:
    """A fresh `parent/.build-*` folder for one build, removed at the end unless `place` has
    moved it. For the build's life this process holds an exclusive lock on its `.owner` file,
    which the kernel releases when the process dies, however it dies; build folders in
    `parent` whose owner is dead are removed first (`sweep`). Another `prefix` (bertex's own)
    where `parent` is not the cache's: a user's folder may hold `.build-*` folders of others."""
    parent.mkdir(parents=True, exist_ok=True)
    sweep(parent, prefix)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    fd = _own(tmp)
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        os.close(fd)  # after the removal: a sweep never sees this folder unowned


def _own(folder: Path) -> int:
    """Lock folder/.owner (holding this process's PID and host) and return its descriptor.
    subtle: the file is locked before it gets its name, so a sweep that finds `.owner` never
    finds it unlocked while its builder lives (flock follows the file through the rename)."""
    part = folder / f"{OWNER}.part"
    fd = os.open(part, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
    os.replace(part, folder / OWNER)
    return fd


def sweep(parent: Path, prefix: str = BUILD) -> list[Path]:
    """Remove the build folders in `parent` that no live process owns: those whose `.owner`
    lock is free (their builder died), and those without an owner file untouched for
    ORPHAN_AGE_S (left by a bertex that recorded no owner, or killed before it could).
    Returns the folders removed."""
    removed: list[Path] = []
    try:
        entries = sorted(parent.iterdir())  # not glob: `prefix` may hold a user's file name
    except FileNotFoundError:
        return removed
    for folder in entries:
        if folder.name.startswith(prefix) and folder.is_dir() and _abandoned(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _abandoned(folder: Path) -> bool:
    try:
        fd = os.open(folder / OWNER, os.O_RDONLY)
    except FileNotFoundError:  # no owner file: judged by its age
        return _orphaned(folder)
    except OSError:  # unreadable: not ours to judge
        return False
    try:
        host = os.read(fd, 512).decode(errors="replace").split()[1:2]
        if host != [socket.gethostname()]:  # another machine's build: its lock may not reach
            return _orphaned(folder)  # here (a cache on NFS mounted without locks)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held: its builder is alive
        return False
    finally:
        os.close(fd)
    return True


def _orphaned(folder: Path) -> bool:
    """Nothing in `folder` has changed for ORPHAN_AGE_S (False when it is gone: placed)."""
    newest = _newest_change(folder)
    return 0 < newest < time.time() - ORPHAN_AGE_S


def _newest_change(folder: Path) -> float:
    """The latest mtime of `folder` and of everything in it (0 when it is gone)."""
    newest = 0.0
    for base, dirs, files in os.walk(folder):
        for name in [".", *dirs, *files]:
            try:
                newest = max(newest, os.lstat(os.path.join(base, name)).st_mtime)
            except OSError:
                pass
    return newest


def place(tmp: Path, folder: Path) -> None:
    """Rename a finished, sealed folder into place. When another process renamed its copy
    there first (the same key: the same content), theirs is kept and `tmp` removed."""
    (tmp / OWNER).unlink(missing_ok=True)  # the lock stays held on the file until the end
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
