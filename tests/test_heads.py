"""Heads: train, save (safetensors + JSON, no pickle), load, predict; refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bertex import heads
from bertex.analysis import train
from bertex.analysis.probe import classifier
from bertex.cli.main import main
from bertex.errors import HeadError, OptionError

GOOD = ["a good film", "great acting", "i loved it", "wonderful story", "good fun"]
BAD = ["a bad film", "awful acting", "i hated it", "boring story", "bad fun"]
CONLL = (
    "John\tB-person\nlives\tO\nin\tO\nNew\tB-location\nYork\tI-location\n\n"
    "Mary\tB-person\nvisited\tO\nParis\tB-location\n\n"
    "Anna\tB-person\nleft\tO\nRome\tB-location\n\n"
)


@pytest.fixture()
def labelled(tmp_path: Path) -> Path:
    path = tmp_path / "train.csv"
    rows = [(t, "pos") for t in GOOD] + [(t, "neg") for t in BAD]
    path.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))
    return path


def test_classify_head_round_trip_equals_sklearn(tiny_bert, labelled, tmp_path):
    head = train.train_classify(tiny_bert, str(labelled), layer=1, pooling="mean")
    path = tmp_path / "head.bertex"
    head.save(path)
    loaded = heads.load(path, tiny_bert)
    assert loaded.provenance == head.provenance
    assert loaded.provenance.weights_sha256 == tiny_bert.weights_sha256
    x = tiny_bert.embed(GOOD + BAD, layers=1, pooling="mean", normalize=False).vectors
    ref = classifier().fit(x, ["pos"] * 5 + ["neg"] * 5)  # the same fit, kept in sklearn
    got = loaded.predict(GOOD + BAD)
    probs = np.array([[p.probabilities[c] for c in ref.classes_] for p in got])
    np.testing.assert_allclose(probs, ref.predict_proba(x), atol=1e-4)
    assert [p.label for p in got] == ref.predict(x).tolist()
    alone = heads.load(path)  # loads the model the head names, as bertex.heads.load does
    assert alone.predict(GOOD) == got[:5]
    assert b"pickle" not in path.read_bytes()[:2000] and path.read_bytes()[8:9] == b"{"


def test_head_from_another_model_is_refused(tiny_bert, tiny_roberta, labelled, tmp_path):
    path = tmp_path / "head.bertex"
    train.train_classify(tiny_bert, str(labelled)).save(path)
    with pytest.raises(HeadError, match="trained on .* but the loaded model"):
        heads.load(path, tiny_roberta)


def test_corrupted_head_is_refused(tiny_bert, labelled, tmp_path):
    path = tmp_path / "head.bertex"
    train.train_classify(tiny_bert, str(labelled)).save(path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(HeadError, match="not a readable bertex head"):
        heads.load(path)
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(HeadError):
        heads.load(path)


def test_unknown_label_is_refused_and_known_subset_restricts(tiny_bert, labelled):
    head = train.train_classify(tiny_bert, str(labelled)).bind(tiny_bert)
    with pytest.raises(OptionError, match="'spam' is not valid; choose one of: 'neg', 'pos'"):
        head.predict(GOOD, labels=["spam"])
    assert {p.label for p in head.predict(BAD, labels=["pos"])} == {"pos"}


def test_tagger_gives_character_spans(tiny_bert, tmp_path):
    data = tmp_path / "t.conll"
    data.write_text(CONLL)
    head = train.train_tag(tiny_bert, str(data), layer=-1).bind(tiny_bert)
    text = "John lives in New York"
    for ents in head.predict([text, "Mary visited Paris"]):
        for e in ents:
            assert e.label in {"person", "location"}
    for e in head.predict([text])[0]:
        assert text[e.start : e.end] == e.text and e.text.strip() == e.text


def test_cli_train_and_predict(bert_dir, labelled, tmp_path, capsys):
    out = tmp_path / "h.bertex"
    args = ["--model", str(bert_dir)]
    assert (
        main(
            ["train", "classify", "--data", str(labelled), "--layer", "1", "--out", str(out), *args]
        )
        == 0
    )
    inputs = tmp_path / "in.txt"
    inputs.write_text("a good film\nawful acting\n")
    capsys.readouterr()
    assert main(["predict", str(out), "--input", str(inputs), *args]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["text"] for x in lines] == ["a good film", "awful acting"]
    assert set(lines[0]["prediction"]["probabilities"]) == {"pos", "neg"}
    assert main(["predict", str(out), "--input", str(inputs), "--labels", "x", *args]) == 2
