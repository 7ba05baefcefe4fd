"""The PostgreSQL store's table upkeep (bertex/index/pg_table.py): a bulk add rebuilds the HNSW
graph after loading, in its own transaction; a failed one leaves the old graph and no rows; a
user who may write but does not own the table adds without a rebuild. A real PostgreSQL."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bertex.backends.fake import fake_model
from bertex.index import Index, pg_table, postgres

TEXTS = [
    f"a {a} {b} the {c}"
    for a, b, c in itertools.product(
        ["dog", "cat", "man"], ["runs", "eats", "plays"], ["horse", "guitar"]
    )
]  # 18 distinct sentences
_names = itertools.count()


@pytest.fixture(scope="module")
def model():
    return fake_model()


def _graph(conn, t):
    """The HNSW index definitions of table t, without their names."""
    rows = conn.execute(
        "SELECT pg_get_indexdef(c.oid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid = %s::regclass AND a.amname = 'hnsw'",
        [t],
    ).fetchall()
    return sorted(r[0].split(" USING ", 1)[1] for r in rows)


@pytest.fixture
def spied(monkeypatch):
    monkeypatch.setattr(pg_table, "BULK_MIN_ROWS", 5)
    calls = []
    drop = pg_table.drop_graph

    def spy(cur, t):
        calls.append(t)
        return drop(cur, t)

    monkeypatch.setattr(pg_table, "drop_graph", spy)
    return calls


def test_a_bulk_add_rebuilds_the_graph_and_search_uses_it(pg_server, model, tmp_path, spied):
    url = pg_server.get_uri() + f"&table=bulk{next(_names)}"
    with Index.create(url, model=model) as pg, Index.create(tmp_path / "e", model=model) as emb:
        t, conn = pg.store.table, pg.store.conn
        before = _graph(conn, t)
        for ix in (pg, emb):
            ix.add(TEXTS[:12], ids=[f"d{i}" for i in range(12)])
        assert spied == [t] and _graph(conn, t) == before and len(before) == 1
        pg.add(TEXTS[12:], ids=[f"d{i}" for i in range(12, 18)])  # 6 rows into 12: no rebuild
        emb.add(TEXTS[12:], ids=[f"d{i}" for i in range(12, 18)])
        assert spied == [t]
        q = pg.store.conn.execute("SELECT embedding FROM %s LIMIT 1" % t).fetchone()[0]
        conn.execute("SET enable_seqscan = off")  # 18 rows: only so the plan shows the graph
        plan = conn.execute(
            f"EXPLAIN SELECT id FROM {t} ORDER BY embedding <=> %s LIMIT 3", [q]
        ).fetchall()
        conn.execute("RESET enable_seqscan")
        assert "Index Scan using" in " ".join(r[0] for r in plan)
        postgres.EXACT_MAX_ROWS, saved = 0, postgres.EXACT_MAX_ROWS
        try:
            got, want = pg.search(TEXTS[:4], k=5), emb.search(TEXTS[:4], k=5)
        finally:
            postgres.EXACT_MAX_ROWS = saved
        for a, b in zip(got, want, strict=True):
            assert a.ids == b.ids
            np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)


def test_a_bulk_add_that_fails_midway_leaves_the_graph_and_no_rows(
    pg_server, model, spied, monkeypatch
):
    url = pg_server.get_uri() + f"&table=bulk{next(_names)}"
    with Index.create(url, model=model) as pg:
        t, conn = pg.store.table, pg.store.conn
        before = _graph(conn, t)
        made = itertools.count()
        real = postgres._jsonb

        def breaks(value):
            if next(made) == 7:
                raise RuntimeError("the disk is full")
            return real(value)

        monkeypatch.setattr(postgres, "_jsonb", breaks)
        with pytest.raises(RuntimeError, match="the disk is full"):
            pg.add(TEXTS, ids=[f"d{i}" for i in range(18)])
        assert spied == [t]
    monkeypatch.setattr(postgres, "_jsonb", real)
    with Index.open(url, model=model) as again:
        assert len(again) == 0 and len(again.store) == 0
        assert _graph(again.store.conn, t) == before and len(before) == 1
        again.add(TEXTS[:3], ids=list("abc"))
        assert again.search(TEXTS[1], k=1).ids == ["b"]


def test_a_writer_who_does_not_own_the_table_adds_without_a_rebuild(pg_server, model, spied):
    t = f"bulk{next(_names)}"
    url = pg_server.get_uri() + f"&table={t}"
    Index.create(url, model=model).close()
    pg_server.psql(
        f"CREATE ROLE w_{t} LOGIN; GRANT SELECT, INSERT, UPDATE, DELETE ON {t}, {t}_meta "
        f"TO w_{t}; GRANT USAGE ON SEQUENCE {t}_key_seq TO w_{t};"
    )
    with Index.open(url.replace("postgres:@", f"w_{t}:@", 1), model=model) as ix:
        before = _graph(ix.store.conn, t)
        ix.add(TEXTS, ids=[f"d{i}" for i in range(18)])
        assert spied == [t]  # asked, and declined: not the owner
        assert (len(ix), _graph(ix.store.conn, t)) == (18, before)
        assert ix.search(TEXTS[5], k=1).ids == ["d5"]
