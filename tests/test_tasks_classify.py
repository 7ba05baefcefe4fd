"""Sequence-classification folders: labels and probabilities as transformers' text-
classification pipeline gives them (single- and multi-label), and the cross-encoder form:
`bertex search --rerank` orders hits by the model's own logits."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import bertex
from bertex import tasks
from bertex.cli.main import main
from task_folders import run

TEXTS = ["a good film", "the man is riding a horse", "awful acting, boring story"]
DOCS = [
    "a man is riding a horse.",
    "the woman is eating.",
    "a child was playing guitar on the horse.",
    "the cat is dancing.",
    "tokenization works unbelievably hard.",
]


def _logits(folder, texts, pairs=None):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
    with torch.no_grad():
        rows = [model(**tok(t, p, return_tensors="pt")).logits[0].numpy() for t, p in
                zip(texts, pairs or [None] * len(texts))]  # fmt: skip
    return np.stack(rows)  # (N, C), one text per pass: no padding in the reference


def test_single_label_equals_the_pipeline(classify_dir):
    from transformers import pipeline

    clf = tasks.load(classify_dir)
    assert isinstance(clf, tasks.Classifier) and clf.labels == ("negative", "neutral", "positive")
    got = clf.predict(TEXTS)
    want = pipeline("text-classification", model=str(classify_dir), top_k=None)(TEXTS)
    for g, w in zip(got, want, strict=True):
        assert g.label == w[0]["label"]
        for item in w:
            assert g.probabilities[item["label"]] == pytest.approx(item["score"], abs=1e-5)
    only = clf.predict(TEXTS, labels=["negative", "positive"])
    assert {p.label for p in only} <= {"negative", "positive"}
    assert all(p.probabilities["neutral"] == 0 for p in only)


def test_multi_label_takes_a_sigmoid_per_label(multilabel_dir):
    clf = tasks.load(multilabel_dir)
    assert clf.multi_label
    got = clf.predict(TEXTS, threshold=0.5)
    probs = 1 / (1 + np.exp(-_logits(multilabel_dir, TEXTS)))  # (N, 4)
    for g, p in zip(got, probs, strict=True):
        np.testing.assert_allclose([g.probabilities[n] for n in clf.labels], p, atol=1e-5)
        assert g.labels == tuple(n for n, x in zip(clf.labels, p) if x >= 0.5)
    assert any(len(g.labels) > 1 for g in got) or any(len(g.labels) == 0 for g in got)


def test_multi_label_with_no_label_over_the_threshold_has_no_label(multilabel_dir, capsys):
    """`label` is the most probable of `labels`; with none over the threshold, None (null in
    JSON), never a label the threshold refused."""
    clf = tasks.load(multilabel_dir)
    probs = 1 / (1 + np.exp(-_logits(multilabel_dir, TEXTS)))  # (N, 4)
    top = probs.max(axis=1)  # (N,)
    assert top.min() < 1.0  # some text's best label can be put under a threshold
    threshold = float(top.min() + (1.0 - top.min()) / 2)
    for g, p in zip(clf.predict(TEXTS, threshold=threshold), probs, strict=True):
        over = tuple(n for n, x in zip(clf.labels, p) if x >= threshold)
        assert g.labels == over
        assert g.label == (clf.labels[int(p.argmax())] if over else None)
    assert any(g.label is None for g in clf.predict(TEXTS, threshold=threshold))
    text = TEXTS[int(top.argmin())]
    argv = ["predict", "-m", str(multilabel_dir), "--text", text, "--threshold", str(threshold)]
    assert main(argv) == 0
    row = json.loads(capsys.readouterr().out)["prediction"]
    assert row["label"] is None and row["labels"] == []


def test_rerank_orders_by_the_models_own_logits(cross_encoder_dir):
    ce = tasks.load(cross_encoder_dir)
    query = "who is riding a horse?"
    ranked = tasks.rerank(ce, query, DOCS)
    logits = _logits(cross_encoder_dir, [query] * len(DOCS), DOCS)[:, 0]  # (N,)
    assert [r.index for r in ranked] == list(np.argsort(-logits))
    np.testing.assert_allclose([r.logit for r in ranked], np.sort(logits)[::-1], atol=1e-5)
    np.testing.assert_allclose(
        [r.score for r in ranked], 1 / (1 + np.exp(-np.sort(logits)[::-1])), atol=1e-6
    )
    assert np.diff(np.sort(logits)).min() > 1e-4  # no near-ties: the order means something
    assert [r.index for r in tasks.rerank(ce, query, DOCS, top_n=2)] == [
        r.index for r in ranked[:2]
    ]


def test_search_rerank_reorders_hits(cross_encoder_dir, tiny_bert, tmp_path, capsys):
    with bertex.Index.create(tmp_path / "ix", model=tiny_bert) as ix:
        ix.add(DOCS, ids=[f"d{i}" for i in range(len(DOCS))])
    query = "who is riding a horse?"
    argv = ["search", str(tmp_path / "ix"), query, "-k", "4", "--format", "json"]
    assert main(argv) == 0
    plain = json.loads(capsys.readouterr().out)["hits"]
    assert main([*argv, "--rerank", str(cross_encoder_dir)]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    texts = [h["text"] for h in plain]
    logits = _logits(cross_encoder_dir, [query] * len(texts), texts)[:, 0]
    assert [h["id"] for h in hits] == [plain[i]["id"] for i in np.argsort(-logits)]
    assert [h["rank"] for h in hits] == [1, 2, 3, 4]
    assert sorted(h["retrieval_rank"] for h in hits) == [1, 2, 3, 4]
    np.testing.assert_allclose([h["logit"] for h in hits], np.sort(logits)[::-1], atol=1e-5)
    assert main([*argv[:-2], "--rerank", str(cross_encoder_dir)]) == 0  # human format
    assert capsys.readouterr().out.count("\n") == 4


def test_cli_predict_classify(classify_dir, capsys):
    assert main(["predict", "-m", str(classify_dir), "--text", TEXTS[0], "--text", TEXTS[1]]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    want = tasks.load(classify_dir).predict(TEXTS[:2])
    assert [r["prediction"]["label"] for r in rows] == [w.label for w in want]


def test_bad_inputs_are_one_line_exit_2(
    classify_dir, tag_dir, tiny_bert, tmp_path, capsys, refused
):
    with bertex.Index.create(tmp_path / "ix", model=tiny_bert) as ix:
        ix.add(DOCS[:2])
    long = " ".join(["horse"] * 80)
    cases = {
        "rerank with a tagger": (
            ["search", str(tmp_path / "ix"), "q", "--rerank", str(tag_dir)],
            "a token-classification head; this needs a sequence-classification head",
        ),
        "rerank with an encoder": (
            ["search", str(tmp_path / "ix"), "q", "--rerank", "all-MiniLM-L6-v2"],
            "an encoder without a task head",
        ),
        "unknown label": (
            ["predict", "-m", str(classify_dir), "--text", "a", "--labels", "spam"],
            "labels='spam' is not valid; choose one of: 'negative', 'neutral', 'positive'",
        ),
        "aggregation for a classifier": (
            ["predict", "-m", str(classify_dir), "--text", "a", "--aggregation", "max"],
            "--aggregation is for token-classification models",
        ),
        "too long": (
            ["predict", "-m", str(classify_dir), "--text", long],
            "is over the model's limit of 64 tokens; pass truncate=True (--truncate)",
        ),
    }
    refused(cases)
    assert main(["predict", "-m", str(classify_dir), "--text", long, "--truncate"]) == 0
    assert json.loads(capsys.readouterr().out)["prediction"]["truncated"] is True


def test_a_sentence_transformers_cross_encoder_folder(bert_dir, tmp_path):
    """sentence-transformers' CrossEncoder saves a plain sequence-classification folder (plus
    its own config files): bertex reranks with it as CrossEncoder.rank does, scores included."""
    from sentence_transformers import CrossEncoder

    ce = CrossEncoder(str(bert_dir), num_labels=1)
    with torch.no_grad():
        ce.model.classifier.weight.mul_(300)
    ce.save_pretrained(str(tmp_path / "ce"))
    query = "who is riding a horse?"
    want = ce.rank(query, DOCS)  # [{"corpus_id", "score"}] best first, sigmoid scores
    got = tasks.rerank(tasks.load(tmp_path / "ce"), query, DOCS)
    assert [r.index for r in got] == [w["corpus_id"] for w in want]
    np.testing.assert_allclose([r.score for r in got], [w["score"] for w in want], atol=1e-5)


def test_cli_predict_pairs(classify_dir, capsys):
    argv = ["predict", "-m", str(classify_dir), "--text", "a man rides", "--pair", "a horse"]
    assert main(argv) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    logits = _logits(classify_dir, ["a man rides"], ["a horse"])[0]
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert row["text_pair"] == "a horse"
    np.testing.assert_allclose(list(row["prediction"]["probabilities"].values()), probs, atol=1e-5)
    assert run([*argv, "--pair", "x"]) == 2
    assert "once per --text" in capsys.readouterr().err
