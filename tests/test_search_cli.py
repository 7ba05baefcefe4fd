"""`bertex index ...` and `bertex search`: build from a corpus (bad rows recorded, resume
without duplicates), build from a corpus output (no re-embedding), search formats, remove,
info, repair, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import bertex
from bertex.cli.main import main
from bertex.index import Index

DOCS = [
    {"id": "a", "text": "the cat sat on the mat. it was happy.", "lang": "en"},
    {"id": "b", "text": "dogs like to run in the park", "lang": "en"},
    {"id": "c", "text": "le chat est sur le tapis", "lang": "fr"},
    {"id": "bad", "text": None, "lang": "en"},
    {"id": "d", "text": "a guitar plays music", "lang": "de"},
]


@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    return path


def _build(tmp_path, corpus, bert_dir, *extra):
    ix = tmp_path / "ix"
    code = main(
        [
            "index",
            "build",
            str(ix),
            "--input",
            str(corpus),
            "--model",
            str(bert_dir),
            "--field",
            "lang",
            "-q",
            *extra,
        ]
    )
    return code, ix


def test_build_records_bad_rows_and_search_matches_the_library(
    tmp_path, corpus, bert_dir, tiny_bert, capsys
):
    code, ix = _build(tmp_path, corpus, bert_dir)
    assert code == 0
    errors = [json.loads(x) for x in (tmp_path / "ix.errors.jsonl").read_text().splitlines()]
    assert [e["id"] for e in errors] == ["bad"]
    capsys.readouterr()
    assert main(["search", str(ix), "a cat on a mat", "-k", "2", "--format", "json"]) == 0
    got = json.loads(capsys.readouterr().out)
    texts = [d["text"] for d in DOCS if d["text"]]
    sims = tiny_bert.similarity(["a cat on a mat"], texts)[0]
    want = [[d for d in DOCS if d["text"]][i]["id"] for i in np.argsort(-sims)[:2]]
    assert [h["id"] for h in got["hits"]] == want
    np.testing.assert_allclose(
        [h["score"] for h in got["hits"]], np.sort(sims)[::-1][:2], atol=1e-5
    )
    assert (
        main(["search", str(ix), "a cat", "-k", "5", "--where", "lang=fr", "--format", "jsonl"])
        == 0
    )
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["id"] for x in lines] == ["c"] and lines[0]["fields"] == {"lang": "fr"}


def test_human_format_highlights_the_best_sentence(tmp_path, corpus, bert_dir, tiny_bert, capsys):
    _, ix = _build(tmp_path, corpus, bert_dir)
    capsys.readouterr()
    assert main(["search", str(ix), "it was happy", "-k", "1", "--where", "lang=en"]) == 0
    line = capsys.readouterr().out.strip()
    sims = tiny_bert.similarity(["it was happy"], ["the cat sat on the mat.", "it was happy."])[0]
    best = ["the cat sat on the mat.", "it was happy."][int(sims.argmax())]
    assert line.split()[0] == "1" and f"**{best}**" in line


def test_build_again_resumes_without_duplicates(tmp_path, corpus, bert_dir):
    _build(tmp_path, corpus, bert_dir)
    ix = tmp_path / "ix"
    Index.open(ix).remove(["c", "d"])  # as if a killed build had committed only a, b
    code, _ = _build(tmp_path, corpus, bert_dir)
    assert code == 0
    again = Index.open(ix)
    assert len(again) == 4 and again.info()["rows"] == 4


def test_build_from_a_corpus_output_reuses_its_vectors(tmp_path, corpus, bert_dir, capsys):
    out = tmp_path / "v.parquet"
    assert (
        main(
            [
                "embed",
                "--input",
                str(corpus),
                "--out",
                str(out),
                "--model",
                str(bert_dir),
                "--keep-text",
                "--keep-field",
                "lang",
                "--quiet",
            ]
        )
        == 0
    )
    stored = bertex.read(out)
    ix = tmp_path / "from"
    assert main(["index", "build", str(ix), "--from", str(out), "-q"]) == 0
    index = Index.open(ix)
    assert len(index) == len(stored.ids) == 4
    h = index.search(stored.vectors[:1], k=1)[0]
    assert h.ids == [str(stored.ids[0])] and h.fields[0]["lang"] == "en"
    np.testing.assert_allclose(h.scores, [1.0], atol=1e-5)
    assert main(["index", "build", str(ix), "--from", str(out), "-q"]) == 0  # resume: no dupes
    assert Index.open(ix).info()["rows"] == 4


def test_remove_info_repair(tmp_path, corpus, bert_dir, capsys):
    _, ix = _build(tmp_path, corpus, bert_dir)
    assert main(["index", "remove", str(ix), "a", "zzz"]) == 0
    assert capsys.readouterr().out.strip() == "1 documents removed"
    assert main(["index", "info", str(ix), "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["documents"] == 3 and info["fields"] == ["lang"]
    next(ix.glob("graph-*.usearch")).unlink()
    assert main(["search", str(ix), "a cat"]) == 2
    assert "bertex index repair" in capsys.readouterr().err
    assert main(["index", "repair", str(ix)]) == 0
    assert main(["search", str(ix), "a cat", "-k", "1", "--format", "jsonl"]) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--where", "source=x"], "where field='source'"),
        (["--where", "lang~x"], "where="),
        (["-k", "0"], "-k"),
    ],
)
def test_mistakes_are_one_line(tmp_path, corpus, bert_dir, capsys, argv, message):
    _, ix = _build(tmp_path, corpus, bert_dir)
    capsys.readouterr()
    with pytest.raises(SystemExit) if argv[0] == "-k" else _nothing():
        assert main(["search", str(ix), "a cat", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_missing_index_is_one_line(tmp_path, capsys):
    assert main(["search", str(tmp_path / "none"), "a cat"]) == 2
    assert "no such index" in capsys.readouterr().err


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_server_search_route_limits_auth_and_errors(tmp_path):
    import time

    from starlette.testclient import TestClient

    from bertex.fake import fake_model
    from bertex.server.app import create_app
    from bertex.server.config import ServerConfig
    from bertex.server.routes import install_search

    model = fake_model()
    index = Index.create(tmp_path / "ix", model=model)
    texts = ["a cat is running", "a dog plays", "the man rides a horse", "a woman is eating"]
    index.add(texts, ids=list("abcd"), fields={"lang": ["en", "fr", "en", "fr"]})
    app = create_app(model, ServerConfig(api_keys=["k1"], max_inputs=2))
    install_search(app, app.state.bertex, index)
    auth = {"Authorization": "Bearer k1"}
    with TestClient(app, base_url="http://127.0.0.1") as client:
        for _ in range(100):
            if client.get("/health").status_code == 200:
                break
            time.sleep(0.05)
        body = {"queries": ["a dog"], "k": 2, "where": {"lang": "fr"}}
        r = client.post("/v1/search", json=body, headers=auth)
        assert r.status_code == 200, r.text
        hits = r.json()["data"][0]["hits"]
        want = index.search("a dog", k=2, where={"lang": "fr"})
        assert [h["id"] for h in hits] == want.ids
        assert client.post("/v1/search", json=body).status_code == 401
        bad = [
            ({"queries": ["x"], "k": 0}, 422, "k"),
            ({"queries": ["x"], "where": "year>1"}, 422, "where field"),
            ({"queries": ["a", "b", "c"]}, 413, "queries"),
            ({"queries": ["x"], "kk": 1}, 422, None),
            ({"queries": ["x"], "where": 5}, 422, "where"),
            ({"queries": [1]}, 422, "queries[0]"),
        ]
        for doc, status, param in bad:
            r = client.post("/v1/search", json=doc, headers=auth)
            assert r.status_code == status, r.text
            assert set(r.json()["error"]) == {"message", "type", "param", "code"}
            if param:
                assert r.json()["error"]["param"] == param
    app.state.bertex.engine.close()


def _docs_block() -> str:
    """The bash blocks of the Search section of docs/howto/search.md, joined."""
    import re

    root = Path(__file__).resolve().parents[1]
    text = (root / "docs/howto/search.md").read_text("utf-8")
    section = text[text.index("## Search") :].split("\n## ", 1)[0]
    return "".join(re.findall(r"```bash\n(.*?)```", section, re.DOTALL))


@pytest.mark.slow
def test_search_docs_commands_run_as_written(tmp_path, monkeypatch, capsys):
    import shlex
    import shutil

    root = Path(__file__).resolve().parents[1]
    (tmp_path / "examples").mkdir()
    shutil.copy(root / "examples/passages.jsonl", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    for line in _docs_block().splitlines():
        assert line.startswith("bertex "), line
        assert main(shlex.split(line)[1:]) == 0, line
    out = capsys.readouterr().out
    assert "p08" in out.splitlines()[0] and "**" in out.splitlines()[0]  # the Moon landing
    assert '"id": "p10"' in out  # the Berlin Wall, first among history passages


def test_kill_9_during_build_then_resume_loses_and_duplicates_nothing(tmp_path, bert_dir):
    import os
    import signal
    import subprocess
    import sys
    import time

    corpus = tmp_path / "big.txt"
    corpus.write_text("".join(f"line {i} about a cat and a dog\n" for i in range(150)))
    ix = tmp_path / "ix"
    argv = [
        sys.executable,
        "-m",
        "bertex.cli.main",
        "index",
        "build",
        str(ix),
        "--input",
        str(corpus),
        "--model",
        str(bert_dir),
        "--batch-rows",
        "3",
        "-q",
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(argv, env=env)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        manifest = ix / "manifest.json"
        if manifest.exists() and json.loads(manifest.read_text())["generation"] >= 4:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL  # killed mid-build, not finished
    killed = Index.open(ix)
    assert 0 < len(killed) < 150
    assert killed.store.graph_.saved["next_key"] < killed.store.next_key  # the graph trails
    assert subprocess.run(argv, env=env, timeout=300, check=False).returncode == 0
    index = Index.open(ix)
    assert len(index) == 150 and index.info()["rows"] == 150
    assert len(index.store.graph_.usearch) == 150  # the resumed build closed: saved whole


def test_index_add_needs_an_index_and_adds_to_it(tmp_path, corpus, bert_dir, capsys):
    more = tmp_path / "more.txt"
    more.write_text("a new line about horses\n", encoding="utf-8")
    argv = ["index", "add", str(tmp_path / "ix"), "--input", str(more), "--model", str(bert_dir)]
    assert main([*argv, "--id-field", "x"]) == 2  # no index yet: one line, nothing created
    assert "no such index" in capsys.readouterr().err
    _build(tmp_path, corpus, bert_dir)
    assert main([*argv, "-q"]) == 0
    index = Index.open(tmp_path / "ix")
    assert len(index) == 5
    assert index.search("a new line about horses", k=1).texts == ["a new line about horses"]


def test_serve_with_a_missing_index_is_one_line(tmp_path, bert_dir, capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = ["serve", str(bert_dir), "--port", str(port), "--index", str(tmp_path / "none")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no such index" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("batch_rows", ["1", "256"])  # the repeat in another commit, or the same
def test_a_repeated_id_in_the_corpus_is_a_bad_row_not_a_lost_text(
    tmp_path, bert_dir, capsys, batch_rows
):
    rows = [
        {"id": "a", "text": "a cat sat", "year": 2020},
        {"id": "b", "text": "a dog ran", "year": 850},
        {"id": "a", "text": "a horse ate", "year": "n/a"},
    ]
    corpus = tmp_path / "r.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    argv = ["index", "build", str(tmp_path / "ix"), "--input", str(corpus), "--field", "year"]
    assert main([*argv, "--model", str(bert_dir), "--batch-rows", batch_rows]) == 0
    assert "2 documents added, 1 bad rows" in capsys.readouterr().err
    errors = [json.loads(x) for x in (tmp_path / "ix.errors.jsonl").read_text().splitlines()]
    assert [(e["row"], e["id"]) for e in errors] == [(2, "a")]
    assert "repeats row 0" in errors[0]["reason"]
    assert main([*argv, "--model", str(bert_dir)]) == 0  # again: nothing added, said so
    err = capsys.readouterr().err
    assert "0 documents added, 1 bad rows" in err and "2 already in the index (skipped)" in err
    # JSONL numbers are kept as text; a numeric condition still compares them as numbers
    search = ["search", str(tmp_path / "ix"), "a cat", "--format", "jsonl", "--where"]
    assert main([*search, "year>=900"]) == 0
    assert [json.loads(x)["id"] for x in capsys.readouterr().out.splitlines()] == ["a"]
    assert main([*search, "year<900"]) == 0
    assert [json.loads(x)["id"] for x in capsys.readouterr().out.splitlines()] == ["b"]
