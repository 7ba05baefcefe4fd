"""The PostgreSQL store's table upkeep (bertex/index/pg_table.py): a bulk add rebuilds the HNSW
graph after loading, in its own transaction; a failed one leaves the old graph and no rows; a
user who may write but does not own the table adds without a rebuild. A real PostgreSQL."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from bertex.fake import fake_model
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
    _writer(pg_server, t)
    with Index.open(url.replace("postgres:@", f"w_{t}:@", 1), model=model) as ix:
        before = _graph(ix.store.conn, t)
        ix.add(TEXTS, ids=[f"d{i}" for i in range(18)])
        assert spied == [t]  # asked, and declined: not the owner
        assert (len(ix), _graph(ix.store.conn, t)) == (18, before)
        assert ix.search(TEXTS[5], k=1).ids == ["d5"]


def test_kill_9_during_a_postgres_build_then_resume_loses_and_duplicates_nothing(
    pg_server, tmp_path, bert_dir
):
    import os
    import signal
    import subprocess
    import sys
    import time

    corpus = tmp_path / "big.txt"
    corpus.write_text("".join(f"line {i} about a cat and a dog\n" for i in range(150)))
    t = f"bulk{next(_names)}"
    url = pg_server.get_uri() + f"&table={t}"
    argv = [sys.executable, "-m", "bertex.cli.main", "index", "build", url, "--input", str(corpus)]
    argv += ["--model", str(bert_dir), "--batch-rows", "3", "-q"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(argv, env=env)
    import psycopg

    with psycopg.connect(pg_server.get_uri(), autocommit=True) as watch:  # not the build's
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            made = watch.execute("SELECT to_regclass(%s)", [f"{t}_meta"]).fetchone()[0]
            if made and watch.execute(f"SELECT rows_ FROM {t}_meta").fetchone()[0] >= 12:
                break
            time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL  # killed mid-build, not finished
    with Index.open(url) as killed:
        assert 0 < len(killed) < 150 and (len(killed.store), len(killed)) == _counted(killed)
        assert _graph(killed.store.conn, t) == []  # the build defers the graph to its close
        assert killed.info()["graph"].startswith("deferred: a build is running or was killed")
        line = next(f"line {i} about a cat and a dog" for i in range(150) if i < len(killed))
        assert killed.search(line, k=1).texts == [line]  # exact meanwhile
    assert subprocess.run(argv, env=env, timeout=300, check=False).returncode == 0
    with Index.open(url) as index:
        assert (len(index.store), len(index)) == _counted(index) == (150, 150)
        assert index.search("line 77 about a cat and a dog", k=1).ids == ["77"]
        assert index.info()["graph"] == "hnsw" and len(_graph(index.store.conn, t)) == 1


def test_a_build_builds_the_graph_once_at_its_close_and_repair_finishes_a_killed_one(
    pg_server, model, tmp_path, bert_dir
):
    from bertex.cli.main import main

    fresh = pg_server.get_uri() + f"&table=ref{next(_names)}"
    with Index.create(fresh, model=model) as ref:
        want = _graph(ref.store.conn, ref.store.table)
    corpus = tmp_path / "c.txt"
    corpus.write_text("".join(f"{t}\n" for t in TEXTS), encoding="utf-8")
    t = f"defer{next(_names)}"
    url = pg_server.get_uri() + f"&table={t}"
    argv = ["index", "build", url, "--input", str(corpus), "--model", str(bert_dir)]
    assert main([*argv, "--batch-rows", "4", "-q"]) == 0
    with Index.open(url) as ix:
        assert _graph(ix.store.conn, t) == want and ix.info()["graph"] == "hnsw"
        ix.store.defer_graph(start=True)  # as a build that is then killed before its close
        ix.store.deferring = False
    with Index.open(url) as ix:
        assert _graph(ix.store.conn, t) == [] and ix.info()["graph"] != "hnsw"
    assert main(["index", "repair", url]) == 0
    with Index.open(url) as ix:
        assert _graph(ix.store.conn, t) == want and ix.info()["graph"] == "hnsw"


def _counted(ix):
    t = ix.store.table
    return ix.store.conn.execute(f"SELECT count(*), count(DISTINCT id) FROM {t}").fetchone()


def _old_table(pg_server, model):
    """A table as a bertex from before the kept counts made it: (name, URL)."""
    t = f"old{next(_names)}"
    url = pg_server.get_uri() + f"&table={t}"
    with Index.create(url, model=model) as ix:
        ix.add(["a cat", "a dog"], ids=["a", "b"])
        ix.store.conn.execute(f"ALTER TABLE {t}_meta DROP COLUMN rows_, DROP COLUMN documents_")
    return t, url


def _writer(pg_server, t):
    """A role w_<t> that may read and write table t's rows but does not own it."""
    pg_server.psql(
        f"CREATE ROLE w_{t} LOGIN; GRANT SELECT, INSERT, UPDATE, DELETE ON {t}, {t}_meta "
        f"TO w_{t}; GRANT USAGE ON SEQUENCE {t}_key_seq TO w_{t};"
    )


