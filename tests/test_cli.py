"""The `bertex` command: human and machine output, input routes, and exit codes.
A user mistake gives exit code 2 and one line on stderr, never a traceback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import bertex
from bertex.cli.main import main

BIN = Path(sys.executable).with_name("bertex")


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([str(BIN), *args], input=stdin, capture_output=True, env=env, timeout=300)


@pytest.mark.slow
def test_readme_main_job_shows_tokens_shape_preview_and_unk_warning():
    p = run("embed", "--level", "token", "你好，世界！", "BERT turns text into vectors.")
    out, err = p.stdout.decode(), p.stderr.decode()
    assert p.returncode == 0, err
    assert "[UNK] '你'" in out and "(8, 384)" in out and "[CLS]" in out
    assert "3 of 6 characters (50.0%)" in err and "Traceback" not in err
    assert "2 inputs" in out


@pytest.mark.slow
def test_info_of_the_default_model():
    p = run("info", "all-MiniLM-L6-v2", "--format", "json")
    data = json.loads(p.stdout)
    assert p.returncode == 0
    assert (data["num_layers"], data["hidden_size"], data["num_heads"]) == (6, 384, 12)
    assert (data["vocab_size"], data["max_positions"], data["lowercase"]) == (30522, 512, True)
    assert data["default_pooling"] == "mean" and data["max_length"] == 256


def test_usage_errors_exit_2_with_one_line(bert_dir):
    for args in (
        ["embed", "a", "--level", "paragraph"],
        ["embed", "--model", str(bert_dir)],
        ["embed", "", "--model", str(bert_dir)],
        ["nosuchcommand"],
        ["embed", "a", "--model", "/no/such/folder"],
        ["embed", "a", "--model", str(bert_dir), "--layers", "9"],
    ):
        p = run(*args)
        err = p.stderr.decode()
        assert p.returncode == 2, (args, err)
        assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("bertex: error:")


def test_embed_human_output(bert_dir, capsys):
    assert main(["embed", "a man is dancing", "--model", str(bert_dir), "--level", "token"]) == 0
    out = capsys.readouterr().out
    assert "vectors (6, 32) float32" in out and "dancing" in out or "##" in out
    assert "1 inputs" in out


def test_the_default_level_is_sentence_as_in_python(bert_dir, tiny_bert, capsys):
    texts = ["a man is dancing", "a child rides a horse"]
    assert main(["embed", *texts, "--model", str(bert_dir), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["meta"]["level"] == "sentence" == tiny_bert.embed(texts).meta.level


def test_sentence_json_matches_the_library(bert_dir, tiny_bert, capsys):
    texts = ["a man is dancing", "a child rides a horse"]
    assert (
        main(["embed", *texts, "--model", str(bert_dir), "--level", "sentence", "--format", "json"])
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    want = tiny_bert.embed(texts, level="sentence").vectors
    got = np.array([r["vector"] for r in doc["results"]], dtype=np.float32)
    assert np.abs(got - want).max() <= 1e-6
    assert doc["meta"]["pooling"] == "mean" and doc["meta"]["level"] == "sentence"


def test_token_jsonl_has_tokens_offsets_and_meta(bert_dir, capsys):
    assert (
        main(
            [
                "embed",
                "a horse",
                "the child",
                "--model",
                str(bert_dir),
                "--level",
                "token",
                "--format",
                "jsonl",
                "--layers=-2,-1",
                "--combine",
                "mean",
            ]
        )
        == 0
    )
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2 and lines[0]["tokens"][0] == "[CLS]"
    assert len(lines[0]["vectors"]) == len(lines[0]["tokens"]) == len(lines[0]["offsets"])
    assert lines[1]["meta"]["layers"] == [1, 2] and lines[1]["meta"]["combine"] == "mean"


def test_npy_output_with_metadata_beside_it(bert_dir, tiny_bert, tmp_path):
    out = tmp_path / "v.npy"
    assert (
        main(
            [
                "embed",
                "a",
                "b c",
                "--model",
                str(bert_dir),
                "--level",
                "sentence",
                "--format",
                "npy",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    arr = np.load(out)
    meta = json.loads((tmp_path / "v.npy.meta.json").read_text())
    assert arr.shape == (2, 32) and meta["vector_shape"] == [32]
    assert meta["weights_sha256"] == tiny_bert.weights_sha256
    assert bertex.read(out).ids == [0, 1]
    assert (
        main(["embed", "a", "b", "--model", str(bert_dir), "--level", "token", "--out", str(out)])
        == 2
    )  # token vectors of 2 inputs do not fit one array


def test_file_and_stdin_inputs(bert_dir, tmp_path):
    f = tmp_path / "in.txt"
    f.write_text("a man is dancing\nthe child\n", encoding="utf-8")
    p = run(
        "embed",
        "--file",
        str(f),
        "--model",
        str(bert_dir),
        "--level",
        "sentence",
        "--format",
        "jsonl",
    )
    assert p.returncode == 0 and len(p.stdout.decode().splitlines()) == 2
    p = run(
        "embed",
        "-",
        "--model",
        str(bert_dir),
        "--level",
        "sentence",
        "--format",
        "jsonl",
        stdin=b"one\ntwo\nthree\n",
    )
    assert p.returncode == 0 and len(p.stdout.decode().splitlines()) == 3


def test_bad_lines_in_a_file_name_the_line(bert_dir, tmp_path):
    f = tmp_path / "bad.txt"
    f.write_bytes(b"fine\nbad \xff byte\n")
    p = run("embed", "--file", str(f), "--model", str(bert_dir))
    assert p.returncode == 2 and "line 2: invalid UTF-8" in p.stderr.decode()
    f.write_bytes(b"fine\n\nthird\n")
    p = run("embed", "--file", str(f), "--model", str(bert_dir))
    assert p.returncode == 2 and "line 2: the text is empty" in p.stderr.decode()
    p = run("embed", "--file", str(tmp_path / "missing.txt"), "--model", str(bert_dir))
    assert p.returncode == 2 and "no such file" in p.stderr.decode()


def test_windowed_and_truncated_counts_are_printed(bert_dir, capsys):
    long = " ".join(["the child is riding a horse"] * 30)
    assert main(["embed", long, "short", "--model", str(bert_dir)]) == 0
    captured = capsys.readouterr()
    assert "1 windowed, 0 truncated" in captured.out and "windowed x" in captured.out
    assert "overlapping windows" in captured.err
    assert main(["embed", long, "--model", str(bert_dir), "--long", "truncate"]) == 0
    assert "0 windowed, 1 truncated" in capsys.readouterr().out


def test_tokens_command(bert_dir, capsys):
    assert main(["tokens", "Riding horses", "--model", str(bert_dir), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc[0]["tokens"][0] == "[CLS]" and doc[0]["unk_count"] == 0
    assert len(doc[0]["offsets"]) == len(doc[0]["ids"]) == len(doc[0]["word_ids"])
    assert main(["tokens", "Riding horses", "--model", str(bert_dir)]) == 0
    assert "word" in capsys.readouterr().out


def test_pairs_and_attentions_from_the_cli(bert_dir, capsys):
    assert (
        main(
            [
                "embed",
                "a man",
                "--pair",
                "a horse",
                "--model",
                str(bert_dir),
                "--level",
                "token",
                "--attentions",
                "--format",
                "jsonl",
            ]
        )
        == 0
    )
    rec = json.loads(capsys.readouterr().out)
    n = len(rec["tokens"])
    assert rec["text_pair"] == "a horse"
    assert np.array(rec["attentions"]).shape == (2, 2, n, n)


def test_version_and_help():
    assert run("--version").stdout.decode().startswith("bertex ")
    help_text = run("embed", "--help").stdout.decode()
    for option in ("--level", "--layers", "--pooling", "--long", "--format"):
        assert option in help_text
    assert bertex.__version__ in run("--version").stdout.decode()


def test_profile_reports_each_stage(bert_dir, capsys):
    assert (
        main(
            [
                "embed",
                "a man is dancing",
                "--model",
                str(bert_dir),
                "--profile",
                "--format",
                "jsonl",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    for stage in ("tokenize", "plan", "forward", "pool", "report", "output", "write"):
        assert f"{stage} " in err
    assert err.startswith("profile (1 inputs):") or "\nprofile (1 inputs):" in err
    assert "µs/input" in err and "host work (all but forward)" in err


@pytest.mark.parametrize("out", ["o.parquet", "o.npy"])
def test_profile_works_with_input(bert_dir, tmp_path, capsys, out):
    """--profile on a corpus job (--input with --out) and on TEXT arguments to --out."""
    src = tmp_path / "in.txt"
    src.write_text("a man is dancing\n\nthe cat sat\n" * 5, encoding="utf-8")
    base = ["embed", "--model", str(bert_dir), "--profile", "--out"]
    assert main([*base, str(tmp_path / out), "--input", str(src), "-q"]) == 0
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if x.startswith("profile ("))
    for stage in ("tokenize", "plan", "forward", "pool", "report", "write"):
        assert f" {stage} " in line
    assert main([*base, str(tmp_path / ("t-" + out)), "one text", "two"]) == 0
    assert "profile (2 inputs):" in capsys.readouterr().err


def _profile_line(err: str) -> str:
    return next(x for x in err.splitlines() if x.startswith("profile"))


def test_profile_separates_cpu_from_wall_and_counts_this_runs_rows(bert_dir, tmp_path, capsys):
    """Python's own stages show their thread CPU beside their wall clock; a resumed job counts
    only the rows this run embedded; a job with nothing left to do says so."""
    src = tmp_path / "in.txt"
    src.write_text("a man is dancing\nthe cat sat\na dog runs\n\nbirds fly\nrain falls\n")
    out = tmp_path / "o.npy"
    base = ["embed", "--model", str(bert_dir), "--input", str(src), "--out", str(out), "-q"]
    assert main([*base, "--shard-rows", "2", "--on-error", "fail"]) == 2  # row 3 is empty
    capsys.readouterr()
    assert main([*base, "--shard-rows", "2", "--profile"]) == 0
    line = _profile_line(capsys.readouterr().err)
    assert line.startswith("profile (4 inputs):"), line  # rows 2-5; rows 0-1 were resumed
    for stage in ("plan", "pool", "report", "output", "write"):
        assert re.search(rf" {stage} [0-9.]+ s \([0-9.]+ µs/input, CPU [0-9.]+\)", line), stage
    for stage in ("tokenize", "forward"):  # their work runs on threads of their own
        assert re.search(rf" {stage} [0-9.]+ s \([0-9.]+ µs/input\)", line), stage
    assert "CPU of Python's own stages (plan, pool, report, output, write)" in line
    assert main([*base, "--shard-rows", "2", "--profile"]) == 0
    line = _profile_line(capsys.readouterr().err)
    assert line == f"profile: nothing was embedded in this run: {out} was already complete"


def test_the_command_freezes_what_loading_made_and_a_caller_keeps_its_gc(bert_dir, tmp_path):
    """Run as `bertex`, the process is the command's: the objects loading the model made are
    frozen for the garbage collector (no full collection scans them mid-job). A program that
    calls main(argv) keeps its collector as it was."""
    import gc

    src = tmp_path / "in.txt"
    src.write_text("a man is dancing\nthe cat sat\n")
    args = ["embed", "--model", str(bert_dir), "--input", str(src), "-q"]
    for own, call in ((True, "main()"), (False, "main(sys.argv[1:])")):
        script = (
            "import gc, sys; from bertex.cli.main import main; sys.argv[0] = 'bertex';"
            f" code = {call}; print(gc.get_freeze_count(), code)"
        )
        out = ["--out", str(tmp_path / f"{own}.npy")]
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        got = subprocess.run(
            [sys.executable, "-c", script, *args, *out], capture_output=True, text=True, env=env
        )
        frozen, code = got.stdout.split()[-2:]
        assert code == "0", got.stderr
        assert (int(frozen) > 10_000) is own, (own, frozen)
    before = gc.get_freeze_count()
    assert main([*args, "--out", str(tmp_path / "here.npy")]) == 0
    assert gc.get_freeze_count() == before


def test_profile_of_a_job_whose_every_row_was_committed_before(bert_dir, tmp_path, capsys):
    """A job killed after its last shard, before OUT was written, embeds nothing when run
    again: the profile says so and gives the seconds of the write, not per-input figures
    over no input."""
    src = tmp_path / "in.txt"
    src.write_text("a man is dancing\nthe cat sat\na dog runs\n")
    out = tmp_path / "o.npy"
    base = ["embed", "--model", str(bert_dir), "--input", str(src), "--out", str(out), "-q"]
    (tmp_path / "o.npy.tmp").mkdir()  # the final write fails once every shard is committed
    assert main([*base, "--shard-rows", "2"]) == 2
    (tmp_path / "o.npy.tmp").rmdir()
    capsys.readouterr()
    assert main([*base, "--shard-rows", "2", "--profile"]) == 0
    line = _profile_line(capsys.readouterr().err)
    assert re.fullmatch(
        r"profile: nothing was embedded in this run: every row was in the shards an earlier "
        r"run committed; write [0-9.]+ s \(CPU [0-9.]+ s\)",
        line,
    ), line
    assert len(bertex.read(out).ids) == 3


def test_profile_of_a_ray_job_says_where_the_embedding_ran(bert_dir, tmp_path, capsys, monkeypatch):
    """With --engine ray the model runs in Ray's actors: this process times its commits and
    the final write only, and the profile must say so rather than pass them off as the run."""
    from bertex.corpus import local_executor
    from bertex.distributed import ray_engine

    def actors(model, options, keep_text, numeric_ids, **_):  # embeds untimed, as actors do
        return local_executor(bertex.load(model), options, keep_text, numeric_ids)

    monkeypatch.setattr(ray_engine, "ray_executor", actors)
    src = tmp_path / "in.txt"
    src.write_text("a man is dancing\nthe cat sat\n")
    out = tmp_path / "o.npy"
    base = ["embed", "--model", str(bert_dir), "--input", str(src), "--out", str(out), "-q"]
    assert main([*base, "--engine", "ray", "--profile"]) == 0
    err = capsys.readouterr().err
    line = _profile_line(err)
    assert line.startswith("profile (2 inputs): write "), line  # no tokenize, no forward
    assert not re.search(r" (tokenize|forward) [0-9.]+ s", line), line
    assert "the embedding ran in Ray's actors, untimed here" in err, err
