"""bertex.Index, embedded store: search against a numpy reference, filters, provenance, pieces,
and the faults (missing/corrupt files, another model, dimension, duplicates, kill -9)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import bertex
from bertex.fake import fake_model
from bertex.index import Index, embedded

TEXTS = [
    "a cat is running",
    "a dog plays",
    "the man rides a horse",
    "a woman is eating",
    "a child plays the guitar",
    "the dog is eating",
    "a man is dancing",
    "the cat was gone",
]
LANGS = ["en", "fr", "en", "de", "en", "fr", "en", "de"]
YEARS = [2018, 2019, 2020, 2021, 2022, 2023, 2024, 2025]


@pytest.fixture(scope="module")
def model():
    return fake_model()


@pytest.fixture
def ix(tmp_path, model):
    index = Index.create(tmp_path / "ix", model=model)
    index.add(TEXTS, ids=[f"d{i}" for i in range(8)], fields={"lang": LANGS, "year": YEARS})
    return index


def _reference(model, query, keep):
    """Cosine of the query against the kept texts, best first: (ids, scores)."""
    sims = model.similarity([query], [TEXTS[i] for i in keep])[0]
    order = np.argsort(-sims, kind="stable")
    return [f"d{keep[i]}" for i in order], sims[order]


@pytest.mark.parametrize("exact_max", [10**6, 0])  # exact numpy path, then the usearch graph
def test_search_matches_numpy_reference(ix, model, monkeypatch, exact_max):
    monkeypatch.setattr(embedded, "EXACT_MAX_ROWS", exact_max)
    hits = ix.search(["a dog is eating", "a man plays"], k=3)
    for query, h in zip(["a dog is eating", "a man plays"], hits, strict=True):
        ids, scores = _reference(model, query, list(range(8)))
        assert h.ids == ids[:3]
        np.testing.assert_allclose(h.scores, scores[:3], atol=1e-5)
        assert h.texts == [TEXTS[int(i[1:])] for i in h.ids]


@pytest.mark.parametrize("exact_max", [10**6, 0])
@pytest.mark.parametrize(
    ("where", "keep"),
    [
        ({"lang": "en"}, [0, 2, 4, 6]),
        ("lang=fr", [1, 5]),
        (["year>=2020", "lang!=en"], [3, 5, 7]),
        ("year<2019", [0]),
    ],
)
def test_filters_return_only_matching_rows_and_k_of_them(
    ix, model, monkeypatch, exact_max, where, keep
):
    monkeypatch.setattr(embedded, "EXACT_MAX_ROWS", exact_max)
    h = ix.search("a dog is eating", k=2, where=where)
    ids, _ = _reference(model, "a dog is eating", keep)
    assert h.ids == ids[:2]
    assert all(f["lang"] in {LANGS[int(i[1:])]} for i, f in zip(h.ids, h.fields, strict=True))


def test_reopen_keeps_everything_and_len_info(ix, tmp_path, model):
    again = Index.open(tmp_path / "ix", model=model)
    assert len(again) == 8
    info = again.info()
    assert info["rows"] == 8 and info["fields"] == ["lang", "year"]
    assert info["provenance"]["model"] == "fake-bert" and info["provenance"]["dim"] == 16
    assert again.search("a cat", k=8).ids == ix.search("a cat", k=8).ids


def test_a_float32_graph_from_an_older_index_still_opens_searches_and_grows(
    tmp_path, model, monkeypatch
):
    monkeypatch.setattr(embedded, "GRAPH_DTYPE", "f32")  # what bertex wrote before int8
    old = Index.create(tmp_path / "old", model=model)
    old.add(TEXTS[:6], ids=[f"d{i}" for i in range(6)])
    monkeypatch.undo()
    monkeypatch.setattr(embedded, "EXACT_MAX_ROWS", 0)  # the graph path
    again = Index.open(tmp_path / "old", model=model)
    assert str(again.store.graph.dtype).lower().endswith("f32")
    again.add(TEXTS[6:], ids=["d6", "d7"])
    ids, scores = _reference(model, "a man is eating", list(range(8)))
    h = Index.open(tmp_path / "old", model=model).search("a man is eating", k=4)
    assert h.ids == ids[:4]
    np.testing.assert_allclose(h.scores, scores[:4], atol=1e-5)
    fresh = Index.create(tmp_path / "new", model=model)
    assert str(fresh.store.graph.dtype).lower().endswith("i8")


def test_remove_and_k_larger_than_index(ix, tmp_path, model):
    assert ix.remove(["d0", "d1", "nope"]) == 2
    again = Index.open(tmp_path / "ix", model=model)
    h = again.search("a cat is running", k=50)
    assert len(h) == 6 and "d0" not in h.ids and "d1" not in h.ids


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_bad_k_is_refused(ix, k):
    with pytest.raises(bertex.OptionError, match="k="):
        ix.search("a cat", k=k)


def test_empty_index_answers_no_hits(tmp_path, model):
    ix = Index.create(tmp_path / "e", model=model)
    assert len(ix) == 0
    assert len(ix.search("a cat", k=3)) == 0


def test_filter_on_unknown_field_names_the_known_ones(ix):
    with pytest.raises(bertex.OptionError, match="'source'.*'lang', 'year'"):
        ix.search("a cat", where="source=wiki")
    with pytest.raises(bertex.OptionError, match="where"):
        ix.search("a cat", where="lang ~ en")


def test_duplicate_ids_refused_or_replaced(ix, model):
    with pytest.raises(bertex.DuplicateIdError, match="d1"):
        ix.add(["a horse"], ids=["d1"])
    with pytest.raises(bertex.DuplicateIdError):
        ix.add(["a", "b"], ids=["x", "x"])
    ix.add(["a horse is running"], ids=["d1"], replace=True)
    assert len(ix) == 8
    h = ix.search("a horse is running", k=1)
    assert h.ids == ["d1"] and h.texts == ["a horse is running"]


def test_another_model_is_refused_naming_what_differs(ix, tmp_path):
    other = fake_model(name="other-bert")
    other.weights_sha256 = "1" * 64
    with pytest.raises(bertex.IndexMismatchError, match="model: 'fake-bert' vs 'other-bert'"):
        Index.open(tmp_path / "ix", model=other)
    with pytest.warns(bertex.WeakPoolingWarning):
        ix2 = Index.create(tmp_path / "cls", model=fake_model(), pooling="cls")
    stored = fake_model().embed(["a cat"])  # mean pooling
    with pytest.raises(bertex.IndexMismatchError, match="pooling: 'cls' vs 'mean'"):
        ix2._check_meta(stored.meta, stored.vectors, "the added vectors")


def test_dimension_mismatch_is_refused(ix):
    with pytest.raises(bertex.IndexMismatchError, match="dimension"):
        ix.search(np.ones((1, 8), np.float32))
    h = ix.search(np.ones((1, 16), np.float32), k=2)[0]
    assert len(h) == 2


def test_add_a_bertex_output_without_embedding(tmp_path, model):
    from bertex.sinks.read import Stored

    res = model.embed(TEXTS)
    stored = Stored(
        list(range(8)), res.vectors, res.meta.to_dict(), list(TEXTS), fields={"lang": LANGS}
    )
    ix = Index.create(tmp_path / "ix", like=stored)
    assert ix.add(stored).documents == 8
    ids, scores = _reference(model, "a dog plays", list(range(8)))
    h = ix.search(model.embed(["a dog plays"]).vectors, k=2, where={"lang": "fr"})[0]
    assert h.ids == [i[1:] for i in ids if LANGS[int(i[1:])] == "fr"][:2]
    np.testing.assert_allclose(
        h.scores,
        [s for i, s in zip(ids, scores, strict=True) if LANGS[int(i[1:])] == "fr"][:2],
        atol=1e-5,
    )
    other = Stored([0], res.vectors[:1, :8], {**res.meta.to_dict()}, ["x"])
    with pytest.raises(bertex.IndexMismatchError, match="dimension: 16 vs 8"):
        ix.add(other)


def test_sentence_pieces_say_which_span_matched(tmp_path, model):
    ix = Index.create(tmp_path / "qa", model=model)
    doc = "A man is running. A woman is eating. A child plays the guitar."
    ix.add([doc, "the dog is gone"], ids=["p", "q"], split="sentence")
    assert len(ix) == 2 and ix.info()["rows"] == 4
    h = ix.search("a woman is eating", k=2)
    assert h.ids[0] == "p" and h.ids.count("p") == 1
    a, b = h.spans[0]
    assert doc[a:b] == "A woman is eating."
    assert ix.remove("p") == 1 and ix.info()["rows"] == 1


def test_window_pieces_cover_a_long_text(tmp_path, model):
    ix = Index.create(tmp_path / "w", model=model)
    doc = "a man is running " * 20 + "a woman is eating " * 20
    with pytest.warns(bertex.LongInputWarning):
        ix.add([doc], ids=["long"], split="window")
    assert ix.info()["rows"] > 1
    a, b = ix.search("a woman is eating", k=1).spans[0]
    assert "woman" in doc[a:b]


def test_missing_or_corrupt_files_then_repair(ix, tmp_path, model):
    folder = tmp_path / "ix"
    graph = next(folder.glob("graph-*.usearch"))
    graph.write_bytes(b"garbage" * 10)
    with pytest.raises(bertex.IndexCorruptError, match="bertex index repair"):
        Index.open(folder, model=model)
    repaired = Index.repair(folder)
    assert len(repaired) == 8
    assert Index.open(folder, model=model).search("a cat", k=3).ids == ix.search("a cat", 3).ids
    (folder / "manifest.json").unlink()
    with pytest.raises(bertex.IndexCorruptError, match="manifest.json is missing"):
        Index.open(folder)
    Index.repair(folder)
    next(folder.glob("rows-*.parquet")).write_bytes(b"PAR1 broken")
    with pytest.raises(bertex.IndexCorruptError, match="unreadable"):
        Index.open(folder)
    with pytest.raises(bertex.IndexCorruptError, match="no such index"):
        Index.open(tmp_path / "nothing")


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from bertex.fake import fake_model
    from bertex.index import Index, files
    ix = Index.open(sys.argv[1], model=fake_model())
    real = files.write_manifest
    def die(*a, **k):  # the new generation's files are written; the commit point is next
        os.kill(os.getpid(), signal.SIGKILL)
    files.write_manifest = die
    ix.add(["a horse is eating"], ids=["new"])
    """
)


def test_kill_9_during_add_leaves_the_old_index_usable(ix, tmp_path, model):
    folder = tmp_path / "ix"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", KILLER, str(folder)], env=env, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    again = Index.open(folder, model=model)
    assert len(again) == 8 and "new" not in again.search("a horse is eating", k=8).ids
    again.add(["a horse is eating"], ids=["new"])  # the add again: nothing lost, no duplicate
    assert len(Index.open(folder, model=model)) == 9
    assert not list(Path(folder).glob("*.tmp"))
