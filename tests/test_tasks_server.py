"""Task folders behind a real `bertex serve`: /v1/tag and /v1/classify with a folder's own
head (--head NAME=DIR), /v1/answer with a QA folder, /rerank in TEI's and infinity's shapes
(--rerank DIR); the same auth and error shapes as every route."""

from __future__ import annotations

import numpy as np
import pytest

from bertex import tasks
from test_server import KEY, Server
from test_tasks_answer import LONG, QUESTION, SHORT
from test_tasks_classify import DOCS, _logits
from test_tasks_tag import TEXTS, _pipeline_entities

ERROR_KEYS = {"message", "type", "param", "code"}


@pytest.fixture(scope="module")
def server(bert_dir, tag_dir, classify_dir, qa_dir, cross_encoder_dir):
    s = Server(bert_dir, "--api-key", KEY, "--head", f"ner={tag_dir}",
               "--head", f"sent={classify_dir}", "--head", f"qa={qa_dir}",
               "--rerank", str(cross_encoder_dir))  # fmt: skip
    yield s
    s.stop()


@pytest.mark.parametrize("aggregation", ["first", "average", "max", "simple"])
def test_tag_route_gives_the_pipelines_entities(server, tag_dir, aggregation):
    r = server.post("/v1/tag", {"head": "ner", "input": TEXTS, "aggregation": aggregation})
    assert r.status_code == 200, r.text
    want = _pipeline_entities(tag_dir, TEXTS, aggregation)
    for d, w in zip(r.json()["data"], want, strict=True):
        got = d["entities"]
        assert [(e["label"], e["start"], e["end"]) for e in got] == [
            (e["entity_group"], e["start"], e["end"]) for e in w
        ]
        np.testing.assert_allclose([e["score"] for e in got], [e["score"] for e in w], atol=1e-5)


def test_classify_route_with_a_folder(server, classify_dir):
    r = server.post("/v1/classify", {"head": "sent", "input": TEXTS[:2]})
    assert r.status_code == 200, r.text
    want = tasks.load(classify_dir).predict(TEXTS[:2])
    got = [d["prediction"] for d in r.json()["data"]]
    assert [g["label"] for g in got] == [w.label for w in want]
    for g, w in zip(got, want, strict=True):
        for k, v in w.probabilities.items():
            assert g["probabilities"][k] == pytest.approx(v, abs=1e-6)
    r = server.post("/v1/classify", {"head": "ner", "input": TEXTS[:1]})
    assert r.status_code == 422 and r.json()["error"]["code"] == "wrong_head"


def test_answer_route_equals_library(server, qa_dir):
    reader = tasks.load(qa_dir)
    r = server.post("/v1/answer", {"question": QUESTION, "context": LONG, "top_k": 3})
    assert r.status_code == 200, r.text
    want = reader.answer(QUESTION, LONG, top_k=3)
    got = r.json()["data"]
    assert [(a["text"], a["start"], a["end"]) for a in got] == [
        (w.text, w.start, w.end) for w in want
    ]
    np.testing.assert_allclose([a["score"] for a in got], [w.score for w in want], atol=1e-6)
    r = server.post("/v1/answer", {"head": "qa", "question": QUESTION, "context": ["guitar", SHORT],
                                   "no_answer": True, "top_k": 2})  # fmt: skip
    assert r.status_code == 200
    want = reader.answer(QUESTION, ["guitar", SHORT], no_answer=True, top_k=2)
    assert [(a["text"], a["passage"]) for a in r.json()["data"]] == [
        (w.text, w.passage) for w in want
    ]


