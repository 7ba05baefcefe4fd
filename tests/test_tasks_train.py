"""`bertex train` scores its head on a fixed-seed held-out split (bertex.holdout) and says so;
the BIO rules agree with seqeval; the split rule is one function others can call."""

from __future__ import annotations

import doctest
import importlib
import random

import numpy as np
import pytest

from bertex import heads, holdout
from bertex.analysis import data, train
from bertex.cli.main import main
from bertex.tasks import spans

GOOD = ["a good film", "great acting", "i loved it", "wonderful story", "good fun", "nice hat"]
BAD = ["a bad film", "awful acting", "i hated it", "boring story", "bad fun", "ugly hat"]
SENTS = [
    ("John lives in New York", "B-PER O O B-LOC I-LOC"),
    ("Mary visited Paris", "B-PER O B-LOC"),
    ("Anna left Rome", "B-PER O B-LOC"),
    ("the man is riding a horse", "O O O O O O"),
    ("Peter saw London", "B-PER O B-LOC"),
    ("Tom likes Berlin", "B-PER O B-LOC"),
    ("a dog in Madrid", "O O O B-LOC"),
    ("Lisa Smith went to Oslo", "B-PER I-PER O O B-LOC"),
    ("the cat is eating", "O O O O"),
    ("Paul was in Vienna", "B-PER O O B-LOC"),
    ("Kate met Sam in Lima", "B-PER O B-PER O B-LOC"),
    ("Bob flew to Tokyo", "B-PER O O B-LOC"),
]


@pytest.mark.parametrize(
    "module", ["bertex.tasks.spans", "bertex.tasks.tag", "bertex.tasks.folder", "bertex.holdout"]
)
def test_docstring_examples_hold(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_bio_rules_agree_with_seqeval():
    from seqeval.metrics import f1_score, precision_score, recall_score

    rng = random.Random(0)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    gold = [[rng.choice(tags) for _ in range(rng.randint(1, 12))] for _ in range(300)]
    pred = [[t if rng.random() < 0.7 else rng.choice(tags) for t in s] for s in gold]
    p, r, f = spans.entity_scores(gold, pred)
    assert p == pytest.approx(precision_score(gold, pred), abs=1e-12)
    assert r == pytest.approx(recall_score(gold, pred), abs=1e-12)
    assert f == pytest.approx(f1_score(gold, pred), abs=1e-12)


def test_split_rule_is_fixed_and_disjoint():
    train_rows, test_rows = holdout.split(50, 0.2, seed=0)
    assert len(test_rows) == 10 and not set(train_rows) & set(test_rows)
    assert sorted([*train_rows, *test_rows]) == list(range(50))
    again = holdout.split(50, 0.2, seed=0)
    assert np.array_equal(again[1], test_rows)
    assert not np.array_equal(holdout.split(50, 0.2, seed=1)[1], test_rows)
    with pytest.raises(Exception, match="held_out=1.0 is not valid"):
        holdout.split(10, 1.0)


def test_classify_head_is_scored_on_the_held_out_rows(tiny_bert, tmp_path):
    from sklearn.metrics import accuracy_score, f1_score

    path = tmp_path / "d.csv"
    rows = [(t, "pos") for t in GOOD] + [(t, "neg") for t in BAD]
    path.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))
    head = train.train_classify(tiny_bert, str(path), held_out=0.25, seed=3).bind(tiny_bert)
    score = head.provenance.held_out
    keep, held = holdout.split(len(rows), 0.25, 3)
    assert (score["rows"], score["train_rows"]) == (len(held), len(keep))
    pred = [p.label for p in head.predict([rows[i][0] for i in held])]
    gold = [rows[i][1] for i in held]
    assert score["accuracy"] == pytest.approx(accuracy_score(gold, pred))
    assert score["macro_f1"] == pytest.approx(f1_score(gold, pred, average="macro"))
    head.save(tmp_path / "h.bertex")
    assert heads.load(tmp_path / "h.bertex", tiny_bert).provenance.held_out == score


def test_cli_train_prints_the_held_out_score(bert_dir, tiny_bert, tmp_path, capsys):
    conll = tmp_path / "t.conll"
    conll.write_text(
        "\n".join(
            "\n".join(f"{w}\t{t}" for w, t in zip(s.split(), g.split())) + "\n" for s, g in SENTS
        )
    )
    out = tmp_path / "tag.bertex"
    argv = ["train", "tag", "--data", str(conll), "--out", str(out), "-m", str(bert_dir)]
    assert main([*argv, "--held-out", "0.25"]) == 0
    printed = capsys.readouterr().out
    assert "held-out entity precision" in printed and "3 rows held out of 12" in printed
    score = heads.load(out, tiny_bert).provenance.held_out
    tagged = data.read_conll(str(conll))
    _, held = holdout.split(len(SENTS), 0.25, 0)
    assert f"entity f1 {score['entity_f1']:.4f}" in printed
    head = heads.load(out, tiny_bert)
    pred = []
    for i in held:
        words = list(tagged.words[i])
        vecs = tiny_bert.embed(words, level="word", is_split_into_words=True, layers=-1).vectors
        pred.append([head.provenance.labels[j] for j in head.probabilities(vecs).argmax(axis=1)])
    assert score["entity_f1"] == pytest.approx(
        spans.entity_f1([tagged.tags[i] for i in held], pred)
    )
    assert main([*argv, "--held-out", "0"]) == 0
    assert "no held-out score" in capsys.readouterr().out
    assert main([*argv, "--held-out", "1.5"]) == 2
    assert "held_out=1.5 is not valid" in capsys.readouterr().err
