"""Entity spans from a public-format token-classification folder (built with transformers,
random weights, a real BIO id2label): the library and `bertex predict` give transformers'
token-classification pipeline's entities for every aggregation strategy; frozen heads use the
same span rules; long texts are read in windows, never cut."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bertex import tasks
from bertex.cli.main import main
from task_folders import NER_LABELS

TEXTS = [
    "the man is riding a horse with unbelievably hard hat.",
    "a child was playing guitar, dancing on the cat",
    "Tokenization works: the woman, the dog and the hat!",
]


def _pipeline_entities(folder, texts, aggregation):
    from transformers import pipeline

    pipe = pipeline("token-classification", model=str(folder), aggregation_strategy=aggregation)
    return pipe(texts)


@pytest.mark.parametrize("aggregation", ["simple", "first", "average", "max"])
def test_folder_entities_equal_the_pipeline(tag_dir, aggregation):
    tagger = tasks.load(tag_dir)
    assert isinstance(tagger, tasks.Tagger) and tagger.labels == tuple(NER_LABELS)
    got = tagger.predict(TEXTS, aggregation=aggregation)
    want = _pipeline_entities(tag_dir, TEXTS, aggregation)
    assert sum(map(len, want)) >= 6  # the random head does find entities to compare
    for text, g, w in zip(TEXTS, got, want, strict=True):
        assert [(e.label, e.start, e.end) for e in g] == [
            (e["entity_group"], e["start"], e["end"]) for e in w
        ]
        np.testing.assert_allclose([e.score for e in g], [e["score"] for e in w], atol=1e-5)
        assert all(e.text == text[e.start : e.end] for e in g)


def test_cli_predict_uses_the_folders_own_labels(tag_dir, tmp_path, capsys):
    inputs = tmp_path / "in.txt"
    inputs.write_text("\n".join(TEXTS) + "\n\n")
    assert main(["predict", "--model", str(tag_dir), "--input", str(inputs)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in rows] == TEXTS
    want = _pipeline_entities(tag_dir, TEXTS, "first")
    for r, w in zip(rows, want, strict=True):
        assert [(e["label"], e["start"], e["end"]) for e in r["prediction"]] == [
            (e["entity_group"], e["start"], e["end"]) for e in w
        ]
    assert main(["predict", "-m", str(tag_dir), "--text", TEXTS[1], "--aggregation", "max"]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    want = _pipeline_entities(tag_dir, [TEXTS[1]], "max")[0]
    assert [e["label"] for e in row["prediction"]] == [e["entity_group"] for e in want]


def test_long_text_is_read_in_windows_not_cut(tag_dir):
    tagger = tasks.load(tag_dir)
    text = " ".join([TEXTS[0]] * 8)  # ~100 tokens; the tiny model's window is 64
    (ents,) = tagger.predict([text], stride=16)
    assert ents and max(e.end for e in ents) > len(text) // 2  # the far half has entities
    (full, probs) = tagger.token_probabilities([text], stride=16)[0]
    assert probs.shape[0] == len(full["input_ids"]) > 64  # every token has probabilities
    # a token near the start takes the first window, as transformers reads that window alone
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tag_dir))
    ref = AutoModelForTokenClassification.from_pretrained(str(tag_dir)).eval()
    first = tok(text, truncation=True, max_length=64, return_tensors="pt")
    with torch.no_grad():
        want = torch.softmax(ref(**first).logits[0], -1).numpy()  # (64, C)
    np.testing.assert_allclose(probs[3], want[4], atol=1e-5)  # token 3 = position 4 ([CLS])


def test_frozen_head_spans_and_aggregation(tiny_bert, tmp_path):
    from bertex.analysis import train
    from test_heads import CONLL

    data = tmp_path / "t.conll"
    data.write_text(CONLL)
    head = train.train_tag(tiny_bert, str(data), layer=-1).bind(tiny_bert)
    text = "John visited New York and Unbelievably Paris"
    words = head.predict([text])[0]  # the word vectors the head was trained on (subword first)
    first = head.predict([text], aggregation="first")[0]
    assert [(e.label, e.start, e.end) for e in words] == [(e.label, e.start, e.end) for e in first]
    np.testing.assert_allclose([e.score for e in words], [e.score for e in first], atol=1e-5)
    for agg in ("average", "max", "simple"):
        for e in head.predict([text], aggregation=agg)[0]:
            assert e.text == text[e.start : e.end] and 0 < e.score <= 1
    with pytest.raises(Exception, match="aggregation='mean' is not valid"):
        head.predict([text], aggregation="mean")


def test_bad_inputs_are_one_line_exit_2(tag_dir, qa_dir, tmp_path, refused):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    cases = {
        "no task head": (["predict", "--text", "hi"], "BertModel, an encoder without a task head"),
        "qa without a question": (
            ["predict", "--model", str(qa_dir), "--text", "a context"],
            "give --question",
        ),
        "empty input file": (
            ["predict", "--model", str(tag_dir), "--input", str(empty)],
            "no text",
        ),
        "no input": (["predict", "--model", str(tag_dir)], "no input"),
        "missing file": (
            ["predict", "-m", str(tag_dir), "--input", str(tmp_path / "x")],
            "no such",
        ),
        "bad aggregation": (
            ["predict", "-m", str(tag_dir), "--text", "a", "--aggregation", "mean"],
            "invalid choice",
        ),
        "labels for a tagger": (
            ["predict", "-m", str(tag_dir), "--text", "a", "--labels", "PER"],
            "--labels restricts a classifier's labels",
        ),
        "question for a tagger": (
            ["predict", "-m", str(tag_dir), "--text", "a", "--question", "who?"],
            "--question is for question-answering models",
        ),
    }
    refused(cases)
