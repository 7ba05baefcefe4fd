"""Every file bertex writes reads back with bertex.read(): every output format x every writing
command gives the library's ids and vectors; streaming reads give the same; a file of a newer
format_version is refused."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import bertex
from bertex.cli.main import main

TEXTS = ["a man is dancing", "the child rides a horse", "a dog runs", "people watch the river"]
FORMATS = ("parquet", "jsonl", "npy", "safetensors")
COMMANDS = ("texts", "input", "stdin", "file")


def write(command: str, bert_dir: Path, out: Path, tmp_path: Path, monkeypatch, *extra: str):
    """Write TEXTS to `out` with one of the writing commands; return its exit code."""
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    base = ["embed", "--model", str(bert_dir), "--out", str(out), "--quiet", *extra]
    if command == "texts":
        return main([*base, *TEXTS])
    if command == "stdin":
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(src.read_bytes())))
        return main([*base, "-"])
    flag = "--input" if command == "input" else "--file"
    return main([*base, flag, str(src)])


@pytest.fixture(scope="module")
def library(tiny_bert):
    return {
        "sentence": tiny_bert.embed(TEXTS, level="sentence").vectors,
        "token": [r.vectors for r in tiny_bert.embed(TEXTS, level="token")],
    }


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("command", COMMANDS)
def test_every_format_from_every_command_reads_back(
    fmt, command, bert_dir, tmp_path, monkeypatch, library
):
    out = tmp_path / f"v.{fmt}"
    assert write(command, bert_dir, out, tmp_path, monkeypatch, "--level", "sentence") == 0
    stored = bertex.read(out)
    assert stored.ids == list(range(len(TEXTS)))
    assert np.abs(np.asarray(stored.vectors) - library["sentence"]).max() <= 1e-6
    assert stored.meta["format_version"] == 1 and stored.meta["level"] == "sentence"
    parts = list(bertex.read(out, batch_rows=3))
    assert [len(p) for p in parts] == [3, 1]
    assert sum((p.ids for p in parts), []) == stored.ids
    assert np.array_equal(np.concatenate([p.vectors for p in parts]), stored.vectors)


@pytest.mark.parametrize("fmt", ("parquet", "jsonl"))
@pytest.mark.parametrize("command", ("texts", "input"))
def test_token_level_reads_back(fmt, command, bert_dir, tmp_path, monkeypatch, library):
    out = tmp_path / f"t.{fmt}"
    assert write(command, bert_dir, out, tmp_path, monkeypatch, "--level", "token") == 0
    stored = bertex.read(out)
    assert stored.ids == list(range(len(TEXTS)))
    for got, want in zip(stored.vectors, library["token"]):
        assert got.shape == want.shape and np.abs(got - want).max() <= 1e-6
    parts = list(bertex.read(out, batch_rows=2))
    assert all(
        np.array_equal(a, b) for a, b in zip(sum((p.vectors for p in parts), []), stored.vectors)
    )


def _set_version(out: Path, fmt: str, version: object) -> None:
    if fmt == "parquet":
        table = pq.read_table(out)
        meta = json.loads(table.schema.metadata[b"bertex"])
        meta["format_version"] = version
        pq.write_table(table.replace_schema_metadata({b"bertex": json.dumps(meta)}), out)
    elif fmt == "jsonl":
        head, rest = out.read_text().split("\n", 1)
        doc = json.loads(head)
        doc["bertex"]["format_version"] = version
        out.write_text(json.dumps(doc) + "\n" + rest)
    else:
        side = out.with_name(out.name + ".meta.json")
        meta = json.loads(side.read_text())
        meta["format_version"] = version
        side.write_text(json.dumps(meta))


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_newer_format_version_is_refused(fmt, bert_dir, tmp_path, monkeypatch):
    out = tmp_path / f"v.{fmt}"
    assert write("texts", bert_dir, out, tmp_path, monkeypatch, "--level", "sentence") == 0
    _set_version(out, fmt, 99)
    with pytest.raises(bertex.FormatVersionError, match="format_version 99"):
        bertex.read(out)
    _set_version(out, fmt, "1")
    with pytest.raises(bertex.FormatVersionError):
        bertex.read(out)


def test_to_pandas_and_keep_fields(bert_dir, tmp_path):
    src = tmp_path / "in.jsonl"
    rows = [{"id": f"d{i}", "text": t, "lang": "en", "n": i} for i, t in enumerate(TEXTS)]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "o.parquet"
    args = ["--keep-field", "lang", "--keep-field", "n", "--keep-text"]
    assert (
        main(
            [
                "embed",
                "--model",
                str(bert_dir),
                "--input",
                str(src),
                "--out",
                str(out),
                "--quiet",
                *args,
            ]
        )
        == 0
    )
    stored = bertex.read(out)
    assert stored.ids == [f"d{i}" for i in range(len(TEXTS))]  # the id field, by default
    assert stored.fields == {"lang": ["en"] * 4, "n": ["0", "1", "2", "3"]}
    frame = stored.to_pandas()
    assert list(frame["id"]) == stored.ids and list(frame["lang"]) == ["en"] * 4
    assert np.array_equal(np.stack(frame["vector"].to_list()), stored.vectors)
