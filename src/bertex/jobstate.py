"""A corpus job's state on disk: the lock on OUT, the OUT.parts workspace and its manifest, and
the checks that make a resume safe.

    OUT.lock            held (flock) while a job writes OUT; holds the job's PID
    OUT.parts/          committed shard files and manifest.json (removed once OUT is complete)

Resume safety: the options, model and input path/size/mtime are compared (the fingerprint),
and the content consumed is compared shard by shard: each committed shard records a running
SHA-256 over every row read so far (`rows_digest`), recomputed on resume, so a file edited in
place (same size, mtime restored) or a different stdin is refused instead of mixed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import OutputLockedError, OutputMismatchError
from .sinks.atomic import output_error

MANIFEST_VERSION = 2


def rows_digest(previous: str, rows: Sequence[Any]) -> str:
    """The running digest after `rows`: sha256(previous digest + these rows' content).

    >>> rows_digest("", [])[:12]
    'e3b0c44298fc'
    """
    h = hashlib.sha256(previous.encode())
    for r in rows:
        h.update(json.dumps([r.row, r.id, r.text, r.pair, r.error, r.fields]).encode())
    return h.hexdigest()


@contextlib.contextmanager
def locked(
    out: Path, hint: str = "choose another --out", wait: float = 0.0, busy: Any = None
) -> Iterator[None]:
    """Hold an exclusive lock on OUT for the job's life. Another holder: wait up to `wait`
    seconds for it, then refuse naming the holder's PID (`busy(holder)` makes the error, when
    given; else an OutputLockedError with `hint`)."""
    path = out.with_name(out.name + ".lock")
    deadline = time.monotonic() + wait
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise output_error(out, e) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            if time.monotonic() < deadline:
                time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
                continue
            if busy is not None:
                raise busy(holder) from None
            raise OutputLockedError(
                f"{out} is being written by another bertex job (PID {holder}); wait for it "
                f"to finish, or {hint}"
            ) from None
        if _same_file(fd, path):
            break
        os.close(fd)  # the holder removed the lock file between our open and our lock
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


class Workspace:
    """The `OUT.parts/` folder: committed shard files and the manifest that lists them."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.folder = out.with_name(out.name + ".parts")
        self.manifest_path = self.folder / "manifest.json"

    def load(self, want: dict[str, Any]) -> dict[str, Any]:
        if not self.manifest_path.exists():
            self._mkdir()
            return {"version": MANIFEST_VERSION, "fingerprint": want, "shards": []}
        manifest = json.loads(self.manifest_path.read_text())
        refuse_mismatch(self.out, manifest["fingerprint"], want)
        self._drop_unreadable(manifest)
        keep = {s["file"] for s in manifest["shards"] if s["file"]} | {"manifest.json"}
        for stray in self.folder.iterdir():  # half-written files of a killed run
            if stray.name not in keep:
                stray.unlink()
        return manifest

    def _drop_unreadable(self, manifest: dict[str, Any]) -> None:
        """A committed shard whose file is gone or unreadable (removed, copied in part,
        damaged on disk) is embedded again, with every shard after it: a resume passes over
        the committed shards by their place, so they must stay the first ones in order."""
        from .errors import BertexWarning
        from .sinks.shards import UNREADABLE, shard_rows

        shards = manifest["shards"]
        for k, s in enumerate(shards):
            try:
                if s["file"]:
                    shard_rows(self.folder / s["file"])
            except UNREADABLE as e:
                again = (
                    f"shard {k} is" if k == len(shards) - 1 else f"shards {k}-{len(shards) - 1} are"
                )
                warnings.warn(
                    f"{self.folder / s['file']} cannot be read ({e}): {again} embedded again",
                    BertexWarning,
                    stacklevel=3,
                )
                del shards[k:]
                return

    def _mkdir(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise output_error(self.folder, e) from None

    def commit(self, manifest: dict[str, Any], result: Any) -> None:
        from .sinks.atomic import write_atomic, write_bytes_atomic
        from .sinks.shards import write_shard

        name = None
        if result.table is not None:
            name = f"shard-{result.index:06d}.arrow"
            table = result.table
            write_atomic(self.folder / name, lambda f: write_shard(table, f))
        manifest["shards"].append(
            {
                "index": result.index,
                "file": name,
                "meta": result.meta,
                "errors": result.errors,
                "stats": result.stats,
                "input_sha256": result.digest,
            }
        )
        write_bytes_atomic(self.manifest_path, json.dumps(manifest).encode())

    def shard_files(self, manifest: dict[str, Any]) -> list[Path]:
        return [self.folder / s["file"] for s in manifest["shards"] if s["file"]]

    def discard(self) -> None:
        """Remove the workspace (idempotent: a kill half-way leaves a folder the next run
        removes, since OUT itself is complete once it exists)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def check_consumed(out: Path, index: int, have: str | None, digest: str) -> None:
    """A committed shard's rows must read the same on resume."""
    if have is not None and have != digest:
        raise OutputMismatchError(
            f"{out}: the input changed since shard {index} was committed (its rows read "
            "differently now: another stdin, or the file was edited); refusing to mix vectors. "
            "Pass --overwrite to start afresh, or choose another --out"
        )


def recorded(out: Path) -> dict[str, Any] | None:
    """The fingerprint an earlier run of this job recorded: the complete OUT's, else its
    workspace manifest's; None when there is none, or when OUT is not an output of bertex's
    (the job itself says so, under its lock)."""
    from .errors import SourceError
    from .sinks.read import read_meta

    if out.exists():
        try:
            return read_meta(out).get("job")
        except SourceError:
            return None
    try:
        return json.loads(Workspace(out).manifest_path.read_text())["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def refuse_early(out: Path, want: dict[str, Any], undecided: Sequence[str] = ()) -> None:
    """Before the model loads: a job OUT recorded with other options or input is refused now,
    not after minutes of loading and quantizing. `undecided` names the fields only the load
    decides (calibrated int8's precision: after its gate); the job compares them, and every
    other field again, under its lock."""
    have = recorded(out)
    if have is not None:
        drop = set(undecided)
        refuse_mismatch(
            out,
            {k: v for k, v in have.items() if k not in drop},
            {k: v for k, v in want.items() if k not in drop},
        )


def refuse_mismatch(out: Path, have: dict[str, Any], want: dict[str, Any]) -> None:
    if have == want:
        return
    diffs = []
    for key in sorted(set(have) | set(want)):
        a, b = have.get(key), want.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += [
                f"{key}.{k}: {a.get(k)!r} -> {b.get(k)!r}"
                for k in sorted(set(a) | set(b))
                if a.get(k) != b.get(k)
            ]
        elif a != b:
            diffs.append(f"{key}: {a!r} -> {b!r}")
    why = ""
    if any(d.startswith("quantizer") for d in diffs):
        why = (
            " (an int8 graph depends on the quantizer's version and on the CPU's int8 "
            "instructions: resume where the job started, with the same versions)"
        )
    raise OutputMismatchError(
        f"{out} was started with other options or input ({'; '.join(diffs[:6])}){why}; "
        "refusing to mix vectors. Pass --overwrite to start afresh, or choose another --out"
    )
