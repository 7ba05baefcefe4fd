"""One configuration source per setting: the CLI shows and uses the library's defaults and
choices, and BERTEX_* variables sit between the flags and those defaults."""

from __future__ import annotations

import json

import pytest

import bertex
from bertex.cli.main import build_parser, main
from bertex.config import EmbedOptions, LoadOptions, choices_of, default_of


def _help(command: str) -> str:
    sub = build_parser()._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    return sub.format_help()


def test_cli_choices_and_defaults_come_from_the_library():
    text = " ".join(_help("embed").split())
    for name in ("combine", "subword", "dtype", "long", "batch_tokens"):
        assert f"default: {default_of(EmbedOptions, name)}" in text, name
    for name in ("level", "pooling", "combine", "subword", "long", "backend", "precision"):
        assert "{" + ",".join(choices_of(name)) + "}" in text, name


def test_environment_sits_between_flags_and_defaults(bert_dir, capsys, monkeypatch):
    long = " ".join(["word"] * 200)
    monkeypatch.setenv("BERTEX_LONG", "truncate")
    monkeypatch.setenv("BERTEX_MODEL", str(bert_dir))
    assert main(["embed", long, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["meta"]["long"] == "truncate" and doc["meta"]["model"] == str(bert_dir)
    assert main(["embed", long, "--format", "json", "--long", "window"]) == 0  # a flag wins
    assert json.loads(capsys.readouterr().out)["meta"]["long"] == "window"


def test_bad_environment_value_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv("BERTEX_BACKEND", "tensorflow")
    assert main(["embed", "a"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'torch', 'onnx'" in err


def test_load_options_from_env():
    opts = LoadOptions.from_env({"BERTEX_PRECISION": "INT8", "BERTEX_MODEL": " "})
    assert opts.precision == "int8" and opts.model == "all-MiniLM-L6-v2"
    with pytest.raises(bertex.OptionError, match="fp32"):
        LoadOptions.from_env({"BERTEX_PRECISION": "fp64"})