def _kept(ix):
    t = ix.store.table
    return ix.store.conn.execute(f"SELECT rows_, documents_ FROM {t}_meta").fetchone()


def test_two_writers_replacing_one_id_at_once_keep_one_copy_and_true_counts(pg_server, model):
    import threading
    import time

    url = pg_server.get_uri() + f"&table=race{next(_names)}"
    with Index.create(url, model=model) as a, Index.open(url, model=model) as b:
        a.add(["a cat", "a dog"], ids=["p", "q"])
        deleted = threading.Event()
        delete = a.store._delete

        def slow(cur, ids):  # a deletes p's old rows, then holds its transaction open
            out = delete(cur, ids)
            deleted.set()
            time.sleep(0.5)
            return out

        a.store._delete = slow
        first = threading.Thread(
            target=a.add, args=(["a horse"],), kwargs={"ids": ["p"], "replace": True}
        )
        first.start()
        deleted.wait(10)
        b.add(["a child"], ids=["p"], replace=True)  # waits for a's commit, then replaces it
        first.join()
        assert _counted(a) == _kept(a) == (2, 2)
        assert a.search("a child", k=2).texts == ["a child", "a dog"]
        assert b.remove(["p"]) == 1 and _counted(a) == _kept(a) == (1, 1)


def test_two_writers_adding_one_new_id_at_once_one_is_refused(pg_server, model):
    import threading

    import bertex

    url = pg_server.get_uri() + f"&table=race{next(_names)}"
    with Index.create(url, model=model) as a, Index.open(url, model=model) as b:
        a.add(["a cat"], ids=["q"])
        both_checked = threading.Barrier(2)
        errors = []
        for ix in (a, b):  # each has asked has_ids (x absent) before either commits
            add = ix.store.add

            def held(rows, replace, add=add, **kw):
                both_checked.wait(10)
                return add(rows, replace, **kw)

            ix.store.add = held

        def run(ix):
            try:
                ix.add(["a horse"], ids=["x"])
            except bertex.DuplicateIdError as e:
                errors.append(str(e))

        threads = [threading.Thread(target=run, args=(ix,)) for ix in (a, b)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert len(errors) == 1 and "added by another writer" in errors[0]
        assert _counted(a) == _kept(a) == (2, 2)


def test_a_writer_that_opened_before_the_counts_existed_keeps_them_after(pg_server, model):
    t, url = _old_table(pg_server, model)
    _writer(pg_server, t)
    with Index.open(url.replace("postgres:@", f"w_{t}:@", 1), model=model) as writer:
        assert writer.store.kept is False  # may write, may not add the columns
        with Index.open(url, model=model) as owner:  # the owner adds them now
            assert owner.store.kept is True
            writer.add(["a man", "a horse", "a child"], ids=list("cde"))
            writer.remove(["a"])
            assert _counted(owner) == _kept(owner) == (4, 4) and len(writer) == 4
            assert owner.search("a cat", k=5).ids == writer.search("a cat", k=5).ids


def test_a_read_only_session_opens_a_table_from_before_the_counts(pg_server, model):
    t, url = _old_table(pg_server, model)
    read_only = url + "&options=-cdefault_transaction_read_only%3Don"
    with Index.open(read_only, model=model) as ro:
        assert ro.store.kept is False and len(ro) == 2
        assert ro.search("a cat", k=1).ids == ["a"]


def _cut(pg_server, ix):
    """End this Index's server session from outside (as a restart or a dropped link would)."""
    pid = ix.store.conn.info.backend_pid
    pg_server.psql(f"SELECT pg_terminate_backend({pid});")


def test_a_lost_connection_is_one_line_and_the_next_call_connects_again(
    pg_server, model, monkeypatch
):
    import bertex

    url = pg_server.get_uri() + f"&table=lost{next(_names)}"
    with Index.create(url, model=model) as ix:
        ix.add(TEXTS[:6], ids=list("abcdef"))
        want = ix.search(TEXTS[2], k=3)
        _cut(pg_server, ix)
        got = ix.search(TEXTS[2], k=3)  # a read: asked again at once on a new connection
        assert got.ids == want.ids
        made = itertools.count()
        real = postgres._jsonb

        def cut_midway(value):
            if next(made) == 2:
                _cut(pg_server, ix)
            return real(value)

        monkeypatch.setattr(postgres, "_jsonb", cut_midway)
        with pytest.raises(bertex.StoreUnavailableError) as e:
            ix.add(TEXTS[6:], ids=list("ghijklmnopqr"))
        monkeypatch.setattr(postgres, "_jsonb", real)
        msg = str(e.value)
        assert msg.startswith("lost PostgreSQL at postgresql://") and len(msg.splitlines()) == 1
        assert "committed whole or not at all" in msg
        assert (len(ix), ix.search(TEXTS[2], k=3).ids) == (6, want.ids)  # connected again
        assert _counted(ix) == _kept(ix) == (6, 6)
    with pytest.raises(bertex.StoreUnavailableError, match="this Index was closed"):
        ix.search("a cat")


def test_repair_of_a_postgres_index_counts_again_and_never_shows_the_password(
    pg_server, model, capsys
):
    from bertex.cli.main import main

    t = f"rep{next(_names)}"
    pg_server.psql(f"CREATE ROLE o_{t} LOGIN PASSWORD 'hunter2' CREATEDB;")
    pg_server.psql(f"GRANT CREATE ON SCHEMA public TO o_{t};")
    url = pg_server.get_uri().replace("postgres:@", f"o_{t}:hunter2@", 1) + f"&table={t}"
    with Index.create(url, model=model) as ix:
        ix.add(TEXTS[:5], ids=list("abcde"))
        ix.store.conn.execute(f"UPDATE {t}_meta SET rows_ = 0, documents_ = 0")  # drifted
        assert len(ix) == 0
    assert main(["index", "repair", url]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == "repaired: 5 documents, 5 rows" and "hunter2" not in out.err
    with Index.open(url, model=model) as again:
        assert _kept(again) == _counted(again) == (5, 5)


def test_the_server_answers_503_while_its_postgres_is_gone_then_recovers(pg_server, model):
    import time

    from starlette.testclient import TestClient

    from bertex.server.app import create_app
    from bertex.server.config import ServerConfig
    from bertex.server.routes import install_search

    t = f"srv{next(_names)}"
    with Index.create(pg_server.get_uri() + f"&table={t}", model=model) as owner:
        owner.add(TEXTS[:6], ids=list("abcdef"))
    pg_server.psql(f"CREATE ROLE s_{t} LOGIN; GRANT SELECT ON {t}, {t}_meta TO s_{t};")
    index = Index.open(pg_server.get_uri().replace("postgres:@", f"s_{t}:@", 1) + f"&table={t}")
    app = create_app(model, ServerConfig())
    install_search(app, app.state.bertex, index)
    body = {"queries": [TEXTS[1]], "k": 2}
    with TestClient(app, base_url="http://127.0.0.1") as client:
        for _ in range(100):
            if client.get("/health").status_code == 200:
                break
            time.sleep(0.05)
        ok = client.post("/v1/search", json=body)
        assert ok.status_code == 200, ok.text
        pg_server.psql(f"ALTER ROLE s_{t} NOLOGIN;")  # gone: cut, and no way back in
        _cut(pg_server, index)
        r = client.post("/v1/search", json=body)
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert r.json()["error"]["code"] == "store_unavailable"
        assert "PostgreSQL at postgresql://" in r.json()["error"]["message"]
        pg_server.psql(f"ALTER ROLE s_{t} LOGIN;")
        again = client.post("/v1/search", json=body)
        assert again.status_code == 200 and again.json() == ok.json()
    app.state.bertex.engine.close()
    index.close()


def test_cli_build_from_vectors_into_postgres_says_what_it_did(
    pg_server, tmp_path, bert_dir, capsys
):
    from bertex.cli.main import main

    corpus = tmp_path / "c.txt"
    corpus.write_text("".join(f"{t}\n" for t in TEXTS[:7]), encoding="utf-8")
    out = tmp_path / "v.parquet"
    argv = ["embed", "--input", str(corpus), "--out", str(out), "--model", str(bert_dir)]
    assert main([*argv, "--keep-text", "--quiet"]) == 0
    url = pg_server.get_uri() + f"&table=from{next(_names)}"
    for added in (7, 0):  # built, then run again: resumed, nothing twice
        assert main(["index", "build", url, "--from", str(out)]) == 0
        said = capsys.readouterr().err.strip().splitlines()[-1]
        assert said == f"{added} documents added; 7 in the index"
    with Index.open(url) as ix:
        assert _counted(ix) == _kept(ix) == (7, 7)


def test_what_a_user_may_not_do_is_one_line_naming_the_permissions(pg_server, model, capsys):
    import bertex
    from bertex.cli.main import main

    t = f"perm{next(_names)}"
    owner_url = pg_server.get_uri() + f"&table={t}"
    with Index.create(owner_url, model=model) as ix:
        ix.add(TEXTS[:3], ids=list("abc"))
    pg_server.psql(f"CREATE ROLE n_{t} LOGIN; CREATE ROLE r_{t} LOGIN;")
    pg_server.psql(
        f"GRANT SELECT ON {t}, {t}_meta TO r_{t}; REVOKE CREATE ON SCHEMA public FROM PUBLIC;"
    )
    nobody = owner_url.replace("postgres:@", f"n_{t}:@", 1)
    reader = owner_url.replace("postgres:@", f"r_{t}:@", 1)
    for argv in (["search", nobody, "a cat"], ["index", "info", nobody]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "refused: permission denied" in err
        assert f"needs SELECT on {t} and {t}_meta" in err
    with Index.open(reader, model=model) as ro:
        assert ro.search("a cat", k=1).ids  # it may read
        for change in (lambda: ro.add(["a dog"], ids=["z"]), lambda: ro.remove(["a"])):
            with pytest.raises(bertex.StoreRefusedError, match="INSERT, UPDATE, DELETE"):
                change()
        assert len(ro) == 3
    new = reader.replace(f"table={t}", f"table={t}_new")
    with pytest.raises(bertex.StoreRefusedError, match="a build needs CREATE on the schema"):
        Index.create(new, model=model)


def test_a_password_given_as_a_parameter_is_never_shown(pg_server, model, capsys):
    from bertex.cli.main import main

    url = pg_server.get_uri() + f"&table=pw{next(_names)}&password=s3cretPW"
    with Index.create(url, model=model) as ix:
        ix.add(TEXTS[:2], ids=list("ab"))
        assert "s3cretPW" not in ix.info()["path"]
    assert main(["index", "info", url]) == 0
    assert main(["search", url.replace("table=pw", "table=nosuch"), "a cat"]) == 2
    said = capsys.readouterr()
    assert "s3cretPW" not in said.out + said.err and "no index table nosuch" in said.err


def test_bad_rows_of_two_postgres_builds_are_reported_per_table(
    pg_server, tmp_path, bert_dir, monkeypatch
):
    from bertex.cli.main import main

    monkeypatch.chdir(tmp_path)
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    good.write_text('{"id": "a", "text": "a cat"}\n', encoding="utf-8")
    bad.write_text('{"id": "a", "text": "a cat"}\n{"id": "b"}\n', encoding="utf-8")
    tables = [f"errs{next(_names)}", f"errs{next(_names)}"]
    for table, corpus in zip(tables, (bad, good), strict=True):
        url = pg_server.get_uri() + f"&table={table}"
        assert (
            main(["index", "build", url, "--input", str(corpus), "--model", str(bert_dir), "-q"])
            == 0
        )
    report = tmp_path / f"{tables[0]}.errors.jsonl"
    assert [json.loads(x)["id"] for x in report.read_text().splitlines()] == ["b"]
    assert not (tmp_path / f"{tables[1]}.errors.jsonl").exists()


def test_a_replacing_add_racing_a_new_id_replaces_it_rather_than_refusing(pg_server, model):
    import threading

    import bertex

    url = pg_server.get_uri() + f"&table=race{next(_names)}"
    with Index.create(url, model=model) as a, Index.open(url, model=model) as b:
        a.add(["a cat"], ids=["q"])
        both_checked = threading.Barrier(2)
        for ix in (a, b):  # each has found x absent before either commits
            add = ix.store.add

            def held(rows, replace, add=add, **kw):
                both_checked.wait(10)
                return add(rows, replace, **kw)

            ix.store.add = held
        said = {}

        def run(name, ix, **kw):
            try:
                ix.add([f"a horse from {name}"], ids=["x"], **kw)
                said[name] = "added"
            except bertex.DuplicateIdError:
                said[name] = "refused"

        threads = [
            threading.Thread(target=run, args=("a", a)),
            threading.Thread(target=run, args=("b", b), kwargs={"replace": True}),
        ]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert said["b"] == "added"  # replace=True is never refused
        assert _counted(a) == _kept(a) == (2, 2)


def test_a_replacing_build_with_a_new_split_records_it(pg_server, tmp_path, bert_dir):
    from bertex.cli.main import main

    corpus = tmp_path / "c.txt"
    corpus.write_text("A cat sat. It was happy.\nA dog ran.\n", encoding="utf-8")
    url = pg_server.get_uri() + f"&table=split{next(_names)}"
    build = ["index", "build", url, "--input", str(corpus), "--model", str(bert_dir), "-q"]
    assert main(build) == 0
    assert main([*build, "--split", "sentence", "--replace"]) == 0
    with Index.open(url) as ix:
        assert (ix.info()["split"], len(ix.store), len(ix)) == ("sentence", 3, 2)
    assert main([*build, "--split", "sentence"]) == 0  # a resume of the new way is accepted


def test_documents_postgres_cannot_store_are_errors_at_their_position(pg_server, model):
    import bertex

    url = pg_server.get_uri() + f"&table=nul{next(_names)}"
    with Index.create(url, model=model) as ix:
        got = ix.add(["a cat", "a d\x00og", "a man"], ids=list("abc"), on_error="collect")
        assert (got.documents, [e.index for e in got.errors]) == (2, [1])
        assert "NUL character" in str(got.errors[0])
        with pytest.raises(bertex.InvalidTextError, match="NUL"):
            ix.add(["a horse"], ids=["d"], fields={"src": ["x\x00"]})
        assert sorted(ix.search("a cat", k=5).ids) == ["a", "c"]
        from bertex.sinks.read import Stored

        texts = ["a horse", "a gi\x00rl"]
        out = model.embed(texts)
        stored = Stored(["e", "f"], out.vectors, out.meta.to_dict(), texts)
        with pytest.raises(bertex.InvalidTextError, match="input 1: a NUL"):
            ix.add(stored)  # a bertex output: refused whole
        assert len(ix) == 2


def test_table_names_postgres_would_not_take_are_refused_by_name(pg_server, model):
    import bertex

    for name in ("order", "user", "t" * 56, "caf\u00e9"):
        with pytest.raises(bertex.OptionError, match="table="):
            Index.create(pg_server.get_uri() + f"&table={name}", model=model)


def test_a_password_libpq_quotes_back_is_never_shown(pg_server):
    import bertex
    from bertex.index.pg_connect import split_url

    url = pg_server.get_uri().replace("postgres:@", "postgres:my%pw!secret@", 1) + "&table=t"
    with pytest.raises(bertex.StoreUnavailableError) as e:
        Index.open(url)
    assert "secret" not in str(e.value) and "***" in str(e.value)
    conn, _, shown = split_url("postgresql://u@h/db?password=a+b&table=t")
    assert "password=a%2Bb" in conn and "a+b" not in shown  # libpq reads + as +


def test_an_open_that_times_out_on_a_lock_is_one_line(pg_server, model):
    import psycopg

    import bertex

    t, url = _old_table(pg_server, model)
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as writer:
        with writer.transaction():
            writer.execute(f"SELECT 1 FROM {t}_meta FOR UPDATE")  # a writer mid-add
            with pytest.raises(bertex.StoreUnavailableError, match="lock timeout"):
                Index.open(url + "&options=-clock_timeout%3D200", model=model)


def test_the_server_says_a_refusal_is_not_for_a_retry():
    from bertex.errors import StoreRefusedError, StoreUnavailableError
    from bertex.server.errors import to_api_error

    refused, lost = to_api_error(StoreRefusedError("no")), to_api_error(StoreUnavailableError("x"))
    assert (refused.status, refused.code, refused.headers) == (500, "store_refused", None)
    assert (lost.status, lost.code, lost.headers) == (
        503,
        "store_unavailable",
        {"Retry-After": "1"},
    )


def _killed_build(pg_server, model):
    """A table whose build was killed after loading rows, its graph still deferred."""
    t = f"kb{next(_names)}"
    url = pg_server.get_uri() + f"&table={t}"
    ix = Index.create(url, model=model)
    ix.store.defer_graph(start=True)
    ix.add(TEXTS[:6], ids=list("abcdef"))
    ix.store.deferring = False  # as if killed: the close never builds it
    ix.close()
    return t, url


def test_a_writer_who_does_not_own_a_killed_build_resumes_it_and_the_owner_finishes(
    pg_server, model
):
    from bertex.cli.main import main

    t, url = _killed_build(pg_server, model)
    _writer(pg_server, t)
    with Index.open(url.replace("postgres:@", f"w_{t}:@", 1), model=model) as w:
        w.store.defer_graph(start=False)  # what a build run again does
        assert w.store.deferring is False  # not the owner: it cannot make the graph
        w.add(TEXTS[6:9], ids=list("ghi"))
    with Index.open(url, model=model) as ix:  # the writer's close raised nothing
        assert ix.info()["graph"].startswith("deferred") and len(ix) == 9
    assert main(["index", "repair", url]) == 0
    with Index.open(url, model=model) as ix:
        assert ix.info()["graph"] == "hnsw" and len(_graph(ix.store.conn, t)) == 1


def test_a_build_stopped_by_an_error_leaves_the_graph_for_the_next_one(pg_server, model):
    url = pg_server.get_uri() + f"&table=stop{next(_names)}"
    with pytest.raises(KeyboardInterrupt):
        with Index.create(url, model=model) as ix:
            ix.store.defer_graph(start=True)
            ix.add(TEXTS[:4], ids=list("abcd"))
            raise KeyboardInterrupt  # Ctrl-C: no graph built on the way out
    with Index.open(url, model=model) as again:
        assert again.info()["graph"].startswith("deferred") and len(again) == 4
        again.store.defer_graph(start=False)  # the next build takes it up
    with Index.open(url, model=model) as done:
        assert done.info()["graph"] == "hnsw"


def test_a_writer_opened_before_a_replacing_build_keeps_its_new_split(pg_server, model):
    url = pg_server.get_uri() + f"&table=sp{next(_names)}"
    with Index.create(url, model=model) as ix:
        ix.add(["A cat sat. It was happy."], ids=["a"])
    with Index.open(url, model=model) as writer, Index.open(url, model=model) as builder:
        builder.store.manifest["split"] = "sentence"  # as `bertex index build --replace` does
        builder.add(["A cat sat. It was happy."], ids=["a"], split="sentence", replace=True)
        writer.add(["A dog ran."], ids=["b"])  # read "none" at its open
    with Index.open(url, model=model) as ix:
        assert ix.split == "sentence"
