"""`bertex answer` / Reader.answer against transformers' question-answering rule on a tiny
random-weight BertForQuestionAnswering folder: same answers and scores (1e-4), over contexts
longer than one window and with no-answer (SQuAD 2.0) cases.

transformers 5 removed the question-answering pipeline (transformers.pipelines.REMOVED_TASKS);
its span scoring lives on as transformers.pipelines.document_question_answering.
select_starts_ends, which the reference below calls on each window, built and decoded as the
4.x pipeline did (one window per forward pass, words widened by the encoding, answers of the
same text summed). bertex matched transformers 4.57.6's own pipeline exactly on these folders
when checked by hand (docs/task-models.md says how)."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

import bertex
from bertex import tasks
from bertex.cli.main import main

QUESTION = "who is riding the horse?"
SHORT = "the man is riding a horse with unbelievably hard hat."
LONG = " ".join(
    [SHORT, "a child was playing guitar.", "the woman is eating on the cat.", SHORT] * 3
)  # ~130 tokens: three windows of 64 with the default stride of 32


@functools.lru_cache(maxsize=2)
def _qa_model(folder):
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    return tok, AutoModelForQuestionAnswering.from_pretrained(str(folder)).eval()


def reference(folder, question, context, top_k=1, no_answer=False, max_len=None, stride=None):
    """transformers' QA rule: select_starts_ends per window, as the 4.x pipeline called it."""
    import torch
    from transformers.pipelines.document_question_answering import select_starts_ends

    tok, model = _qa_model(folder)
    max_len = max_len or min(tok.model_max_length, 384)
    stride = min(max_len // 2, 128) if stride is None else stride
    enc = tok(
        text=question,
        text_pair=context,
        truncation="only_second",
        max_length=max_len,
        stride=stride,
        return_token_type_ids=True,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    null, answers = 1e6, []
    for i in range(len(enc["input_ids"])):
        ids = np.array(enc["input_ids"][i])
        p_mask = np.array([s != 1 for s in enc.sequence_ids(i)], dtype=int)
        p_mask[ids == tok.cls_token_id] = 0
        inputs = {k: torch.tensor([enc[k][i]]) for k in tok.model_input_names}
        with torch.no_grad():
            out = model(**inputs)
        starts, ends, scores, null = select_starts_ends(
            out.start_logits.numpy(),
            out.end_logits.numpy(),
            p_mask,
            np.array([enc["attention_mask"][i]]),
            null,
            top_k * 2 + 10,
            no_answer,
            15,
        )
        e = enc[i]
        for s, t, score in zip(starts, ends, scores, strict=True):
            try:
                a = e.word_to_chars(e.token_to_word(s), sequence_index=1)[0]
                b = e.word_to_chars(e.token_to_word(t), sequence_index=1)[1]
            except Exception:
                a, b = e.offsets[s][0], e.offsets[t][1]
            same = [x for x in answers if x["answer"].lower() == context[a:b].lower()]
            if same:
                same[0]["score"] += float(score)
            else:
                answers.append(
                    {"score": float(score), "start": a, "end": b, "answer": context[a:b]}
                )
    if no_answer:
        answers.append({"score": null, "start": 0, "end": 0, "answer": ""})
    return sorted(answers, key=lambda x: x["score"], reverse=True)[:top_k]


def _same(got, want):
    assert [(a.text, a.start, a.end) for a in got] == [
        (w["answer"], w["start"], w["end"]) for w in want
    ]
    np.testing.assert_allclose([a.score for a in got], [w["score"] for w in want], atol=1e-4)


@pytest.fixture(scope="module")
def reader(qa_dir):
    return tasks.load(qa_dir)


@pytest.mark.parametrize(
    "context, options",
    [
        (SHORT, {}),
        (SHORT, {"top_k": 3}),
        (LONG, {"top_k": 3}),  # three windows
        (LONG, {"top_k": 2, "max_length": 32, "doc_stride": 8}),  # many windows
        ("guitar", {"top_k": 2, "no_answer": True}),  # the null answer wins
        (LONG, {"top_k": 3, "no_answer": True}),  # a span beats the null answer
    ],
)
def test_answers_equal_transformers(reader, qa_dir, context, options):
    got = reader.answer(QUESTION, context, **options)
    kwargs = {"top_k": options.get("top_k", 1), "no_answer": options.get("no_answer", False)}
    want = reference(
        qa_dir, QUESTION, context, **kwargs,
        max_len=options.get("max_length"), stride=options.get("doc_stride"),
    )  # fmt: skip
    _same(got, want)
    for a in got:
        assert a.text == context[a.start : a.end] and a.passage == 0
    if context == "guitar":
        assert got[0].is_null and got[0].text == ""


def test_null_threshold_and_several_passages(reader):
    base = reader.answer(QUESTION, "guitar", top_k=2, no_answer=True)
    null, span = base
    assert null.is_null and null.score > span.score
    strict = reader.answer(QUESTION, "guitar", top_k=2, no_answer=True, null_threshold=1.0)
    assert [a.is_null for a in strict] == [False, True]  # the null answer must beat by > 1.0
    assert reader.answer(QUESTION, "guitar", no_answer=False)[0].text == "guitar"
    both = reader.answer(QUESTION, [SHORT, "a child was playing guitar."], top_k=4)
    for a in both:
        own = reader.answer(QUESTION, [SHORT, "a child was playing guitar."][a.passage], top_k=4)
        assert any(o.text == a.text and o.score == pytest.approx(a.score) for o in own)
    assert [a.score for a in both] == sorted((a.score for a in both), reverse=True)


def test_cli_answer_context_file_and_text(qa_dir, tmp_path, capsys):
    ctx = tmp_path / "ctx.txt"
    ctx.write_text(LONG, encoding="utf-8")
    argv = ["answer", QUESTION, "-m", str(qa_dir), "--top-k", "2", "--format", "json"]
    assert main([*argv, "--context", str(ctx)]) == 0
    from_file = json.loads(capsys.readouterr().out)
    _same(
        [tasks.Answer(**a) for a in from_file],
        reference(qa_dir, QUESTION, LONG, top_k=2),
    )
    assert main([*argv, "--context", LONG]) == 0
    assert json.loads(capsys.readouterr().out) == from_file
    assert main(["answer", QUESTION, "-m", str(qa_dir), "--context", SHORT]) == 0
    best = reference(qa_dir, QUESTION, SHORT)[0]
    assert best["answer"] in capsys.readouterr().out


def test_answer_from_an_index(qa_dir, tiny_bert, tmp_path, capsys):
    docs = ["the cat is eating.", SHORT, "a child was playing guitar."]
    with bertex.Index.create(tmp_path / "ix", model=tiny_bert) as ix:
        ix.add(docs, ids=["cat", "horse", "guitar"])
    with bertex.Index.open(tmp_path / "ix", model=tiny_bert) as ix:
        found = bertex.answer(QUESTION, index=ix, k=3, model=qa_dir, top_k=3)
        hits = ix.search([QUESTION], k=3)[0]
    for a in found:
        text = hits.texts[a.passage]
        assert a.passage_id == hits.ids[a.passage] and a.text == text[a.start : a.end]
    best = max(
        (
            reference(qa_dir, QUESTION, t, top_k=3)[0] | {"id": i}
            for t, i in zip(hits.texts, hits.ids)
        ),
        key=lambda w: w["score"],
    )
    assert (found[0].text, found[0].passage_id) == (best["answer"], best["id"])
    assert found[0].score == pytest.approx(best["score"], abs=1e-4)
    code = main(["answer", QUESTION, "--index", str(tmp_path / "ix"), "-m", str(qa_dir),
                 "--format", "json", "-k", "3", "--top-k", "3"])  # fmt: skip
    assert code == 0
    got = json.loads(capsys.readouterr().out)
    assert [(a["text"], a["passage_id"]) for a in got] == [(a.text, a.passage_id) for a in found]


def test_bad_inputs_are_one_line_exit_2(qa_dir, tag_dir, tmp_path, refused):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    m = ["-m", str(qa_dir)]
    cases = {
        "empty context": (["answer", QUESTION, *m, "--context", " "], "the context is empty"),
        "empty context file": (["answer", QUESTION, *m, "--context", str(empty)], "is empty"),
        "empty question": (["answer", " ", *m, "--context", SHORT], "question is empty"),
        "no context": (["answer", QUESTION, *m], "one of the arguments --context --index"),
        "both": (["answer", QUESTION, *m, "--context", SHORT, "--index", "x"], "not allowed"),
        "a tagger": (
            ["answer", QUESTION, "-m", str(tag_dir), "--context", SHORT],
            "a token-classification head; this needs a question-answering head",
        ),
        "no head": (["answer", QUESTION, "--context", SHORT], "an encoder without a task head"),
        "question too long": (
            ["answer", " ".join(["horse"] * 60), *m, "--context", SHORT],
            "shorten the question",
        ),
        "stride too big": (
            ["answer", QUESTION, *m, "--context", SHORT, "--doc-stride", "60"],
            "lower the doc stride",
        ),
        "window too big": (
            ["answer", QUESTION, *m, "--context", SHORT, "--max-length", "500"],
            "max_length=500 is not valid",
        ),
    }
    refused(cases)
    with pytest.raises(bertex.OptionError, match="not both or neither"):
        bertex.answer(QUESTION, model=qa_dir)
