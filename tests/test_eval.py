"""bertex eval sts: every layer x pooling in one pass; cells agree with the library's own."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import bertex
from bertex.analysis import data, sts
from bertex.analysis.layers import sentence_features
from bertex.cli.main import main
from bertex.errors import DataFileError

STSB = Path("/work/shared/data/stsb/stsb-en-dev.csv")
PAIRS = [
    ("a man is dancing", "a man dances", 4.8),
    ("a dog runs in the park", "the cat sleeps", 0.5),
    ("children play football", "kids are playing soccer", 4.0),
    ("the stock market fell", "a woman slices onions", 0.0),
    ("he plays the guitar", "a man is playing a guitar", 3.9),
    ("rain is falling", "it is raining outside", 4.5),
]


def _pairs_csv(tmp_path: Path, header: bool = True) -> Path:
    lines = ["sentence1,sentence2,score"] if header else []
    lines += [f"{a},{b},{s}" for a, b, s in PAIRS]
    path = tmp_path / "pairs.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("pooling", ["mean", "cls", "max", "first_last_avg"])
def test_per_layer_pooling_equals_library_sentence_level(tiny_bert, pooling):
    texts = [a for a, _, _ in PAIRS]
    feats = sentence_features(tiny_bert, texts, [pooling])[pooling]  # (N, L+1, H)
    n = tiny_bert.info.num_layers
    ref = tiny_bert.embed(texts, pooling=pooling, normalize=False).vectors
    np.testing.assert_allclose(feats[:, n], ref, rtol=1e-5, atol=1e-6)
    if pooling != "first_last_avg":  # a middle layer too
        mid = tiny_bert.embed(texts, pooling=pooling, layers=1, normalize=False).vectors
        np.testing.assert_allclose(feats[:, 1], mid, rtol=1e-5, atol=1e-6)


def test_one_forward_pass_per_batch(tiny_bert, monkeypatch):
    calls = []
    real = tiny_bert.embed
    monkeypatch.setattr(tiny_bert, "embed", lambda *a, **k: calls.append(k) or real(*a, **k))
    sts.evaluate_sts(tiny_bert, data.Pairs(*map(tuple, zip(*PAIRS))), batch_size=100)
    assert len(calls) == 1 and calls[0]["level"] == "hidden_states"


def test_spearman_matches_a_rank_reference():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(size=50)
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    assert sts.spearman(x, y) == pytest.approx(np.corrcoef(rx, ry)[0, 1])


@pytest.mark.parametrize("header", [True, False])
def test_cli_table_json_and_heatmap(bert_dir, tmp_path, capsys, header):
    out, png = tmp_path / "r.json", tmp_path / "h.png"
    args = ["eval", "sts", str(_pairs_csv(tmp_path, header)), "--model", str(bert_dir)]
    assert main([*args, "--out", str(out), "--plot", str(png)]) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    best = report["best"]
    assert "*" in printed and f"layer={best['layer']}" in printed
    assert set(report["poolings"]) >= {"cls", "mean", "max", "first_last_avg"}
    assert len(report["spearman"]["mean"]) == len(report["layers"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_jsonl_and_tsv_with_named_columns(tmp_path):
    j = tmp_path / "p.jsonl"
    j.write_text("".join(json.dumps({"s1": a, "s2": b, "y": s}) + "\n" for a, b, s in PAIRS))
    t = tmp_path / "p.tsv"
    t.write_text("y\ts1\ts2\n" + "".join(f"{s}\t{a}\t{b}\n" for a, b, s in PAIRS))
    for path in (j, t):
        got = data.read_pairs(path, ("s1", "s2", "y"))
        assert got.a == tuple(a for a, _, _ in PAIRS) and got.scores[0] == 4.8


def test_bad_pair_files_name_the_row(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("sentence1,sentence2,score\na,b,1\nc,d,high\n")
    with pytest.raises(DataFileError, match=r"row 3: score 'high' is not a number"):
        data.read_pairs(bad)
    short = tmp_path / "short.csv"
    short.write_text("sentence1,sentence2,score\na,b,1\nc,d\n")
    with pytest.raises(DataFileError, match=r"row 3: 2 columns"):
        data.read_pairs(short)
    j = tmp_path / "bad.jsonl"
    j.write_text('{"sentence1": "a", "sentence2": "b", "score": 1}\n{"sentence1": "a"}\n')
    with pytest.raises(DataFileError, match=r"row 2: missing field 'sentence2'"):
        data.read_pairs(j)


def test_cli_bad_file_is_one_line_exit_2(bert_dir, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,x\n")
    assert main(["eval", "sts", str(bad), "--model", str(bert_dir)]) == 2
    assert "row 1: score 'x' is not a number" in capsys.readouterr().err


@pytest.mark.slow
def test_default_model_last_layer_mean_equals_sentence_level(default_model: bertex.Model):
    pairs = data.read_pairs(STSB)
    sub = data.Pairs(pairs.a[:300], pairs.b[:300], pairs.scores[:300])
    report = sts.evaluate_sts(default_model, sub)
    a = default_model.embed(list(sub.a)).vectors
    b = default_model.embed(list(sub.b)).vectors
    ref = 100 * sts.spearman((a * b).sum(axis=1), np.asarray(sub.scores))
    n = default_model.info.num_layers
    assert report.cell("mean", n) == pytest.approx(ref, abs=1e-6)
    assert report.cell("default (mean)", n) == pytest.approx(ref, abs=1e-6)
