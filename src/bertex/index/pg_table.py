"""The PostgreSQL store's table upkeep, apart from its reads and writes (postgres.py):

- the counts of rows and documents kept in `<table>_meta` (a table from before they were kept
  gets them when a user who may change it opens it), and the meta row's lock that makes
  writers take turns;
- the HNSW graph rebuilt after a bulk load: pgvector builds a graph over loaded rows in memory
  several times faster than it inserts rows one by one into an existing graph ("add any
  indexes after loading the initial data", its docs say), so an add at least BULK_MIN_ROWS
  long into a table holding fewer rows than it brings drops the graph, loads, and builds it
  again, all in the add's one transaction (a failed add leaves the old graph). Other sessions'
  searches of that table wait for the add to commit;
- the graph a build defers to its close (`bertex index build`), marked in the manifest until
  it is built;
- the field types the manifest records.
"""

from __future__ import annotations

from typing import Any

from .pg_connect import _jsonb

COUNTS = "rows_ bigint NOT NULL DEFAULT 0, documents_ bigint NOT NULL DEFAULT 0"
BULK_MIN_ROWS = 5_000
GRAPH_MEMORY_MAX = 2**30  # maintenance_work_mem for a rebuild is raised at most to this


def kept_counts(conn: Any, t: str, errors: Any, recount: bool = False) -> bool:
    """Whether `<t>_meta` keeps the counts. A table from before they were kept gets them here
    (and `recount` counts them again: `bertex index repair`) when this session may change it;
    False when it may not (a read-only user or server): each call then counts the table."""
    sql = "SELECT 1 FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'documents_'"
    if not recount and conn.execute(sql, [f"{t}_meta"]).fetchone() is not None:
        return True
    if not recount and not _owns(conn, f"{t}_meta"):  # it could not: no lock taken to learn it
        return False
    try:
        with conn.transaction():
            # the meta table first, as every add and remove locks it first: no deadlock
            conn.execute(f"LOCK TABLE {t}_meta IN ACCESS EXCLUSIVE MODE")
            conn.execute(f"LOCK TABLE {t} IN SHARE ROW EXCLUSIVE MODE")  # no add meanwhile
            conn.execute(
                f"ALTER TABLE {t}_meta ADD COLUMN IF NOT EXISTS "
                + COUNTS.replace(", ", ", ADD COLUMN IF NOT EXISTS ")
            )
            conn.execute(
                f"UPDATE {t}_meta SET rows_ = (SELECT count(*) FROM {t}), "
                f"documents_ = (SELECT count(DISTINCT id) FROM {t})"
            )
    except (errors.InsufficientPrivilege, errors.ReadOnlySqlTransaction):
        if recount:
            raise
        return False
    return True


def lock_meta(cur: Any, t: str) -> tuple[dict[str, Any], bool]:
    """The first statement of every add and remove: the meta row locked until commit, so
    writers go one at a time and each sees the rows the one before committed. (The manifest
    as committed, whether the counts are kept.)"""
    cur.execute(f"SELECT manifest, to_jsonb(m) ? 'documents_' FROM {t}_meta AS m FOR UPDATE")
    manifest, kept = cur.fetchone()
    return manifest, bool(kept)


def read_count(conn: Any, t: str, kept: str, counted: str) -> int:
    """A kept count, or (a table whose counts are not kept) the table counted."""
    got = conn.execute(f"SELECT to_jsonb(m) -> %s FROM {t}_meta AS m", [kept]).fetchone()[0]
    if got is None:
        got = conn.execute(f"SELECT {counted} FROM {t}").fetchone()[0]
    return int(got)


def present(cur: Any, t: str, ids: list[str]) -> set[str]:
    """Which of these ids have rows in table t (through a connection or a cursor)."""
    sql = f"SELECT DISTINCT id FROM {t} WHERE id = ANY(%s)"
    return {r[0] for r in cur.execute(sql, [list(ids)]).fetchall()}


def move_counts(cur: Any, t: str, rows: int, docs: int) -> None:
    """Move the kept counts in the caller's transaction (the meta row's lock orders concurrent
    writers, so each adds to the other's committed counts)."""
    sql = f"UPDATE {t}_meta SET rows_ = rows_ + %s, documents_ = documents_ + %s"
    cur.execute(sql, [rows, docs])


