"""The embedded store's rows in memory: one Segment per Parquet segment, and the whole-index
arrays search reads (made on first use after a change, then cached).

A segment holds what search needs of its rows: keys (n,) uint64, ids (n,) object, unit vectors
(n, D) float32 and its labels (an Arrow table: id, text, start, end, f:<field> ...). The float32
vectors themselves stay in the Parquet file; a segment not written yet keeps its whole table in
`pending` until the commit names and writes it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import segments
from .rows import unit


@dataclass(eq=False)
class Segment:
    file: str  # "" until committed
    keys: np.ndarray  # (n,) uint64, ascending
    ids: np.ndarray  # (n,) object
    unit: np.ndarray  # (n, D) float32
    labels: Any  # pa.Table, n rows, no vector column
    pending: Any = None  # the whole pa.Table, until written

    @property
    def n(self) -> int:
        return len(self.keys)

    @classmethod
    def of(cls, table: Any, dim: int, file: str = "", pending: bool = True) -> Segment:
        flat = table["vector"].combine_chunks().flatten().to_numpy(zero_copy_only=False)
        return cls(
            file=file,
            keys=table["key"].to_numpy().astype(np.uint64),
            ids=np.asarray(table["id"].to_pylist(), dtype=object),
            unit=unit(flat.reshape(-1, dim)),  # (n, D)
            labels=table.drop_columns(["vector"]).combine_chunks(),
            pending=table if pending else None,
        )

    @classmethod
    def read(cls, folder: Path, file: str, dim: int) -> Segment:
        return cls.of(segments.read(folder, file), dim, file, pending=False)

    def full(self, folder: Path) -> Any:
        """Its whole table, vectors included."""
        return self.pending if self.pending is not None else segments.read(folder, self.file)


class StoreRows:
    """Every row of an index, as its segments in key order."""

    def __init__(self, dim: int, segs: list[Segment]) -> None:
        self.dim, self.segs = dim, segs
        self.id_set = {i for s in segs for i in s.ids.tolist()}
        self._cache: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def n(self) -> int:
        return sum(s.n for s in self.segs)

    @property
    def field_names(self) -> list[str]:
        names = (c for s in self.segs for c in s.labels.column_names)
        return [c[len(segments.FIELD) :] for c in dict.fromkeys(names) if c.startswith("f:")]

    # -- the whole-index arrays (N rows) -----------------------------------------------------

    @property
    def keys(self) -> np.ndarray:
        return self._joined("keys")  # (N,) uint64

    @property
    def ids(self) -> np.ndarray:
        return self._joined("ids")  # (N,) object

    @property
    def unit(self) -> np.ndarray:
        return self._joined("unit")  # (N, D)

    @property
    def labels(self) -> Any:
        with self._lock:
            return self._joined_labels()

    def _joined_labels(self) -> Any:
        if "labels" not in self._cache:
            tables = [s.labels for s in self.segs]
            empty = segments.empty(self.dim).drop_columns(["vector"])
            self._cache["labels"] = segments.concat(tables or [empty])
        return self._cache["labels"]

    def _joined(self, name: str) -> np.ndarray:
        """One array over every segment; each segment then views its part of it, so the rows
        are held once."""
        found = self._cache.get(name)
        if found is not None:
            return found  # type: ignore[no-any-return]
        with self._lock:  # server threads search at once; one of them joins
            return self._join(name)

    def _join(self, name: str) -> np.ndarray:
        if name not in self._cache:
            if not self.segs:
                shape = {"keys": (0,), "ids": (0,), "unit": (0, self.dim)}[name]
                dtype = {"keys": np.uint64, "ids": object, "unit": np.float32}[name]
                self._cache[name] = np.zeros(shape, dtype)
            else:
                joined = np.concatenate([getattr(s, name) for s in self.segs])
                at = 0
                for s in self.segs:
                    n = s.n
                    setattr(s, name, joined[at : at + n])
                    at += n
                self._cache[name] = joined
        return self._cache[name]

    # -- changes ------------------------------------------------------------------------------

    def append(self, seg: Segment, merged: int) -> None:
        """The newest segment, which replaces the last `merged` segments (it holds their rows)."""
        self.segs = [*self.segs[: len(self.segs) - merged], seg]
        self.id_set.update(seg.ids.tolist())
        self._cache.clear()

    def drop(self, folder: Path, ids: set[str]) -> None:
        """Remove every row of these documents; the segments that held some are rewritten."""
        kept = []
        for s in self.segs:
            gone = np.fromiter((i in ids for i in s.ids.tolist()), bool, s.n)  # (n,)
            if not gone.any():
                kept.append(s)
            elif not gone.all():
                table = s.full(folder).filter(~gone)
                kept.append(Segment.of(table, self.dim))
        self.segs = kept
        self.id_set -= ids
        self._cache.clear()

    def pending(self) -> list[Segment]:
        return [s for s in self.segs if s.pending is not None]
