"""`bertex serve --head NAME=PATH`: /v1/classify and /v1/tag in a real server process answer
what the library's head.predict answers, behind the same auth and error shapes."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from bertex import heads
from bertex.analysis import train
from test_heads import BAD, CONLL, GOOD
from test_server import KEY, Server, free_port

TEXTS = ["a good film", "awful acting", "John lives in New York"]
ERROR_KEYS = {"message", "type", "param", "code"}


@pytest.fixture(scope="module")
def head_files(tiny_bert, tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("heads")
    data = root / "train.csv"
    rows = [(t, "pos") for t in GOOD] + [(t, "neg") for t in BAD]
    data.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))
    conll = root / "t.conll"
    conll.write_text(CONLL)
    train.train_classify(tiny_bert, str(data), layer=1, pooling="mean").save(root / "c.bertex")
    train.train_tag(tiny_bert, str(conll), layer=-1).save(root / "t.bertex")
    return root / "c.bertex", root / "t.bertex"


@pytest.fixture(scope="module")
def server(bert_dir, head_files):
    c, t = head_files
    s = Server(bert_dir, "--api-key", KEY, "--max-inputs", "3", "--head", f"sent={c}",
               "--head", f"ner={t}")  # fmt: skip
    yield s
    s.stop()


def test_classify_route_equals_library(server, head_files, tiny_bert):
    r = server.post("/v1/classify", {"head": "sent", "input": TEXTS})
    assert r.status_code == 200, r.text
    got = [d["prediction"] for d in r.json()["data"]]
    want = heads.load(head_files[0], model=tiny_bert).predict(TEXTS)
    assert [g["label"] for g in got] == [w.label for w in want]
    for g, w in zip(got, want, strict=True):
        assert g["probabilities"].keys() == w.probabilities.keys()
        for k, v in w.probabilities.items():
            assert g["probabilities"][k] == pytest.approx(v, abs=1e-6)
    r = server.post("/v1/classify", {"head": "sent", "input": TEXTS, "labels": ["pos"]})
    assert {d["prediction"]["label"] for d in r.json()["data"]} == {"pos"}


def test_tag_route_equals_library_spans(server, head_files, tiny_bert):
    r = server.post("/v1/tag", {"head": "ner", "input": TEXTS})
    assert r.status_code == 200, r.text
    want = heads.load(head_files[1], model=tiny_bert).predict(TEXTS)
    assert [d["entities"] for d in r.json()["data"]] == [[asdict(e) for e in w] for w in want]
    for text, d in zip(TEXTS, r.json()["data"], strict=True):
        for e in d["entities"]:
            assert text[e["start"] : e["end"]] == e["text"]


def test_head_routes_auth_and_errors(server):
    assert (
        server.post("/v1/classify", {"head": "sent", "input": ["x"]}, key=None).status_code == 401
    )
    cases = [
        ("/v1/classify", {"head": "nope", "input": ["x"]}, 404, "sent"),
        ("/v1/classify", {"head": "ner", "input": ["x"]}, 422, "sent"),  # a tagger
        ("/v1/tag", {"head": "sent", "input": ["x"]}, 422, "ner"),  # a classifier
        ("/v1/classify", {"head": "sent", "input": ["x"], "labels": ["spam"]}, 422, "'neg'"),
        ("/v1/classify", {"head": "sent", "input": ["a", "b", "c", "d"]}, 413, None),
        ("/v1/tag", {"head": "ner", "input": ["x"], "extra": 1}, 422, None),
    ]
    for path, doc, status, named in cases:
        r = server.post(path, doc)
        assert r.status_code == status, (doc, r.text)
        err = r.json()["error"]
        assert set(err) == ERROR_KEYS
        if named:
            assert named in err["message"], err


def test_head_of_another_model_is_refused_at_start_up(roberta_dir, head_files):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "HF_HUB_OFFLINE": "1"}
    argv = [sys.executable, "-m", "bertex.cli.main", "serve", str(roberta_dir)]
    argv += ["--port", str(free_port()), "--head", f"sent={head_files[0]}"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "trained on" in lines[0], done.stderr
    assert "listening" not in done.stdout