def _owns(conn: Any, relation: str) -> bool:
    """Whether this session's user owns the relation (or is a member of its owner)."""
    sql = (
        "SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class WHERE oid = %s::regclass"
    )
    return bool(conn.execute(sql, [relation]).fetchone()[0])


def rebuilds_graph(adding: int, holding: int) -> bool:
    return adding >= BULK_MIN_ROWS and adding > holding


def drop_graph(cur: Any, t: str) -> list[str]:
    """Lock the table, drop its HNSW index(es): the statements that make them again (none
    when this user does not own the table: then its rows join the graph one by one)."""
    if not _owns(cur, t):
        return []
    cur.execute(f"LOCK TABLE {t} IN ACCESS EXCLUSIVE MODE")  # held to the add's commit
    cur.execute(
        "SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
        "WHERE i.indrelid = %s::regclass AND a.amname = 'hnsw'",
        [t],
    )
    found = cur.fetchall()
    for name, _ in found:
        cur.execute(f'DROP INDEX "{name}"')
    return [definition for _, definition in found]


def build_graph(cur: Any, definitions: list[str], rows: int, dim: int) -> None:
    """Make the dropped indexes again over the loaded rows, with room for the graph in
    memory: maintenance_work_mem raised (never lowered) for this transaction."""
    need = int(rows * (4 * dim + 400) * 1.3)  # vectors + neighbour lists, with headroom
    cur.execute("SELECT pg_size_bytes(current_setting('maintenance_work_mem'))")
    if need > cur.fetchone()[0]:
        mb = min(need, GRAPH_MEMORY_MAX) // 2**20
        cur.execute(f"SET LOCAL maintenance_work_mem = '{mb}MB'")
    for definition in definitions:
        cur.execute(definition)


DEFERRED = "graph_deferred"  # the manifest's key: the HNSW statements a build runs at its close


def defer_graph(cur: Any, t: str, start: bool) -> bool:
    """A build defers the graph: its many adds load rows only, and its close builds the graph
    over all of them at once (several times faster than rows joining it one by one; searches
    meanwhile scan the rows, exact). `start`: drop the graph now (a new index); else only take
    up a build that was killed before its close. False: nothing deferred (not the owner)."""
    if not _owns(cur, t):  # only the owner may drop and make the graph: rows join it as they come
        return False
    if not start and not _marked(cur, t):  # a plain read first: nothing locked for nothing
        return False
    manifest, _ = lock_meta(cur, t)
    if manifest.get(DEFERRED):
        return True
    if not start:
        return False
    definitions = drop_graph(cur, t)
    if definitions:
        cur.execute(
            f"UPDATE {t}_meta SET manifest = manifest || %s", [_jsonb({DEFERRED: definitions})]
        )
    return bool(definitions)


def finish_graph(cur: Any, t: str, dim: int) -> bool:
    """Build a deferred graph over every row, and clear the mark (one transaction: a build
    killed here leaves the mark, and the next build or `bertex index repair` finishes it)."""
    if not _owns(cur, t):
        return False  # the owner's `bertex index repair` finishes it
    manifest, _ = lock_meta(cur, t)
    definitions = manifest.get(DEFERRED)
    if not definitions:
        return False  # another build finished it
    rows = cur.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
    build_graph(cur, definitions, int(rows), dim)
    cur.execute(f"UPDATE {t}_meta SET manifest = manifest - %s", [DEFERRED])
    return True


def _marked(conn: Any, t: str) -> bool:
    return bool(conn.execute(f"SELECT manifest ? %s FROM {t}_meta", [DEFERRED]).fetchone()[0])


def graph_state(conn: Any, t: str) -> str:
    """What info() says of the graph."""
    if _marked(conn, t):
        return (
            "deferred: a build is running or was killed (searches are exact meanwhile); "
            "run it again, or `bertex index repair`"
        )
    return "hnsw"


def merged_types(old: dict[str, str], fields: dict[str, list[Any]]) -> dict[str, str]:
    """Field types: numeric while every add gave numbers, else text."""
    new = {n: "text" if old.get(n, t) != t else t for n, t in _types(fields).items()}
    return {**old, **new}


def _types(fields: dict[str, list[Any]]) -> dict[str, str]:
    """numeric when every non-null value is a number, else text."""

    def kind(values: list[Any]) -> str:
        vals = [v for v in values if v is not None]
        nums = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals)
        return "numeric" if vals and nums else "text"

    return {name: kind(values) for name, values in fields.items()}
