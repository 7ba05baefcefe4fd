"""The PostgreSQL store: one table of rows with a pgvector `vector(D)` column and an HNSW
cosine index, behind the same interface as the embedded store.

    postgresql://user:pass@host:5432/db?table=my_index      (table: default "bertex_index")

- bulk load: binary COPY, one transaction per add (a killed add leaves nothing behind);
- search: exact (the index bypassed) while the rows a filter leaves are <= EXACT_MAX_ROWS, as
  in the embedded store, else the HNSW index with `hnsw.iterative_scan = relaxed_order`, so a
  filtered query goes on scanning the graph until it has k matching rows;
- provenance, dimension and field types live in the table `<table>_meta`, beside the counts of
  rows and documents, kept by every add and remove in its own transaction: len(), info() and an
  unfiltered search never count the table (a count(*) of 100k rows is ~30 ms). A table made
  before the counts were kept gets them the first time its owner opens it; a user who may only
  read it counts at each call, as before;
- a filter counts the rows it leaves only up to EXACT_MAX_ROWS + 1 (the exact/graph choice);
- adds and removes lock the meta row first: writers take turns, and an add asks again under
  that lock which of its ids are present (one another writer committed meanwhile is replaced
  when the add replaces, else refused);
- results come back in binary (vectors as float32 bytes, not text to parse); a query's
  settings are SET LOCAL in its own transaction (safe behind a transaction-mode pooler);
- scores are recomputed from the returned vectors exactly as the embedded store does;
- a lost connection is one StoreUnavailableError line and the next call connects again (a read
  is asked once more at once); using a closed Index says so (pg_connect.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..errors import (
    DuplicateIdError,
    IndexCorruptError,
    OutputError,
    StoreRefusedError,
    StoreUnavailableError,
)
from . import pg_table
from .embedded import EXACT_MAX_ROWS
from .filters import NUMBER, SQL_OPS, Condition, as_text, check_fields, coerce, number
from .pg_connect import (
    DEFAULT_TABLE,
    _first,
    _jsonb,
    _psycopg,
    _reaches,
    connect,
    refusals,
    split_url,
)
from .provenance import Provenance
from .rows import Hits, Rows, best_per_id, unit

__all__ = ["DEFAULT_TABLE", "EF_SEARCH", "PostgresStore", "connect", "split_url"]
EF_SEARCH = 128  # pgvector's default 40 gives recall@10 ~0.92 on bench/search_bench.py


class PostgresStore:
    def __init__(self, conn: Any, table: str, shown: str, manifest: dict[str, Any]) -> None:
        self.conn, self.table, self.shown, self.manifest = conn, table, shown, manifest
        self.url = ""  # the URL to connect again with (set by create/open)
        self.closed = False
        self.lost = None  # as the embedded store's repair reports: nothing is lost here
        self.holds_nul = False  # text and jsonb cannot hold a NUL character (core refuses it)
        self.deferring = False  # this session defers the graph to its close (a CLI build)
        self._split = manifest.get("split")  # as read: a split set since is this session's
        self.lock = threading.RLock()  # calls nest (search asks len)
        self.provenance = Provenance.from_dict(manifest["provenance"])
        self.kept = True  # the meta table keeps the counts (False: an old table, read-only)

    @classmethod
    def exists(cls, url: str) -> bool:
        conn, table, shown = connect(url)
        with _opening(conn, shown, table):
            found = conn.execute("SELECT to_regclass(%s)", [f"{table}_meta"]).fetchone()[0]
        conn.close()
        return found is not None

    @classmethod
    def create(cls, url: str, provenance: Provenance) -> PostgresStore:
        conn, t, shown = connect(url)
        with _opening(conn, shown, t):
            exists = OutputError(
                f"{shown}: the table {t} exists; choose another ?table= or open it"
            )
            if conn.execute("SELECT to_regclass(%s)", [t]).fetchone()[0] is not None:
                raise exists
            manifest = {"format": 1, "provenance": provenance.to_dict(), "fields": {}}
            with _created_by_another(exists), conn.transaction():
                conn.execute(f"""CREATE TABLE {t} (key bigserial PRIMARY KEY, id text NOT NULL,
                    text text, start_ bigint, end_ bigint, fields jsonb NOT NULL DEFAULT '{{}}',
                    embedding vector({provenance.dim}) NOT NULL)""")
                conn.execute(f"CREATE INDEX ON {t} (id)")
                conn.execute(f"CREATE INDEX ON {t} USING hnsw (embedding vector_cosine_ops)")
                conn.execute(f"CREATE TABLE {t}_meta (manifest jsonb NOT NULL, {pg_table.COUNTS})")
                conn.execute(f"INSERT INTO {t}_meta VALUES (%s)", [_jsonb(manifest)])
        store = cls(conn, t, shown, manifest)
        store.url = url
        return store

    @classmethod
    def open(cls, url: str) -> PostgresStore:
        conn, t, shown = connect(url)
        with _opening(conn, shown, t):
            if conn.execute("SELECT to_regclass(%s)", [f"{t}_meta"]).fetchone()[0] is None:
                raise IndexCorruptError(
                    f"{shown}: no index table {t} (build one with `bertex index build`)"
                )
            manifest = conn.execute(f"SELECT manifest FROM {t}_meta").fetchone()[0]
            kept = pg_table.kept_counts(conn, t, _psycopg()[0].errors)
        store = cls(conn, t, shown, manifest)
        store.url, store.kept = url, kept
        return store

    @classmethod
    def repair(cls, url: str) -> PostgresStore:
        """Open, and count the rows and documents again under the table's locks."""
        store = cls.open(url)
        errors = _psycopg()[0].errors
        try:
            pg_table.kept_counts(store.conn, store.table, errors, recount=True)
        except (errors.InsufficientPrivilege, errors.ReadOnlySqlTransaction) as e:
            store.close()
            raise StoreRefusedError(
                f"{store.shown}: this session may not change the table ({_first(e)}): repair "
                "it as its owner"
            ) from None
        store.kept = True
        store.finish_graph()  # a killed build's deferred graph
        return store

    def prepare(self) -> None:
        """Nothing to make ahead: the server holds the rows."""

    def _connected(self) -> None:
        if self.closed:
            raise StoreUnavailableError(f"{self.shown}: this Index was closed; open it again")
        if self.conn.broken or self.conn.closed:  # lost: a new connection
            self.conn = connect(self.url)[0]

    # -- reading ----------------------------------------------------------------------------

    @_reaches(retry=True)
    def __len__(self) -> int:
        """Rows (pieces of documents)."""
        return self._count("rows_", "count(*)")

    def _count(self, kept: str, counted: str) -> int:
        return pg_table.read_count(self.conn, self.table, kept, counted)

    @property
    def field_names(self) -> list[str]:
        return list(self.manifest["fields"])

    @property
    @_reaches(retry=True)
    def next_key(self) -> int:
        row = self.conn.execute(f"SELECT coalesce(max(key), 0) + 1 FROM {self.table}").fetchone()
        return int(row[0])

    @_reaches(retry=True)
    def n_documents(self) -> int:
        return self._count("documents_", "count(DISTINCT id)")

    @_reaches(retry=True)
    def has_ids(self, ids: list[str]) -> list[str]:
        found = pg_table.present(self.conn, self.table, ids)
        return [i for i in ids if i in found]

    @_reaches(retry=True)
    def info(self) -> dict[str, Any]:
        size = self.conn.execute("SELECT pg_total_relation_size(%s)", [self.table]).fetchone()[0]
        return {
            "store": "postgresql (pgvector, hnsw cosine)",
            "path": self.shown,
            "table": self.table,
            "rows": len(self),
            "documents": self.n_documents(),
            "fields": self.field_names,
            "provenance": self.provenance.to_dict(),
            "disk_bytes": int(size),
            "exact_max_rows": EXACT_MAX_ROWS,
            "graph": pg_table.graph_state(self.conn, self.table),
        }

    @_reaches(retry=True)
    def search(self, queries: np.ndarray, k: int, where: list[Condition]) -> list[Hits]:
        q = unit(queries)  # (Q, D)
        sql_where, params = self._where(where)
        n_cand = self._candidates(sql_where, params) if where else len(self)
        if where and n_cand > EXACT_MAX_ROWS:  # the graph path may go on to every row
            n_cand = len(self)
        return [self._one(q[i], k, sql_where, params, n_cand) for i in range(len(q))]

    def _candidates(self, sql_where: str, params: list[Any]) -> int:
        """The rows a filter leaves, counted up to EXACT_MAX_ROWS + 1 (enough to choose)."""
        sql = f"SELECT count(*) FROM (SELECT 1 FROM {self.table} {sql_where} LIMIT %s) AS c"
        return int(self.conn.execute(sql, [*params, EXACT_MAX_ROWS + 1]).fetchone()[0])

    def _one(self, q: np.ndarray, k: int, sql_where: str, params: list[Any], n_cand: int) -> Hits:
        exact = n_cand <= EXACT_MAX_ROWS
        limit = min(max(4 * k, 40), max(n_cand, 1))
        while True:
            rows = self._fetch(q, sql_where, params, limit, exact)
            ids = np.asarray([r[0] for r in rows], dtype=object)
            vecs = unit(
                np.asarray([_array(r[5]) for r in rows], np.float32).reshape(
                    len(rows), self.provenance.dim
                )
            )  # (n, D)
            best = best_per_id(vecs @ q, ids, k)  # (k,)
            if len(best) >= k or limit >= n_cand:
                break
            limit = min(n_cand, limit * 4)
        return Hits(
            ids=[rows[i][0] for i in best],
            scores=(vecs[best] @ q).astype(np.float32),
            texts=[rows[i][1] for i in best],
            fields=[{n: rows[i][4].get(n) for n in self.field_names} for i in best],
            spans=[(rows[i][2], rows[i][3]) for i in best],
        )

    def _fetch(
        self, q: np.ndarray, sql_where: str, params: list[Any], limit: int, exact: bool
    ) -> list[Any]:
        sql = (
            f"SELECT id, text, start_, end_, fields, embedding FROM {self.table} "
            f"{sql_where} ORDER BY embedding <=> %s LIMIT %s"
        )
        ef = max(EF_SEARCH, min(limit, 1000))
        settings = (  # SET LOCAL: this query's own, also through a transaction-mode pooler
            "SET LOCAL enable_indexscan = off"  # a sequential scan: every candidate compared
            if exact
            else f"SET LOCAL hnsw.iterative_scan = relaxed_order; SET LOCAL hnsw.ef_search = {ef}"
        )
        with self.conn.transaction():
            self.conn.execute(settings)
            return self.conn.execute(sql, [*params, q, limit], binary=True).fetchall()

    def _where(self, where: list[Condition]) -> tuple[str, list[Any]]:
        if not where:
            return "", []
        check_fields(where, self.field_names)
        parts: list[str] = []
        params: list[Any] = []
        for c in where:  # the rules of filters.py's docstring, as the embedded store has them
            value = number(c.value)  # the field's name is a parameter too, never SQL text
            if value is None:
                coerce(c.value, self.manifest["fields"][c.field] == "numeric")  # text: refused
                parts.append(f"(fields->>%s) {SQL_OPS[c.op]} %s")
                params += [c.field, as_text(c.value)]
            else:
                as_number = "(CASE WHEN (fields->>%s) ~ %s THEN (fields->>%s)::float8 END)"
                parts.append(f"{as_number} {SQL_OPS[c.op]} %s")
                params += [c.field, NUMBER, c.field, float(value)]
        return "WHERE " + " AND ".join(parts), params

    # -- changing ---------------------------------------------------------------------------

    @_reaches(retry=False)
    def add(self, rows: Rows, replace: list[str] | None = None, may_replace: bool = False) -> None:
        cols = list(rows.fields)
        sql = (
            f"COPY {self.table} (id, text, start_, end_, fields, embedding) "
            "FROM STDIN WITH (FORMAT BINARY)"
        )
        rebuild = not self.deferring and pg_table.rebuilds_graph(len(rows), len(self))
        with self.conn.transaction(), self.conn.cursor() as cur:
            committed, self.kept = pg_table.lock_meta(cur, self.table)  # writers take turns
            manifest = {**committed}  # as committed (another writer's fields kept)
            manifest["fields"] = pg_table.merged_types(committed["fields"], rows.fields)
            if self.manifest.get("split") != self._split:  # set since: a first add, --replace
                manifest["split"] = self.manifest["split"]
            docs = list(dict.fromkeys(rows.ids))
            drop = self._replaced(cur, docs, may_replace or bool(replace))
            graph = pg_table.drop_graph(cur, self.table) if rebuild else []
            gone_rows, gone_docs = self._delete(cur, drop) if drop else (0, 0)
            with cur.copy(sql) as copy:
                copy.set_types(["text", "text", "int8", "int8", "jsonb", "vector"])
                for i in range(len(rows)):
                    doc = _jsonb({c: rows.fields[c][i] for c in cols})
                    copy.write_row(
                        [
                            rows.ids[i],
                            rows.texts[i],
                            int(rows.spans[i, 0]),
                            int(rows.spans[i, 1]),
                            doc,
                            np.asarray(rows.vectors[i], np.float32),
                        ]
                    )
            cur.execute(f"UPDATE {self.table}_meta SET manifest = %s", [_jsonb(manifest)])
            added = len(rows) - gone_rows, len(set(rows.ids)) - gone_docs
            self._keep_counts(cur, *added)
            if graph:
                pg_table.build_graph(cur, graph, len(self), self.provenance.dim)  # rows now
        self.manifest, self._split = manifest, manifest.get("split")

    def _replaced(self, cur: Any, docs: list[str], replace: bool) -> list[str]:
        """The ids to delete before the load, asked again under the meta lock: an id another
        writer committed meanwhile is replaced when this add replaces, else refused."""
        present = sorted(pg_table.present(cur, self.table, docs))
        if present and not replace:
            raise DuplicateIdError(
                f"{len(present)} ids were added by another writer while this add ran (first: "
                f"{present[:3]}); nothing was added: add again (replace=True, or "
                "--replace, to replace those documents)"
            )
        return present

    @_reaches(retry=False)
    def defer_graph(self, start: bool) -> None:
        """Adds skip the graph until close() builds it over every row (pg_table.defer_graph:
        `bertex index build`); `start` False only takes up a killed build's."""
        with self.conn.transaction(), self.conn.cursor() as cur:
            self.deferring = pg_table.defer_graph(cur, self.table, start)

    @_reaches(retry=False)
    def finish_graph(self) -> bool:
        with self.conn.transaction(), self.conn.cursor() as cur:
            return pg_table.finish_graph(cur, self.table, self.provenance.dim)

    def close(self, finish: bool = True) -> None:
        """A deferred graph is built first (a failure here leaves it deferred, and says so);
        not when `finish` is False (a build stopped by an error: the mark stays for the next)."""
        try:
            if self.deferring and finish and not self.closed:
                self.finish_graph()
        finally:
            self.closed = True
            self.conn.close()

    @_reaches(retry=False)
    def remove(self, ids: list[str]) -> int:
        """Every row of these ids, in one transaction with the counts: the rows removed."""
        with self.conn.transaction(), self.conn.cursor() as cur:
            _, self.kept = pg_table.lock_meta(cur, self.table)  # writers take turns
            gone_rows, gone_docs = self._delete(cur, ids)
            self._keep_counts(cur, -gone_rows, -gone_docs)
        return gone_rows

    def _delete(self, cur: Any, ids: list[str]) -> tuple[int, int]:
        """(rows, documents) deleted."""
        cur.execute(
            f"WITH d AS (DELETE FROM {self.table} WHERE id = ANY(%s) RETURNING id) "
            "SELECT count(*), count(DISTINCT id) FROM d",
            [list(ids)],
        )
        rows, docs = cur.fetchone()
        return int(rows), int(docs)

    def _keep_counts(self, cur: Any, rows: int, docs: int) -> None:
        if self.kept:
            pg_table.move_counts(cur, self.table, rows, docs)


@contextmanager
def _created_by_another(exists: OutputError) -> Iterator[None]:
    """Two creates of one table at once: the second's CREATE TABLE fails on the catalog's
    unique names; that is the table existing (a build then goes on as a resume)."""
    errors = _psycopg()[0].errors
    try:
        yield
    except (errors.DuplicateTable, errors.UniqueViolation):
        raise exists from None


@contextmanager
def _opening(conn: Any, shown: str, table: str) -> Iterator[None]:
    """Create or open: the server's refusals as one line, and the connection closed."""
    try:
        with refusals(shown, table):
            yield
    except _psycopg()[0].OperationalError as e:  # lost, a timeout: one line as well
        conn.close()
        raise StoreUnavailableError(f"PostgreSQL at {shown}: {_first(e)}") from None
    except BaseException:
        conn.close()
        raise


def _array(v: Any) -> np.ndarray:
    """A pgvector value (Vector from a binary result, or an array) as numpy (D,)."""
    return v.to_numpy() if hasattr(v, "to_numpy") else np.asarray(v)
