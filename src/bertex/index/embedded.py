"""The embedded store: a folder with Parquet rows (the truth) and a usearch HNSW graph.

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
PostgreSQL store) give the same scores for the same rows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExtraMissingError, IndexCorruptError
from ..sinks.atomic import write_atomic
from . import files
from .filters import Condition, check_fields, coerce
from .provenance import Provenance
from .rows import Hits, Rows, best_per_id, unit

EXACT_MAX_ROWS = 20_000
EXPANSION_SEARCH = 128  # usearch's default 64 gives recall@10 ~0.96-0.98; 128 gives ~0.99
# The graph holds int8 copies of the unit vectors (4x smaller, 2x faster to walk at 100k x 384
# on this machine than float32, same recall@10 after the re-score); the Parquet rows keep the
# float32 vectors every score is computed from. Graphs saved as float32 still open.
GRAPH_DTYPE = "i8"
_ROUNDS = 3
_FIELD = "f:"


def _usearch() -> Any:
    try:
        from usearch.index import Index as Graph
    except ImportError:
        raise ExtraMissingError("index", "usearch", "the embedded search index") from None
    return Graph


class EmbeddedStore:
    """Rows in memory (Arrow table + unit vectors), the graph memory-mapped until a change."""

    def __init__(self, folder: Path, manifest: dict[str, Any], table: Any, graph: Any) -> None:
        self.folder, self.manifest, self.table, self.graph = folder, manifest, table, graph
        self.provenance = Provenance.from_dict(manifest["provenance"])
        self._viewed = True
        self._derive()

    # -- open / create / repair -----------------------------------------------------------

    @classmethod
    def create(cls, folder: Path, provenance: Provenance) -> EmbeddedStore:
        if folder.exists() and any(folder.iterdir()):
            from ..errors import OutputError

            raise OutputError(
                f"{folder} exists and is not empty; choose another index path "
                "or open it with Index.open"
            )
        folder.mkdir(parents=True, exist_ok=True)
        manifest = {
            "format": files.FORMAT,
            "generation": -1,
            "next_key": 0,
            "provenance": provenance.to_dict(),
        }
        store = cls(folder, manifest, _empty(provenance.dim), _new_graph(provenance.dim))
        store._commit()
        return store

    @classmethod
    def open(cls, folder: Path) -> EmbeddedStore:
        manifest = files.read_manifest(folder)
        gen = int(manifest["generation"])
        table = _read_rows(folder, gen)
        Graph = _usearch()
        path = files.graph_file(folder, gen)
        if not path.is_file():
            raise files.corrupt(folder, f"{path.name} is missing")
        try:
            graph = Graph.restore(str(path), view=True)
        except (ValueError, RuntimeError, OSError) as e:
            raise files.corrupt(folder, f"{path.name} is unreadable ({e})") from None
        if graph is not None:
            graph.expansion_search = EXPANSION_SEARCH  # not kept in the file
        if graph is None or len(graph) != table.num_rows:
            raise files.corrupt(
                folder, f"{path.name} does not match {files.rows_file(folder, gen).name}"
            )
        return cls(folder, manifest, table, graph)

    @classmethod
    def repair(cls, folder: Path) -> EmbeddedStore:
        """Rebuild the graph (and the manifest) from the newest readable Parquet file."""
        for gen in files.generations(folder) if folder.is_dir() else []:
            try:
                table = _read_rows(folder, gen)
                manifest = json.loads(table.schema.metadata[b"bertex.index"])
            except Exception:  # noqa: BLE001 - an unreadable generation: try an older one
                continue
            manifest["generation"] = gen
            dim = int(manifest["provenance"]["dim"])
            store = cls(folder, manifest, table, _new_graph(dim))
            store.graph.add(store.keys, store.unit)
            store._commit()
            return store
        raise IndexCorruptError(
            f"{folder}: no readable rows-*.parquet file: nothing to repair from; build the "
            "index again from its corpus"
        )

    # -- reading ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.table.num_rows)

    @property
    def field_names(self) -> list[str]:
        return [n[len(_FIELD) :] for n in self.table.column_names if n.startswith(_FIELD)]

    def n_documents(self) -> int:
        return len(set(self.ids.tolist()))

    def has_ids(self, ids: list[str]) -> list[str]:
        present = set(self.ids.tolist())
        return [i for i in ids if i in present]

    def search(self, queries: np.ndarray, k: int, where: list[Condition]) -> list[Hits]:
        """queries (Q, D) -> per query up to k documents, best first."""
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
        rows = self.unit if cand is None else self.unit[cand]  # (C, D)
        best = best_per_id(rows @ q, self.ids if cand is None else self.ids[cand], k)
        return best if cand is None else cand[best]

    def _approx(self, q: np.ndarray, mask: np.ndarray | None, n_cand: int, k: int) -> np.ndarray:
        n = len(self)
        count = min(n, int(np.ceil(4 * k * n / n_cand)))
        for _ in range(_ROUNDS):
            found = self.graph.search(q, count)
            pos = np.searchsorted(self.keys, np.asarray(found.keys, dtype=np.uint64))
            if mask is not None:
                pos = pos[mask[pos]]
            best = pos[best_per_id(self.unit[pos] @ q, self.ids[pos], k)]
            if len(best) >= k or count >= n:
                return best
            count = min(n, count * 4)
        cand = None if mask is None else np.flatnonzero(mask)
        return self._exact(q, cand, k)

    def _hits(self, pos: np.ndarray, q: np.ndarray) -> Hits:
        part = self.labels.take(pos).to_pydict()
        names = self.field_names
        return Hits(
            ids=part["id"],
            scores=(self.unit[pos] @ q).astype(np.float32),  # (k,)
            texts=part["text"],
            fields=[{n: part[_FIELD + n][r] for n in names} for r in range(len(pos))],
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
            col = self.table[_FIELD + c.field]
            numeric = pa.types.is_integer(col.type) or pa.types.is_floating(col.type)
            hit = ops[c.op](col, pa.scalar(coerce(c.value, numeric)))
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
            "exact_max_rows": EXACT_MAX_ROWS,
        }

    # -- changing ---------------------------------------------------------------------------

    def add(self, rows: Rows, replace: list[str] | None = None) -> None:
        """Append rows (after dropping the documents `replace` names): one commit."""
        import pyarrow as pa

        start = int(self.manifest["next_key"])
        keys = np.arange(start, start + len(rows), dtype=np.uint64)
        new = _table(rows, keys, self.provenance.dim)
        self._writable()
        if replace:
            self._drop(replace)
        self.table = pa.concat_tables([self.table, new], promote_options="permissive")
        self.graph.add(keys, unit(rows.vectors))
        self.manifest["next_key"] = start + len(rows)
        self._derive()
        self._commit()

    def remove(self, ids: list[str]) -> int:
        drop = np.isin(self.ids, np.asarray(ids, dtype=object))  # (N,) bool
        if not drop.any():
            return 0
        self._writable()
        self._drop(ids)
        self._commit()
        return int(drop.sum())

    def _drop(self, ids: list[str]) -> None:
        drop = np.isin(self.ids, np.asarray(ids, dtype=object))  # (N,) bool
        self.graph.remove(self.keys[drop])
        self.table = self.table.filter(~drop)
        self._derive()

    @property
    def next_key(self) -> int:
        return int(self.manifest["next_key"])

    def close(self) -> None:
        """Nothing to release: every change is committed when its call returns."""

    def _writable(self) -> None:
        """A memory-mapped view cannot change: load the graph into memory first."""
        if self._viewed and self.manifest["generation"] >= 0:
            Graph = _usearch()
            path = files.graph_file(self.folder, int(self.manifest["generation"]))
            self.graph = Graph.restore(str(path), view=False)
            self.graph.expansion_search = EXPANSION_SEARCH
        self._viewed = False

    def _commit(self) -> None:
        import pyarrow.parquet as pq

        gen = int(self.manifest["generation"]) + 1
        manifest = {**self.manifest, "generation": gen}
        meta = {**(self.table.schema.metadata or {}), b"bertex.index": json.dumps(manifest)}
        table = self.table.replace_schema_metadata(meta)
        write_atomic(files.rows_file(self.folder, gen), lambda f: pq.write_table(table, f))
        graph_path = files.graph_file(self.folder, gen)
        tmp = graph_path.with_name(graph_path.name + ".tmp")
        self.graph.save(str(tmp))
        files.replace_file(tmp, graph_path)
        files.write_manifest(self.folder, manifest)  # the commit point
        self.manifest = manifest
        files.sweep(self.folder, gen)

    def _derive(self) -> None:
        """The numpy views search needs: keys (N,), ids (N,), unit vectors (N, D)."""
        dim = self.provenance.dim
        self.keys = self.table["key"].to_numpy().astype(np.uint64)
        # what a hit returns; one chunk, so taking k rows does not walk every chunk
        self.labels = self.table.drop_columns(["vector"]).combine_chunks()
        self.ids = np.asarray(self.table["id"].to_pylist(), dtype=object)
        flat = self.table["vector"].combine_chunks().flatten().to_numpy(zero_copy_only=False)
        self.unit = unit(flat.reshape(-1, dim))  # (N, D)


def _new_graph(dim: int) -> Any:
    Graph = _usearch()
    return Graph(ndim=dim, metric="cos", dtype=GRAPH_DTYPE, expansion_search=EXPANSION_SEARCH)


def _empty(dim: int) -> Any:
    return _table(
        Rows([], [], np.zeros((0, dim), np.float32), np.zeros((0, 2), np.int64)),
        np.zeros(0, np.uint64),
        dim,
    )


def _table(rows: Rows, keys: np.ndarray, dim: int) -> Any:
    import pyarrow as pa

    flat = pa.array(np.asarray(rows.vectors, dtype=np.float32).reshape(-1))
    cols = {
        "key": pa.array(keys, pa.uint64()),
        "id": pa.array(rows.ids, pa.string()),
        "text": pa.array(rows.texts, pa.string()),
        "start": pa.array(rows.spans[:, 0], pa.int64()),
        "end": pa.array(rows.spans[:, 1], pa.int64()),
        "vector": pa.FixedSizeListArray.from_arrays(flat, dim),
    }
    for name, values in rows.fields.items():
        cols[_FIELD + name] = pa.array(values)
    return pa.table(cols)


def _read_rows(folder: Path, gen: int) -> Any:
    import pyarrow.parquet as pq

    path = files.rows_file(folder, gen)
    if not path.is_file():
        raise files.corrupt(folder, f"{path.name} is missing")
    try:
        return pq.read_table(path)
    except Exception as e:  # noqa: BLE001 - any Arrow failure means the same thing here
        raise files.corrupt(folder, f"{path.name} is unreadable ({e})") from None
