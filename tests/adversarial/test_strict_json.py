"""Issue 30, output is always valid JSON: every JSON/JSONL output of every command parses with
a strict parser (NaN, Infinity refused), and a model that makes NaN vectors is refused with one
line before anything is written, never printed as a bare NaN that jq and JSON.parse reject."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bertex.cli.main import main

from .test_head_files import strict_json, write_head
from .test_io_attacks import one_line_error
from .test_tf_folders import TINY

TEXTS = ["a good film", "an awful film", "a dog runs in the park", "the cat sleeps"]


def parse_all(text: str, lines: bool) -> list:
    chunks = [x for x in text.splitlines() if x.strip()] if lines else [text]
    assert chunks, "no output"
    return [strict_json(c) for c in chunks]


def test_every_command_writes_strict_json(tiny_bert, bert_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BERTEX_CACHE", str(tmp_path / "cache"))
    m = ["--model", str(bert_dir)]
    corpus = tmp_path / "c.jsonl"
    rows = [{"id": f"d{i}", "text": t, "lang": "en"} for i, t in enumerate(TEXTS)]
    corpus.write_text("\n".join(json.dumps(r) for r in rows) + '\n{"id": "bad"}\n')
    labelled = tmp_path / "l.csv"
    labelled.write_text(
        "text,label\n"
        + "".join(f"{t},{'pos' if 'good' in t or 'cat' in t else 'neg'}\n" for t in TEXTS)
    )
    pairs = tmp_path / "p.csv"
    pairs.write_text("".join(f"{a},{b},{i}\n" for i, (a, b) in enumerate(zip(TEXTS, TEXTS[1:]))))
    head = write_head(tmp_path / "h.bertex", tiny_bert)
    texts = tmp_path / "t.txt"
    texts.write_text("\n".join(TEXTS) + "\n")
    ix = tmp_path / "ix"
    printed = {  # command -> is its stdout JSON lines (True) or one document (False)
        ("info", str(bert_dir), "--format", "json"): False,
        ("tokens", "a cat", "--format", "json", *m): False,
        ("embed", "a cat", "--format", "json", *m): False,
        ("embed", "a cat", "--format", "jsonl", "--level", "token", *m): True,
        ("embed", "a cat", "--format", "json", "--level", "word", "--layers", "all", *m): False,
        ("predict", str(head), "--input", str(texts), *m): True,
        ("index", "build", str(ix), "--input", str(corpus), "--field", "lang", "-q", *m): None,
        ("index", "info", str(ix), "--format", "json"): False,
        ("search", str(ix), "a film", "--format", "json", *m): False,
        ("search", str(ix), "a film", "--format", "jsonl", *m): True,
        ("convert", str(TINY), str(tmp_path / "hf"), "--format", "json"): False,
    }
    for argv, lines in printed.items():
        assert main(list(argv)) == 0, argv
        out = capsys.readouterr().out
        if lines is not None:
            parse_all(out, lines)
    written = {  # files the commands write
        ("embed", "--input", str(corpus), "--out", str(tmp_path / "v.jsonl"), "--quiet", *m):
            [tmp_path / "v.jsonl", tmp_path / "v.jsonl.errors.jsonl"],
        ("embed", "--input", str(texts), "--out", str(tmp_path / "v.npy"), "--quiet", *m):
            [tmp_path / "v.npy.ids.jsonl", tmp_path / "v.npy.meta.json"],
        ("eval", "sts", str(pairs), "--out", str(tmp_path / "sts.json"), *m):
            [tmp_path / "sts.json"],
        ("probe", str(labelled), "--folds", "2", "--out", str(tmp_path / "probe.json"), *m):
            [tmp_path / "probe.json"],
    }  # fmt: skip
    for argv, paths in written.items():
        assert main(list(argv)) == 0, argv
        capsys.readouterr()
        for path in paths:
            parse_all(path.read_text(), lines=path.suffix == ".jsonl")
    assert (Path(str(ix) + ".errors.jsonl")).exists()  # the bad row of the index build
    parse_all(Path(str(ix) + ".errors.jsonl").read_text(), lines=True)


@pytest.fixture
def nan_bert(bert_dir: Path, tmp_path: Path) -> Path:
    """The tiny BERT with one NaN in its embeddings' LayerNorm: every vector is NaN."""
    from safetensors.numpy import load_file, save_file

    folder = tmp_path / "nan-bert"
    shutil.copytree(bert_dir, folder)
    weights = load_file(str(folder / "model.safetensors"))
    key = next(k for k in weights if k.endswith("embeddings.LayerNorm.weight"))
    weights[key][0] = float("nan")
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


@pytest.mark.parametrize("fmt", ["json", "jsonl", "out.jsonl"])
def test_nan_vectors_are_refused_before_a_writer(nan_bert, tmp_path, capsys, fmt):
    """Before the fix: exit 0 and bare NaN in the output."""
    out = tmp_path / "v.jsonl"
    args = ["--out", str(out)] if fmt == "out.jsonl" else ["--format", fmt]
    assert main(["embed", "a cat", "--model", str(nan_bert), *args]) == 2
    stdout, err = capsys.readouterr()
    assert "not finite" in one_line_error(err) and "NaN" not in stdout
    assert not out.exists()