def test_rerank_in_both_shapes_orders_by_logits(server, cross_encoder_dir):
    query = "who is riding a horse?"
    logits = _logits(cross_encoder_dir, [query] * len(DOCS), DOCS)[:, 0]
    order = list(np.argsort(-logits))
    r = server.post("/rerank", {"query": query, "texts": DOCS, "return_text": True})
    assert r.status_code == 200, r.text
    tei = r.json()
    assert [x["index"] for x in tei] == order
    assert [x["text"] for x in tei] == [DOCS[i] for i in order]
    np.testing.assert_allclose(
        [x["score"] for x in tei], 1 / (1 + np.exp(-logits[order])), atol=1e-5
    )
    raw = server.post("/rerank", {"query": query, "texts": DOCS, "raw_scores": True}).json()
    np.testing.assert_allclose([x["score"] for x in raw], logits[order], atol=1e-5)
    assert "text" not in raw[0]
    body = {"query": query, "documents": DOCS, "top_n": 2, "return_documents": True}
    r = server.post("/v1/rerank", {**body, "model": str(cross_encoder_dir)})
    assert r.status_code == 200, r.text
    inf = r.json()
    assert inf["object"] == "rerank" and inf["usage"]["total_tokens"] > 0
    assert [x["index"] for x in inf["results"]] == order[:2]
    assert [x["document"] for x in inf["results"]] == [DOCS[i] for i in order[:2]]
    assert inf["results"][0]["relevance_score"] == pytest.approx(tei[0]["score"], abs=1e-6)


def test_task_route_errors(server):
    cases = [
        ("/rerank", {"query": "q", "texts": DOCS, "documents": DOCS}, 422, "missing_field"),
        ("/rerank", {"query": "q"}, 422, "missing_field"),
        ("/rerank", {"query": " ", "texts": DOCS}, 422, "invalid_value"),
        ("/rerank", {"query": "q", "texts": []}, 422, None),
        ("/rerank", {"query": "q", "documents": DOCS, "model": "other"}, 404, "model_not_found"),
        ("/rerank", {"query": "q", "texts": DOCS, "top_k": 2}, 422, None),
        ("/rerank", {"query": "q", "texts": [" ".join(["horse"] * 80)]}, 413, "input_too_long"),
        ("/v1/answer", {"question": QUESTION}, 422, "missing_field"),
        ("/v1/answer", {"question": QUESTION, "context": " "}, 422, "empty_input"),
        ("/v1/answer", {"question": "", "context": SHORT}, 422, "invalid_value"),
        ("/v1/answer", {"head": "nope", "question": "q", "context": SHORT}, 404, "unknown_head"),
        ("/v1/answer", {"question": "q", "context": SHORT, "top_k": "2"}, 422, "invalid_type"),
        ("/v1/answer", {"question": "q", "context": SHORT, "top_k": 0}, 422, "invalid_value"),
        ("/v1/tag", {"head": "ner", "input": ["a"], "aggregation": "mean"}, 422, "invalid_value"),
    ]
    for path, body, status, code in cases:
        r = server.post(path, body)
        assert r.status_code == status, (path, body, r.text)
        err = r.json()["error"]
        assert set(err) == ERROR_KEYS and err["message"], (path, body)
        if code:
            assert err["code"] == code, (path, body, err)
    assert server.post("/rerank", {"query": "q", "texts": DOCS}, key=None).status_code == 401


def test_classify_route_with_text_pairs(server, cross_encoder_dir, classify_dir):
    pairs = ["a man rides a horse", "bread needs yeast"]
    r = server.post("/v1/classify", {"head": "sent", "input": TEXTS[:2], "text_pair": pairs})
    assert r.status_code == 200, r.text
    want = tasks.load(classify_dir).predict(TEXTS[:2], pairs=pairs)
    got = [d["prediction"] for d in r.json()["data"]]
    for g, w in zip(got, want, strict=True):
        for k, v in w.probabilities.items():
            assert g["probabilities"][k] == pytest.approx(v, abs=1e-6)
    r = server.post("/v1/classify", {"head": "sent", "input": TEXTS[:2], "text_pair": pairs[:1]})
    assert r.status_code == 422 and r.json()["error"]["param"] == "text_pair"
