"""The embedded index's files as it grows: one segment per add, merged so that they stay few and
no add rewrites the whole index; the graph trailing the rows and caught up; an index of the
format before segments; repair with a lost segment; a field whose type changes; repeated ids."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import bertex
from bertex.fake import fake_model
from bertex.index import Index, embedded, files, graph, segments

WORDS = "cat dog horse man woman child guitar music park river house tree".split()


def _texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=5)) for _ in range(n)]


@pytest.fixture(scope="module")
def model():
    return fake_model()


def _reference(model, texts, query, k):
    sims = model.similarity([query], texts)[0]
    order = np.argsort(-sims, kind="stable")[:k]
    return [f"t{i}" for i in order], sims[order]


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_many_adds_keep_few_segments_and_rewrite_little(tmp_path, model, monkeypatch):
    texts = _texts(400, 0)
    ix = Index.create(tmp_path / "ix", model=model)
    written: list[int] = []
    real = segments.write
    monkeypatch.setattr(
        segments,
        "write",
        lambda f, n, rows, m: (written.append(rows.num_rows), real(f, n, rows, m)),
    )
    for start in range(0, 400, 8):
        ix.add(texts[start : start + 8], ids=[f"t{i}" for i in range(start, start + 8)])
        assert len(written) == 1  # an add writes one segment file
        written.clear()
    n_segments = ix.info()["segments"]
    assert n_segments <= math.log2(400 / 8) + 1
    # what a full rewrite per add would have cost, against what the merges wrote
    manifest = json.loads((tmp_path / "ix" / "manifest.json").read_text())
    assert sum(s["rows"] for s in manifest["segments"]) == 400
    ix.close()
    names = _files(tmp_path / "ix")
    assert names == sorted(
        [s["file"] for s in manifest["segments"]]
        + [manifest_graph(tmp_path), "manifest.backup.json", "manifest.json"]
    )
    query = "a woman plays the guitar in the park"
    ids, scores = _reference(model, texts, query, 5)
    again = Index.open(tmp_path / "ix", model=model)
    h = again.search(query, k=5)  # 400 rows: numpy over every row
    assert h.ids == ids and h.texts == [texts[int(i[1:])] for i in h.ids]
    np.testing.assert_allclose(h.scores, scores, atol=1e-5)
    _assert_graph_holds(again, model, texts)


def _assert_graph_holds(ix, model, texts):
    """The graph holds every row under its key, with that row's (int8-rounded) unit vector,
    and a graph search re-scores what it finds exactly."""
    keys = np.sort(np.asarray(ix.store.graph.keys, dtype=np.int64))
    np.testing.assert_array_equal(keys, np.arange(len(texts)))  # ids t<i> were added in order
    v = model.embed(texts).vectors
    unit = v / np.linalg.norm(v, axis=1, keepdims=True)  # (N, D)
    got = np.asarray(ix.store.graph.get(keys), dtype=np.float32).reshape(len(texts), -1)
    got /= np.linalg.norm(got, axis=1, keepdims=True)
    assert np.min(np.sum(got * unit, axis=1)) > 0.99  # int8 copies of the same vectors
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(embedded, "EXACT_MAX_ROWS", 0)
        h = ix.search(texts[-1], k=3)
    exact = model.similarity([texts[-1]], [texts[int(i[1:])] for i in h.ids])[0]
    np.testing.assert_allclose(h.scores, exact, atol=1e-5)


def manifest_graph(tmp_path):
    return json.loads((tmp_path / "ix" / "manifest.json").read_text())["graph"]["file"]


def test_merge_rule_keeps_segments_logarithmic():
    sizes: list[int] = []
    rewritten = 0
    for _ in range(1000):
        sizes.append(256)
        m = segments.tail_to_merge(sizes)
        if m:
            rewritten += sum(sizes[-m - 1 :])
            sizes[-m - 1 :] = [sum(sizes[-m - 1 :])]
        assert len(sizes) <= math.log2(sum(sizes) / 256) + 1
    assert sum(sizes) == 256_000
    assert rewritten <= 256_000 * (math.log2(1000) + 1)  # not 1000 * 500 * 256 (quadratic)


def test_the_graph_trails_the_rows_and_catches_up(tmp_path, model, monkeypatch):
    monkeypatch.setattr(graph, "SAVE_ROWS", 20)
    monkeypatch.setattr(embedded, "EXACT_MAX_ROWS", 0)  # every search walks the graph
    texts = _texts(50, 1)
    ix = Index.create(tmp_path / "ix", model=model)
    for start in range(0, 50, 5):
        ix.add(texts[start : start + 5], ids=[f"t{i}" for i in range(start, start + 5)])
    manifest = json.loads((tmp_path / "ix" / "manifest.json").read_text())
    assert 0 < manifest["graph"]["next_key"] < manifest["next_key"]  # saved, and behind
    # not closed (as after a kill -9): a new reader catches the graph up in memory
    again = Index.open(tmp_path / "ix", model=model)
    assert len(again.store.graph_.usearch) == 40  # the saved graph, before the catch-up
    _assert_graph_holds(again, model, texts)
    again.close()  # a reader's close writes nothing (its folder may be read-only)
    assert json.loads((tmp_path / "ix" / "manifest.json").read_text()) == manifest
    ix.close()
    manifest = json.loads((tmp_path / "ix" / "manifest.json").read_text())
    assert manifest["graph"]["next_key"] == manifest["next_key"]
    closed = Index.open(tmp_path / "ix", model=model)
    assert len(closed.store.graph_.usearch) == 50  # saved whole: no catch-up needed
    _assert_graph_holds(closed, model, texts)
    assert closed.remove(["t49"]) == 1
    again = Index.open(tmp_path / "ix", model=model)
    assert len(again) == 49 and len(again.store.graph_.usearch) == 49
    assert "t49" not in again.search(texts[49], k=49).ids


def test_an_index_of_the_format_before_segments_opens_searches_and_grows(tmp_path, model):
    folder = tmp_path / "ix"
    texts = _texts(12, 2)
    with Index.create(folder, model=model) as ix:
        ix.add(texts[:8], ids=[f"t{i}" for i in range(8)])
    # rewrite it the way bertex wrote indexes before segments: rows-<g>, graph-<g>, format 1
    m = json.loads((folder / "manifest.json").read_text())
    (folder / m["segments"][0]["file"]).rename(folder / "rows-7.parquet")
    (folder / m["graph"]["file"]).rename(folder / "graph-7.usearch")
    old = {k: m[k] for k in ("next_key", "provenance")} | {"format": 1, "generation": 7}
    (folder / "manifest.json").write_text(json.dumps(old))
    again = Index.open(folder, model=model)
    assert len(again) == 8
    again.add(texts[8:], ids=[f"t{i}" for i in range(8, 12)])
    assert again.remove(["t0"]) == 1
    h = Index.open(folder, model=model).search(texts[9], k=1)
    assert h.ids == ["t9"] and json.loads((folder / "manifest.json").read_text())["format"] == 2
    assert not (folder / "rows-7.parquet").exists() and not (folder / "graph-7.usearch").exists()


def test_repair_keeps_the_readable_segments_and_counts_the_lost(tmp_path, model):
    folder = tmp_path / "ix"
    texts = _texts(24, 3)
    ix = Index.create(folder, model=model)
    for start, n in ((0, 16), (16, 4), (20, 4)):  # segments of 16, 4 and 4 rows... then merged
        ix.add(texts[start : start + n], ids=[f"t{i}" for i in range(start, start + n)])
    segs = json.loads((folder / "manifest.json").read_text())["segments"]
    assert [s["rows"] for s in segs] == [16, 8]
    (folder / segs[1]["file"]).write_bytes(b"PAR1 broken")
    with pytest.raises(bertex.IndexCorruptError, match="bertex index repair"):
        Index.open(folder)
    repaired = Index.repair(folder)
    assert len(repaired) == 16 and repaired.store.lost.lost_rows == 8
    assert repaired.store.lost.lost_files == [segs[1]["file"]]
    assert Index.open(folder, model=model).search(texts[3], k=1).ids == ["t3"]
    # no manifest: its backup, then the newest readable segment's own copy, name the segments
    (folder / "manifest.json").unlink()
    assert len(Index.repair(folder)) == 16
    (folder / "manifest.json").unlink()
    (folder / "manifest.backup.json").unlink()
    assert len(Index.repair(folder)) == 16


def test_a_field_whose_type_changes_is_refused_and_changes_nothing(tmp_path, model):
    ix = Index.create(tmp_path / "ix", model=model)
    ix.add(["a cat", "a dog"], ids=["a", "b"], fields={"year": [2020, 2021]})
    with pytest.raises(bertex.OptionError, match="year"):
        ix.add(["a horse"], ids=["c"], fields={"year": ["last year"]})
    with pytest.raises(bertex.OptionError, match="one type per field"):
        ix.add(["a horse", "a man"], ids=["c", "d"], fields={"year": [2020, "x"]})
    again = Index.open(tmp_path / "ix", model=model)
    assert len(again) == 2 and again.search("a cat", k=5, where="year>=2021").ids == ["b"]
    ix.add(["a horse"], ids=["c"], fields={"year": [2022]})  # the index still takes adds
    assert len(Index.open(tmp_path / "ix")) == 3


def test_an_id_given_twice_in_one_add_is_named(tmp_path, model):
    ix = Index.create(tmp_path / "ix", model=model)
    with pytest.raises(bertex.DuplicateIdError, match=r"'x' is given twice .*positions 0 and 2"):
        ix.add(["a cat", "a dog", "a horse"], ids=["x", "y", "x"])
    assert len(ix) == 0 and files.read_manifest(tmp_path / "ix")["next_key"] == 0


def test_a_second_writer_is_refused_and_loses_nothing(tmp_path, model):
    first = Index.create(tmp_path / "ix", model=model)
    first.add(["a cat"], ids=["a"])
    second = Index.open(tmp_path / "ix", model=model)
    first.add(["a dog"], ids=["b"])  # committed after `second` opened the index
    with pytest.raises(bertex.IndexChangedError, match="open it again"):
        second.add(["a horse"], ids=["c"])
    with pytest.raises(bertex.IndexChangedError):
        second.remove(["a"])
    assert sorted(Index.open(tmp_path / "ix", model=model).search("a cat", k=5).ids) == ["a", "b"]
    third = Index.open(tmp_path / "ix", model=model)
    third.add(["a horse"], ids=["c"])
    assert len(Index.open(tmp_path / "ix")) == 3


def test_a_writer_holding_the_lock_keeps_others_out(tmp_path, model):
    from bertex.jobstate import locked

    ix = Index.create(tmp_path / "ix", model=model)
    with locked(tmp_path / "ix" / "writer"):  # as another process's add holds it
        with pytest.raises(bertex.OutputLockedError, match=r"writing .*PID \d+.*run again"):
            ix.add(["a cat"], ids=["a"])
    ix.add(["a cat"], ids=["a"])
    assert len(Index.open(tmp_path / "ix")) == 1


def test_texts_that_cannot_be_embedded_are_errors_with_their_position(tmp_path, model):
    ix = Index.create(tmp_path / "ix", model=model)
    with pytest.raises(bertex.InvalidTextError, match="input 0: expected a string, got NoneType"):
        ix.add([None], ids=["n"])
    got = ix.add([123, "a cat"], ids=["i", "ok"], on_error="collect")
    assert (got.documents, [e.index for e in got.errors]) == (1, [0])
    for split in (None, "sentence", "window"):  # a batch of nothing but blank texts
        got = ix.add(["", "   "], ids=[f"e{split}", f"w{split}"], on_error="collect", split=split)
        assert (got.documents, got.rows, len(got.errors)) == (0, 0, 2)
    assert len(Index.open(tmp_path / "ix", model=model)) == 1


def test_bad_where_forms_are_option_errors(tmp_path, model):
    ix = Index.create(tmp_path / "ix", model=model)
    ix.add(["a cat", "a dog"], ids=["a", "b"], fields={"flag": [True, False], "n": [1, 2]})
    for where in (5, True, {"flag": ["x"]}):
        with pytest.raises(bertex.OptionError, match="where"):
            ix.search("a cat", where=where)
    with pytest.raises(bertex.OptionError, match="a number"):
        ix.search("a cat", where={"n": True})
    assert ix.search("a cat", k=2, where="flag=true").ids == ["a"]
    assert ix.search("a cat", k=2, where={"flag": False}).ids == ["b"]


def test_leftovers_of_a_killed_create_and_a_lost_manifest(tmp_path, model):
    folder = tmp_path / "ix"
    folder.mkdir()
    (folder / "rows-0.parquet.tmp").write_bytes(b"half")  # killed inside Index.create
    Index.create(folder, model=model).add(["a cat"], ids=["a"])
    (folder / "manifest.json").unlink()
    with pytest.raises(bertex.OutputError, match="bertex index repair"):
        Index.create(folder, model=model)
    (folder / "manifest.json").write_text(json.dumps({"generation": 1, "provenance": {}}))
    with pytest.raises(bertex.IndexCorruptError, match="manifest.json is unreadable"):
        Index.open(folder)


def test_an_output_of_another_level_cannot_make_an_index(tmp_path, model):
    from bertex.sinks.read import Stored

    tokens = model.embed(["a cat", "a dog"], level="token")  # (T_i, D) each
    meta = {**model.embed(["a cat"]).meta.to_dict(), "level": "token"}
    stored = Stored(["a", "b"], [t.vectors for t in tokens], meta)  # what bertex.read gives
    with pytest.raises(bertex.OptionError, match="level of the output='token'"):
        Index.create(tmp_path / "ix", like=stored)
    assert not (tmp_path / "ix").exists()


def test_a_change_that_failed_leaves_the_index_intact_and_this_index_refusing(
    tmp_path, model, monkeypatch
):
    ix = Index.create(tmp_path / "ix", model=model)
    ix.add(_texts(8, 4), ids=[f"a{i}" for i in range(8)])

    def full(*a, **k):
        raise bertex.OutputError("cannot write manifest.json: the disk is full")

    monkeypatch.setattr(files, "write_manifest", full)
    with pytest.raises(bertex.OutputError, match="disk is full"):
        ix.add(_texts(4, 5), ids=[f"b{i}" for i in range(4)])
    monkeypatch.undo()
    with pytest.raises(bertex.IndexChangedError, match="failed .*open the index again"):
        ix.add(["a cat"], ids=["c0"])  # its memory holds rows that were never committed
    again = Index.open(tmp_path / "ix", model=model)
    assert len(again) == 8  # the committed state, whole
    again.add(["a cat"], ids=["c0"])
    assert sorted(Index.open(tmp_path / "ix").store.rows.ids.tolist())[-1] == "c0"
    assert len(Index.open(tmp_path / "ix")) == 9


def test_a_reader_whose_graph_trails_survives_the_writer_saving_a_new_one(
    tmp_path, model, monkeypatch
):
    monkeypatch.setattr(embedded, "EXACT_MAX_ROWS", 5)  # graph searches from 6 rows on
    texts = _texts(12, 6)
    writer = Index.create(tmp_path / "ix", model=model)
    writer.add(texts, ids=[f"t{i}" for i in range(12)])  # the graph file: still the empty one
    reader = Index.open(tmp_path / "ix", model=model)
    writer.close()  # saves graph-N, deletes the file the reader opened
    assert reader.search(texts[7], k=1).ids == ["t7"]


def test_repair_after_removes_does_not_call_removed_rows_lost(tmp_path, model):
    folder = tmp_path / "ix"
    with Index.create(folder, model=model) as ix:
        for start, n in ((0, 8), (8, 4), (12, 2)):
            ix.add(_texts(n, start), ids=[f"t{i}" for i in range(start, start + n)])
        ix.remove([f"t{i}" for i in range(8)])  # empties the first segment: no segment written
    (folder / "manifest.json").unlink()
    repaired = Index.repair(folder)
    assert len(repaired) == 6 and repaired.store.lost.lost_files == []


def test_create_on_an_index_refuses_and_touches_nothing(tmp_path, model):
    Index.create(tmp_path / "ix", model=model).add(["a cat"], ids=["a"])
    (tmp_path / "ix" / "rows-9.parquet.tmp").write_bytes(b"a live writer's")
    before = _files(tmp_path / "ix")
    with pytest.raises(bertex.OutputError, match="is an index already; open it"):
        Index.create(tmp_path / "ix", model=model)
    assert _files(tmp_path / "ix") == before
