"""The embedded store: a folder of Parquet segments (the truth) and a usearch HNSW graph.

Search is exact (numpy, one matrix product) while the rows to search are few, and approximate
(the graph, then an exact re-score of what it found) above EXACT_MAX_ROWS:

- no filter: exact when the index holds <= EXACT_MAX_ROWS rows. Below that size a matrix
  product over every row takes well under a millisecond per query and is never wrong; the
  graph pays off above it.
- with a filter: the rows the filter leaves are counted first; when they are <= EXACT_MAX_ROWS
  (a selective filter), exact search over only those rows. Otherwise the graph is asked for
  more neighbours than k (k / the fraction the filter keeps, times 4, growing 4x per round),
  the non-matching ones are dropped, and after 3 rounds without k matches the search falls
  back to exact over the matching rows, so a filtered search returns k rows whenever k match.

Scores are always recomputed exactly from the stored vectors, so both paths (and the
PostgreSQL store) give the same scores for the same rows. The files and how a change commits:
files.py; the segments: segments.py; the graph and when it is saved: graph.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import IndexChangedError, IndexCorruptError, OutputError
from . import files, graph, segments, writer
from .filters import NUMBER, Condition, as_text, check_fields, coerce, number
from .graph import Graph
from .provenance import Provenance
from .repair import load_for_repair
from .rows import Hits, Rows, best_per_id, unit
from .store_rows import Segment, StoreRows

EXACT_MAX_ROWS = 20_000
# The graph holds int8 copies of the unit vectors (4x smaller, 2x faster to walk at 100k x 384
# on this machine than float32, same recall@10 after the re-score); the Parquet rows keep the
# float32 vectors every score is computed from. Graphs saved as float32 still open.
GRAPH_DTYPE = "i8"
_ROUNDS = 3


class EmbeddedStore:
    """Rows in memory (per segment: labels, keys, ids, unit vectors), the graph beside them."""

    def __init__(self, folder: Path, manifest: dict[str, Any], rows: StoreRows, graph: Graph):
        self.folder, self.manifest, self.rows, self.graph_ = folder, manifest, rows, graph
        self.provenance = Provenance.from_dict(manifest["provenance"])
        self.lost: Any = None  # what a repair could not read back (repair.Readable)
        self.wrote = False  # this store changed the index (then close() saves the graph)
        self.failed = ""  # why a change failed: this store's memory is then not the index
        self.holds_nul = True  # a NUL character in a text or a field is stored as it is
        self.held: contextlib.ExitStack | None = None  # the writer lock, held for a session

    # -- open / create / repair -----------------------------------------------------------

    @classmethod
    def create(
        cls, folder: Path, provenance: Provenance, wait: float | None = None
    ) -> EmbeddedStore:
        """A new index at `folder`, made under its writer lock (two creates at once: one
        makes it, the other finds it made); `wait` not None: the lock is kept (see open)."""
        if folder.exists() and not folder.is_dir():
            raise OutputError(f"{folder} exists and is not a folder; choose another index path")
        existed = folder.is_dir()
        folder.mkdir(parents=True, exist_ok=True)
        held = writer.hold(folder, wait or 0.0)
        try:
            store = cls._create(folder, provenance, existed)
        except BaseException:
            held.close()
            if not existed and not any(folder.iterdir()):
                folder.rmdir()
            raise
        if wait is None:
            held.close()
        else:
            store.held = held
        return store

    @classmethod
    def _create(cls, folder: Path, provenance: Provenance, existed: bool) -> EmbeddedStore:
        if (folder / files.MANIFEST).is_file():
            raise OutputError(f"{folder} is an index already; open it with Index.open")
        files.check_new(folder, existed)
        manifest = {
            "format": files.FORMAT,
            "generation": -1,
            "next_key": 0,
            "provenance": provenance.to_dict(),
            "segments": [],
        }
        dim = provenance.dim
        store = cls(folder, manifest, StoreRows(dim, []), Graph.new(dim, GRAPH_DTYPE))
        store.rows.append(Segment.of(segments.empty(dim), dim), merged=0)
        store._commit(save_graph=True)  # an empty segment: repair can read the index back
        return store

    @classmethod
    def open(cls, folder: Path, wait: float | None = None) -> EmbeddedStore:
        """The index at `folder`. `wait` not None: its writer lock is taken first (waiting up
        to `wait` seconds for another writer) and held until close, so what this store read
        is what it writes on; None: no lock (a reader; each change locks for itself)."""
        held = writer.hold(folder, wait) if wait is not None and folder.is_dir() else None
        try:
            store = writer.read_consistent(folder, lambda m: cls._read(folder, m))
        except BaseException:
            if held is not None:
                held.close()
            raise
        store.held = held
        return store

    @classmethod
    def _read(cls, folder: Path, manifest: dict[str, Any]) -> EmbeddedStore:
        dim = int(manifest["provenance"]["dim"])
        names = [s["file"] for s in files.segments_of(manifest)]
        if len(set(names)) != len(names):
            raise files.corrupt(folder, f"{files.MANIFEST} names a segment twice")
        rows = StoreRows(dim, [Segment.read(folder, name, dim) for name in names])
        if np.any(np.diff(rows.keys.astype(np.int64)) <= 0):
            raise files.corrupt(folder, "the segments' keys repeat or are out of order")
        saved = files.graph_of(manifest)
        below = int(np.searchsorted(rows.keys, np.uint64(saved["next_key"])))
        graph = Graph.open(folder, saved, below)
        if below < rows.n:  # it trails the rows: into memory now, while its file is here
            graph.writable(folder)  # (a writer's next graph save deletes it)
        return cls(folder, manifest, rows, graph)

    @classmethod
    def repair(cls, folder: Path, wait: float = 0.0) -> EmbeddedStore:
        """Rebuild the graph and the manifest from the readable segments (see repair.py)."""
        if not folder.is_dir():
            raise IndexCorruptError(f"{folder}: no such index; nothing to repair")
        with writer.lock(folder, wait):
            return cls._repair(folder)

    @classmethod
    def _repair(cls, folder: Path) -> EmbeddedStore:
        found = load_for_repair(folder)
        dim = int(found.manifest["provenance"]["dim"])
        rows = StoreRows(dim, found.segs)
        store = cls(folder, found.manifest, rows, Graph.new(dim, GRAPH_DTYPE))
        store._commit(save_graph=True)  # the graph: every row, added in bulk
        store.lost = found
        return store

    # -- reading ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.rows.n

    @property
    def graph(self) -> Any:
        """The usearch index (every row in it)."""
        self.graph_.catch_up(self.folder, self.rows.keys, self.rows.unit)
        return self.graph_.usearch

    def prepare(self) -> None:
        """Make now what the first search would: the whole-index arrays, and the graph caught
        up when searches will walk it (a server calls this before its first request)."""
        _ = self.rows.unit, self.rows.labels
        if len(self) > EXACT_MAX_ROWS:
            _ = self.graph

    @property
    def field_names(self) -> list[str]:
        return self.rows.field_names

    def n_documents(self) -> int:
        return len(self.rows.id_set)

    def has_ids(self, ids: list[str]) -> list[str]:
        return [i for i in ids if i in self.rows.id_set]

    def read_table(self) -> Any:
        """Every row with its float32 vector (read from the segments): an Arrow table."""
        return segments.concat(
            [segments.read(self.folder, s.file) for s in self.rows.segs] or [self.empty()]
        )

    def empty(self) -> Any:
        return segments.empty(self.provenance.dim)

    def search(self, queries: np.ndarray, k: int, where: list[Condition]) -> list[Hits]:
        """queries (Q, D) -> per query up to k documents, best first."""
        self._usable()
        q = unit(queries)  # (Q, D)
        mask = self._mask(where)  # (N,) bool or None
        cand = np.flatnonzero(mask) if mask is not None else None
        n_cand = len(self) if cand is None else len(cand)
        if n_cand == 0:
            return [self._hits(np.zeros(0, np.int64), q[i]) for i in range(len(q))]
        if n_cand <= EXACT_MAX_ROWS:
            return [self._hits(self._exact(q[i], cand, k), q[i]) for i in range(len(q))]
        return [self._hits(self._approx(q[i], mask, n_cand, k), q[i]) for i in range(len(q))]

    def _exact(self, q: np.ndarray, cand: np.ndarray | None, k: int) -> np.ndarray:
        all_unit, all_ids = self.rows.unit, self.rows.ids
        rows = all_unit if cand is None else all_unit[cand]  # (C, D)
        best = best_per_id(rows @ q, all_ids if cand is None else all_ids[cand], k)
        return best if cand is None else cand[best]

    def _approx(self, q: np.ndarray, mask: np.ndarray | None, n_cand: int, k: int) -> np.ndarray:
        g, n = self.graph, len(self)  # the graph, caught up with every row
        keys, all_unit, all_ids = self.rows.keys, self.rows.unit, self.rows.ids
        count = min(n, int(np.ceil(4 * k * n / n_cand)))
        for _ in range(_ROUNDS):
            found = np.asarray(g.search(q, count).keys, dtype=np.uint64)
            pos = np.searchsorted(keys, found)
            if mask is not None:
                pos = pos[mask[pos]]
            best = pos[best_per_id(all_unit[pos] @ q, all_ids[pos], k)]
            if len(best) >= k or count >= n:
                return best
            count = min(n, count * 4)
        cand = None if mask is None else np.flatnonzero(mask)
        return self._exact(q, cand, k)

    def _hits(self, pos: np.ndarray, q: np.ndarray) -> Hits:
        part = self.rows.labels.take(pos).to_pydict()
        names = self.field_names
        return Hits(
            ids=part["id"],
            scores=(self.rows.unit[pos] @ q).astype(np.float32),  # (k,)
            texts=part["text"],
            fields=[{n: part[segments.FIELD + n][r] for n in names} for r in range(len(pos))],
            spans=list(zip(part["start"], part["end"], strict=True)),
        )

    def _mask(self, where: list[Condition]) -> np.ndarray | None:
        if not where:
            return None
        import pyarrow as pa
        import pyarrow.compute as pc

        check_fields(where, self.field_names)
        ops = {
            "=": pc.equal,
            "==": pc.equal,
            "!=": pc.not_equal,
            "<": pc.less,
            "<=": pc.less_equal,
            ">": pc.greater,
            ">=": pc.greater_equal,
        }
        mask = np.ones(len(self), dtype=bool)
        for c in where:
            col = self.rows.labels[segments.FIELD + c.field]
            numeric = pa.types.is_integer(col.type) or pa.types.is_floating(col.type)
            value = number(c.value)
            if numeric:
                hit = ops[c.op](col, pa.scalar(coerce(c.value, True)))
            elif value is not None:  # text that reads as a number compares as one
                text = pc.cast(col, pa.string())
                reads = pc.match_substring_regex(text, NUMBER)
                nums = pc.cast(pc.if_else(reads, text, pa.scalar(None, pa.string())), pa.float64())
                hit = ops[c.op](nums, pa.scalar(float(value)))
            else:
                hit = ops[c.op](pc.cast(col, pa.string()), pa.scalar(as_text(c.value)))
            mask &= np.asarray(pc.fill_null(hit, False).to_numpy(zero_copy_only=False), bool)
        return mask

    def info(self) -> dict[str, Any]:
        size = sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())
        return {
            "store": "embedded (usearch + parquet)",
            "path": str(self.folder),
            "rows": len(self),
            "documents": self.n_documents(),
            "fields": self.field_names,
            "provenance": self.provenance.to_dict(),
            "disk_bytes": size,
            "generation": self.manifest["generation"],
            "segments": len(self.rows.segs),
            "exact_max_rows": EXACT_MAX_ROWS,
        }

    # -- changing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """One writer at a time (a lock file in the index), and only from the newest state:
        a change made from an older one would drop what another writer committed since."""
        self._usable()
        with contextlib.nullcontext() if self.held else writer.lock(self.folder):
            on_disk = int(files.read_manifest(self.folder)["generation"])
            if on_disk != int(self.manifest["generation"]):
                raise IndexChangedError(
                    f"{self.folder} was changed by another writer (generation {on_disk}; this "
                    f"Index opened {self.manifest['generation']}); open it again, then retry"
                )
            try:
                yield
            except BaseException as e:  # its memory may hold what was not committed
                self.failed = f"{type(e).__name__}: {e}"
                raise

    def _usable(self) -> None:
        if self.failed:
            raise IndexChangedError(
                f"{self.folder}: a change through this Index failed ({self.failed}); what was "
                "committed before it is intact: open the index again"
            )

    def defer_graph(self, start: bool) -> None:
        """Nothing to defer: this store's graph is saved in bulk at close already."""

    def add(self, rows: Rows, replace: list[str] | None = None, may_replace: bool = False) -> None:
        """Append rows (after dropping the documents `replace` names): one commit, which
        writes one segment: these rows and the small segments before them (segments.py).
        (`may_replace`: the PostgreSQL store's; here the writer lock keeps others out.)"""
        start = self.next_key  # checked first: a refused add changes nothing
        keys = np.arange(start, start + len(rows), dtype=np.uint64)
        new = segments.table(rows, keys, self.provenance.dim)
        segments.concat([self.rows.labels.slice(0, 0), new.drop_columns(["vector"])])  # types
        with self._writing():
            self._add(rows, new, replace)

    def _add(self, rows: Rows, new: Any, replace: list[str] | None) -> None:
        start = self.next_key
        if replace:
            self._drop(set(replace))
        merged = segments.tail_to_merge([s.n for s in self.rows.segs] + [len(rows)])
        tail = [s.full(self.folder) for s in self.rows.segs[len(self.rows.segs) - merged :]]
        self.rows.append(Segment.of(segments.concat([*tail, new]), self.provenance.dim), merged)
        self.manifest["next_key"] = start + len(rows)
        self._commit(save_graph=bool(replace) or self._graph_lacks() >= graph.SAVE_ROWS)

    def remove(self, ids: list[str]) -> int:
        with self._writing():
            n = len(self)
            self._drop(set(ids))
            if len(self) == n:
                return 0
            self._commit(save_graph=True)
            return n - len(self)

    def _drop(self, ids: set[str]) -> None:
        """Drop every row of these documents (the segments that held them are rewritten)."""
        self.graph_.catch_up(self.folder, self.rows.keys, self.rows.unit)
        gone = np.isin(self.rows.ids, np.asarray(list(ids), dtype=object))  # (N,) bool
        if gone.any():
            self.graph_.remove(self.folder, self.rows.keys[gone])
            self.rows.drop(self.folder, ids)

    def _graph_lacks(self) -> int:
        """Rows the saved graph file does not hold."""
        saved = np.uint64(self.graph_.saved["next_key"])
        return len(self) - int(np.searchsorted(self.rows.keys, saved))

    @property
    def next_key(self) -> int:
        return int(self.manifest["next_key"])

    def close(self, finish: bool = True) -> None:
        """Save the graph when rows were added since it was last saved (every row change is
        already committed when its call returns; `finish` is the PostgreSQL store's)."""
        try:
            if self.failed:
                return  # nothing more to save from a state that did not commit
            if self.wrote and (self._graph_lacks() or self.graph_.unsaved):  # readers write not
                with self._writing():
                    self._commit(save_graph=True)
        finally:
            if self.held is not None:
                self.held.close()
                self.held = None

    def _commit(self, save_graph: bool) -> None:
        """Write the segments not written yet, maybe the graph, then the manifest (the commit
        point), and delete the files it no longer names."""
        self.wrote = True
        gen = int(self.manifest["generation"]) + 1
        pending = self.rows.pending()
        for j, seg in enumerate(pending):
            seg.file = files.segment_name(gen, j)
        if save_graph:  # rows join the graph in bulk (several times faster than per add)
            self.graph_.catch_up(self.folder, self.rows.keys, self.rows.unit)
            self.graph_.save(self.folder, gen)
        manifest = {
            **self.manifest,
            "format": files.FORMAT,
            "generation": gen,
            "segments": [{"file": s.file, "rows": s.n} for s in self.rows.segs],
            "graph": dict(self.graph_.saved),
        }
        for seg in pending:
            segments.write(self.folder, seg.file, seg.pending, manifest)
            seg.pending = None
        files.write_manifest(self.folder, manifest)  # the commit point
        self.manifest = manifest
        files.sweep(self.folder, manifest)
