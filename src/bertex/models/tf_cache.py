"""A Google TF BERT folder -> a cached Hugging Face folder, converted once.

The cache key hashes what defines the converted model: the .index file (which records every
tensor's dtype, shape, offset, size and crc32c, so it commits to the data shards' content),
bert_config.json, vocab.txt, the shard sizes, the casing chosen and the conversion format.
Hashing the .data shards themselves would read 0.4 to 1.3 GB (Adam slots included) on every
load, which is what the cache is there to avoid; a shard changed after conversion cannot
change the index's crc32c values without changing the key.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import cache
from .._version import __version__
from ..errors import (
    CacheWarning,
    CasingWarning,
    OutputError,
    TFCheckpointError,
    UnsafeCacheError,
)
from .tf_checkpoint import find_prefix
from .tf_convert import config_path, convert, read_config, write_folder
from .vocab import read_vocab, vocab_is_cased

FORMAT = 1  # bump when the converted folder changes: old cache entries are not reused
RECORD = "bertex_conversion.json"  # written last: a folder without it is incomplete
_IN_MEMORY: dict[str, Path] = {}  # key -> temporary folder, when the cache is unwritable


@dataclass(frozen=True)
class Casing:
    """Whether the tokenizer lowercases, and why bertex decided so."""

    lowercase: bool
    reason: str
    ambiguous: bool = False


def casing(folder: Path, cfg: dict[str, Any], vocab: Path) -> Casing:
    """Google's release names say it: uncased_* lowercase; cased_*, multi_cased_* and
    chinese_* do not; the original multilingual_* (uncased) does. Otherwise the vocabulary
    decides (a cased vocabulary has upper-case tokens) and the choice is flagged ambiguous.

    >>> casing(Path("uncased_L-2_H-128_A-2"), {}, Path("vocab.txt")).lowercase
    True
    """
    if isinstance(cfg.get("do_lower_case"), bool):
        return Casing(cfg["do_lower_case"], "bert_config.json sets do_lower_case")
    name = folder.resolve().name
    low = name.lower()
    rules = (
        ("uncased", True, "Google's uncased_* releases lowercase"),
        ("cased", False, "Google's cased_* and multi_cased_* releases keep case"),
        ("chinese", False, "Google's chinese_* release does not lowercase"),
        ("multilingual", True, "Google's original multilingual_* release is uncased"),
    )
    for word, lower, why in rules:
        if word in low:
            return Casing(lower, f"folder name {name!r}: {why}")
    tokens = vocab.read_text(encoding="utf-8", errors="replace").split("\n")  # as BERT reads it
    cased = vocab_is_cased(t.strip() for t in tokens)
    what = "has upper-case tokens" if cased else "has no upper-case tokens"
    return Casing(not cased, f"folder name {name!r} names no casing; the vocabulary {what}", True)


def checked_vocab(folder: Path) -> Path:
    """The folder's vocab.txt, present and usable (UTF-8, not empty, BERT's special tokens)."""
    vocab = folder / "vocab.txt"
    if not vocab.exists():
        raise TFCheckpointError(vocab, "missing: a Google TF BERT folder has its vocab.txt")
    read_vocab(vocab)
    return vocab


def checkpoint_key(prefix: Path, folder: Path, lowercase: bool) -> str:
    digest = hashlib.sha256(f"bertex-tf-{FORMAT}-lower={lowercase}".encode())
    for path in (Path(f"{prefix}.index"), config_path(folder), folder / "vocab.txt"):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for shard in sorted(prefix.parent.glob(f"{prefix.name}.data-*")):
        digest.update(f"{shard.name}:{shard.stat().st_size}\0".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class HFCopy:
    """The converted Hugging Face folder of a TF checkpoint, and where it came from."""

    folder: Path
    origin: str  # the checkpoint folder, its hash, the cache folder, the casing and why
    casing_source: str


def ensure_hf_folder(folder: Path) -> HFCopy | None:
    """A converted copy of a TF checkpoint folder (from the cache when it is there), or None
    when `folder` is not a TF checkpoint folder."""
    prefix = find_prefix(folder)
    if prefix is None:
        return None
    cfg = read_config(folder)
    vocab = checked_vocab(folder)
    case = casing(folder, cfg, vocab)
    key = checkpoint_key(prefix, folder, case.lowercase)
    target = _cached(key) or _convert_into_cache(key, folder, prefix, vocab, case)
    if case.ambiguous:  # after the conversion: a checkpoint refused needs no casing advice
        warnings.warn(
            f"{folder}: lowercase={case.lowercase} ({case.reason}); to choose, add "
            '"do_lower_case": true or false to bert_config.json',
            CasingWarning,
            stacklevel=3,
        )
    origin = (
        f"Google TF checkpoint {folder} (checkpoint sha256 {key[:16]}), converted by bertex "
        f"into {target}; lowercase={case.lowercase}: {case.reason}"
    )
    return HFCopy(target, origin, case.reason)


def _target(key: str) -> Path:
    return cache.root() / "tf" / key[:32]


def _cached(key: str) -> Path | None:
    if key in _IN_MEMORY:
        return _IN_MEMORY[key]
    target = _target(key)
    if not (target / RECORD).exists():
        return None
    try:
        cache.check_private(target, target.parent.parent)  # weights others could swap
    except UnsafeCacheError:
        return None  # converted again below, into a temporary folder, with a warning
    return target


def _convert_into_cache(key: str, folder: Path, prefix: Path, vocab: Path, case: Casing) -> Path:
    """Converted in a build folder beside the target (`cache.building`: the folder of a
    conversion killed half-way is removed by the next one) and renamed into place; when
    another process converting the same checkpoint renamed its copy there first, theirs is
    kept (the same key: the same conversion)."""
    target = _target(key)
    with ExitStack() as stack:
        try:
            cache.check_private(target, target.parent.parent)
            tmp = stack.enter_context(cache.building(target.parent))
        except UnsafeCacheError as e:
            return _convert_in_temp(key, folder, prefix, vocab, case, str(e).split(";")[0])
        except OSError as e:
            why = f"{target.parent}: {e.strerror}"
            return _convert_in_temp(key, folder, prefix, vocab, case, why)
        try:
            save(folder, prefix, vocab, case, key, tmp)
            if target.exists() and not (target / RECORD).exists():
                shutil.rmtree(target)  # an incomplete folder (no record): not bertex's rename
            cache.place(tmp, target)
        except OSError as e:
            if (target / RECORD).exists():  # another process converted it first: use theirs
                return target
            return _convert_in_temp(key, folder, prefix, vocab, case, f"{target}: {e.strerror}")
    return target


def _convert_in_temp(
    key: str, folder: Path, prefix: Path, vocab: Path, case: Casing, why: str
) -> Path:
    """The cache cannot be written or trusted: convert into a temporary folder (in memory
    where /dev/shm exists), removed when the process exits; say the next load converts again."""
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    try:
        tmp = Path(tempfile.mkdtemp(prefix="bertex-tf-", dir=base))
        atexit.register(shutil.rmtree, tmp, True)
        save(folder, prefix, vocab, case, key, tmp)
    except OSError as e:
        raise OutputError(
            f"cannot convert {folder}: neither the cache ({why}) nor a temporary folder "
            f"({e.strerror}) can be written; set BERTEX_CACHE to a writable folder"
        ) from None
    _IN_MEMORY[key] = tmp
    warnings.warn(
        f"cannot use the TF conversion cache ({why}); converted {folder} into a temporary "
        f"folder removed at exit, so the next process converts again. Set BERTEX_CACHE to a "
        "writable folder to keep it",
        CacheWarning,
        stacklevel=4,
    )
    return tmp


def save(folder: Path, prefix: Path, vocab: Path, case: Casing, key: str, dst: Path) -> dict:
    """Convert and write a Hugging Face folder at dst, with the conversion record last."""
    conv = convert(folder, prefix)
    write_folder(conv, vocab, case.lowercase, dst)
    record = {
        "format": "google-tf-checkpoint",
        "source": str(folder.resolve()),
        "checkpoint_sha256": key,
        "lowercase": case.lowercase,
        "casing_reason": case.reason,
        "tensors_loaded": len(conv.tensors),
        "tensors_skipped": conv.skipped,
        "heads_kept": list(conv.heads),
        "task_heads_skipped": list(conv.task_heads),
        "dtype": conv.dtype,
        "bertex_version": __version__,
        "conversion_format": FORMAT,
    }
    (dst / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def convert_to(src: Path, dst: Path, overwrite: bool = False) -> dict[str, Any]:
    """`bertex convert SRC DST`: write SRC (a Google TF BERT folder) as a Hugging Face folder
    at DST, which must not exist (or overwrite=True). Returns the conversion record."""
    prefix = find_prefix(src) if src.is_dir() else None
    if prefix is None:
        raise TFCheckpointError(
            src,
            "is not a Google TF checkpoint folder: expected bert_config.json, "
            "bert_model.ckpt.index, bert_model.ckpt.data-*-of-* and vocab.txt (and no config.json)",
        )
    if dst.exists() and any(dst.iterdir()) and not overwrite:
        raise OutputError(f"{dst} exists and is not empty; choose a new folder or --overwrite")
    cfg = read_config(src)
    vocab = checked_vocab(src)
    case = casing(src, cfg, vocab)
    key = checkpoint_key(prefix, src, case.lowercase)
    # a build folder of bertex's own name beside dst: one left by a killed conversion is
    # removed by the next conversion to dst (never another tool's folder: the name is ours)
    with cache.building(dst.parent, prefix=f".{dst.name}.bertex-build-") as tmp:
        record = save(src, prefix, vocab, case, key, tmp)
        if dst.exists():
            shutil.rmtree(dst)
        cache.place(tmp, dst)
    return record
