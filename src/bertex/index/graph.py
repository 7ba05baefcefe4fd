"""The embedded store's ANN graph (usearch HNSW): memory-mapped from its file until it changes.

The graph is derived from the rows, so it trails them: an add commits its rows only, and the
rows join the graph in bulk (several times faster than 256 at a time) when the rows the saved
graph lacks reach SAVE_ROWS, on every remove, on close(), and before the graph is first searched.
The manifest records the key below which the saved graph holds every row (`next_key`); keys
ascend, so the rows it lacks are always the newest ones. An index opened after a build was
killed between graph saves catches up in memory the same way.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExtraMissingError, IndexChangedError
from . import files

EXPANSION_SEARCH = 128  # usearch's default 64 gives recall@10 ~0.96-0.98; 128 gives ~0.99
SAVE_ROWS = 16_384  # rows the saved graph may lack: bounds the catch-up on open (a few seconds)


def _usearch() -> Any:
    try:
        from usearch.index import Index as Usearch
    except ImportError:
        raise ExtraMissingError("index", "usearch", "the embedded search index") from None
    return Usearch


class Graph:
    """`usearch` holds every row with key < `next_key`; the file named `saved` holds every row
    with key < `saved_next_key`."""

    def __init__(self, usearch: Any, saved: dict[str, Any], viewed: bool) -> None:
        self.usearch, self.viewed = usearch, viewed
        self.saved = dict(saved)  # {"file": name, "next_key": k}, what the manifest names
        self.next_key = int(saved["next_key"])
        self.changed = False
        self._lock = threading.Lock()

    @classmethod
    def new(cls, dim: int, dtype: str) -> Graph:
        g = _usearch()(ndim=dim, metric="cos", dtype=dtype, expansion_search=EXPANSION_SEARCH)
        return cls(g, {"file": "", "next_key": 0}, viewed=False)

    @classmethod
    def open(cls, folder: Path, saved: dict[str, Any], rows_below: int) -> Graph:
        """The saved graph, memory-mapped; `rows_below` rows have a key below its next_key."""
        path = folder / saved["file"]
        if not path.is_file():
            raise files.corrupt(folder, f"{path.name} is missing")
        try:
            g = _usearch().restore(str(path), view=True)
        except (ValueError, RuntimeError, OSError) as e:
            raise files.corrupt(folder, f"{path.name} is unreadable ({e})") from None
        if g is None or len(g) != rows_below:
            raise files.corrupt(folder, f"{path.name} does not match the rows-*.parquet files")
        g.expansion_search = EXPANSION_SEARCH  # not kept in the file
        return cls(g, saved, viewed=True)

    @property
    def unsaved(self) -> bool:
        """Changed in memory since the file was saved (rows added or removed)."""
        return self.changed or not self.saved["file"]

    def writable(self, folder: Path) -> None:
        """A memory-mapped view cannot change: load the graph into memory first."""
        if self.viewed:
            loaded = _usearch().restore(str(folder / self.saved["file"]), view=False)
            if loaded is None:  # another writer saved a newer graph and deleted this one
                raise IndexChangedError(
                    f"{folder}: {self.saved['file']} was replaced by another writer; open the "
                    "index again"
                )
            self.usearch = loaded
            self.usearch.expansion_search = EXPANSION_SEARCH
            self.viewed = False

    def catch_up(self, folder: Path, keys: np.ndarray, unit: np.ndarray) -> None:
        """Add the rows (keys (N,) ascending, unit vectors (N, D)) the graph does not hold yet."""
        if not len(keys) or int(keys[-1]) < self.next_key:
            return  # nothing to add (every search asks)
        with self._lock:  # server threads may search at once: one catches up
            self._catch_up(folder, keys, unit)

    def _catch_up(self, folder: Path, keys: np.ndarray, unit: np.ndarray) -> None:
        start = int(np.searchsorted(keys, np.uint64(self.next_key)))
        if start < len(keys):
            self.writable(folder)
            self.usearch.add(keys[start:], unit[start:])
            self.next_key = int(keys[-1]) + 1
            self.changed = True

    def remove(self, folder: Path, keys: np.ndarray) -> None:
        self.writable(folder)
        self.usearch.remove(keys)
        self.changed = True

    def search(self, q: np.ndarray, count: int) -> np.ndarray:
        """q (D,) -> the keys of about `count` nearest rows (uint64)."""
        return np.asarray(self.usearch.search(q, count).keys, dtype=np.uint64)

    def save(self, folder: Path, gen: int) -> None:
        name = files.graph_name(gen)
        tmp = folder / (name + ".tmp")
        self.usearch.save(str(tmp))
        files.replace_file(tmp, folder / name)
        self.saved = {"file": name, "next_key": self.next_key}
        self.changed = False
