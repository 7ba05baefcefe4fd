"""What `bertex index` and `bertex search` say to a user's mistakes: one line naming the fix,
nothing created or changed by a refused command, and no option silently ignored."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bertex.cli.main import main
from bertex.index import Index

DOCS = [
    {"id": "a", "text": "the cat sat on the mat. it was happy.", "lang": "en", "topic": "pets"},
    {"id": "b", "text": "dogs like to run in the park", "lang": "en", "topic": "pets"},
    {"id": "c", "text": "le chat est sur le tapis", "lang": "fr", "topic": "home"},
]


@pytest.fixture
def corpus(tmp_path) -> Path:
    (tmp_path / "c.jsonl").write_text("\n".join(map(json.dumps, DOCS)) + "\n", encoding="utf-8")
    return tmp_path / "c.jsonl"


def _build(tmp_path, corpus, bert_dir, *extra):
    argv = ["index", "build", str(tmp_path / "ix"), "--input", str(corpus), "-q"]
    return main([*argv, "--model", str(bert_dir), "--field", "lang", *extra])


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_a_missing_input_creates_no_index(tmp_path, bert_dir, capsys):
    argv = ["index", "build", str(tmp_path / "ix"), "--input", str(tmp_path / "nope.jsonl")]
    assert main([*argv, "--model", str(bert_dir)]) == 2
    assert "no such file" in _one_line(capsys) and not (tmp_path / "ix").exists()


def test_a_field_a_csv_lacks_is_named_before_anything_is_made(tmp_path, bert_dir, capsys):
    csv = tmp_path / "c.csv"
    csv.write_text("id,text,lang\na,a cat,en\n", encoding="utf-8")
    argv = ["index", "build", str(tmp_path / "ix"), "--input", str(csv), "--field", "topic"]
    assert main([*argv, "--model", str(bert_dir)]) == 2
    err = _one_line(capsys)
    assert "no field 'topic' (--field)" in err and "id, text, lang" in err
    assert not (tmp_path / "ix").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--split", "sentence"], "this index was built with --split none"),
        (
            ["--field", "topic"],
            "--field='lang, topic' is not valid; choose one of: 'lang (all of them)'",
        ),
        (["--pooling", "cls"], "pooling: 'mean' vs 'cls'"),
    ],
)
def test_a_build_run_again_with_other_options_is_refused(
    tmp_path, corpus, bert_dir, capsys, extra, message
):
    assert _build(tmp_path, corpus, bert_dir) == 0
    before = Index.open(tmp_path / "ix").info()
    assert before["split"] == "none"
    assert _build(tmp_path, corpus, bert_dir, *extra) == 2
    assert message in _one_line(capsys)
    after = Index.open(tmp_path / "ix").info()
    assert (after["rows"], after["generation"]) == (before["rows"], before["generation"])


def test_replace_rebuilds_with_the_new_split_and_info_says_it(tmp_path, corpus, bert_dir):
    assert _build(tmp_path, corpus, bert_dir) == 0
    assert _build(tmp_path, corpus, bert_dir, "--split", "sentence", "--replace") == 0
    info = Index.open(tmp_path / "ix").info()
    assert (info["rows"], info["documents"], info["split"]) == (4, 3, "sentence")  # a: two
    # --replace embedded every document the new way: a resume with it is now the build's own
    assert _build(tmp_path, corpus, bert_dir, "--split", "sentence") == 0
    assert _build(tmp_path, corpus, bert_dir) == 2


def test_from_refuses_the_options_it_would_ignore(tmp_path, corpus, bert_dir, capsys):
    out = tmp_path / "v.parquet"
    assert main(["embed", "--input", str(corpus), "--out", str(out), "--model", str(bert_dir)]) == 0
    capsys.readouterr()
    for extra in (["--split", "window"], ["--pooling", "cls"], ["--model", str(bert_dir)]):
        argv = ["index", "build", str(tmp_path / "ix"), "--from", str(out), *extra]
        assert main(argv) == 2
        err = _one_line(capsys)
        assert f"--from='with {extra[0]}'" in err and "--input, to embed again" in err
    assert not (tmp_path / "ix").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["index", "build", "ix", "--imput", "c.jsonl"],
            "unknown option --imput (did you mean --input?)",
        ),
        (
            ["index", "build", "ix", "--input", "c.jsonl", "--fields", "lang"],
            "(did you mean --field?)",
        ),
        (["search", "ix", "a cat", "--k", "2"], "unknown option --k (did you mean -k?)"),
        (["search", "ix", "a cat", "-k", "two"], "'two' is not an integer >= 1"),
    ],
)
def test_misspelled_options_name_the_right_one_and_the_command_s_help(
    tmp_path, monkeypatch, capsys, argv, message
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = _one_line(capsys)
    assert (
        message in err
        and f"(see `bertex {' '.join(argv[: 2 if argv[0] == 'index' else 1])} --help`)" in err
    )


def test_a_file_or_a_query_given_as_the_index_is_said_so(tmp_path, corpus, bert_dir, capsys):
    assert _build(tmp_path, corpus, bert_dir) == 0
    assert main(["search", str(corpus), "a cat"]) == 2
    assert "is a file, not an index" in _one_line(capsys)
    assert main(["search", "a cat", str(tmp_path / "ix")]) == 2
    assert "the index comes first: bertex search INDEX QUERY" in _one_line(capsys)


def test_remove_names_the_ids_that_were_not_there(tmp_path, corpus, bert_dir, capsys):
    assert _build(tmp_path, corpus, bert_dir) == 0
    assert main(["index", "remove", str(tmp_path / "ix"), "a", "zz", "yy"]) == 0
    got = capsys.readouterr()
    assert got.out.strip() == "1 documents removed"
    assert got.err.strip() == "2 ids were not in the index: 'zz', 'yy'"


def test_a_server_without_an_index_says_how_to_get_one():
    from starlette.testclient import TestClient

    from bertex.fake import fake_model
    from bertex.server.app import create_app
    from bertex.server.config import ServerConfig
    from bertex.server.routes import install_no_search

    app = create_app(fake_model(), ServerConfig())
    install_no_search(app)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        for _ in range(100):
            if client.get("/health").status_code == 200:
                break
            time.sleep(0.05)
        r = client.post("/v1/search", json={"queries": ["a cat"]})
        assert r.status_code == 404 and r.json()["error"]["code"] == "no_index"
        assert "bertex serve --index INDEX" in r.json()["error"]["message"]
    app.state.bertex.engine.close()


def test_index_add_splits_and_fields_like_the_index_and_refuses_otherwise(
    tmp_path, corpus, bert_dir, capsys
):
    assert _build(tmp_path, corpus, bert_dir, "--split", "sentence") == 0
    more = tmp_path / "more.jsonl"
    doc = {"id": "d", "text": "a bird sings. it flies away.", "lang": "de", "topic": "sky"}
    more.write_text(json.dumps(doc) + "\n", encoding="utf-8")
    add = ["index", "add", str(tmp_path / "ix"), "--input", str(more), "--model", str(bert_dir)]
    before = Index.open(tmp_path / "ix").info()
    for extra, message in [
        (["--split", "window"], "this index was built with --split sentence; build a new one"),
        (["--field", "topic"], "--field='topic' is not valid; choose one of: 'lang (all of them)'"),
    ]:
        assert main([*add, *extra]) == 2
        assert message in _one_line(capsys)
        assert Index.open(tmp_path / "ix").info()["rows"] == before["rows"]  # nothing added
    assert main([*add, "-q"]) == 0  # no options: the index's own split and fields
    ix = Index.open(tmp_path / "ix")
    assert ix.info()["rows"] == before["rows"] + 2  # two sentences, two rows
    hit = ix.search("it flies away", k=1, where={"lang": "de"})
    ((a, b),) = hit.spans
    assert hit.ids == ["d"] and doc["text"][a:b] == "it flies away."
    ix.close()
    assert main([*add, "--replace", "-q"]) == 0  # replacing it: split and fielded alike
    again = Index.open(tmp_path / "ix")
    hit = again.search("it flies away", k=1, where={"lang": "de"})
    assert again.info()["rows"] == before["rows"] + 2 and hit.spans == [(a, b)]


def test_a_search_with_no_hits_says_so(tmp_path, corpus, bert_dir, capsys):
    assert _build(tmp_path, corpus, bert_dir) == 0
    capsys.readouterr()
    assert main(["search", str(tmp_path / "ix"), "a cat", "--where", "lang=xx"]) == 0
    got = capsys.readouterr()
    assert got.out == ""
    assert got.err.strip() == "no hits for 'a cat' where lang=xx (the index holds 3 documents)"
