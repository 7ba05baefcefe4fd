"""Attacks on inputs, outputs and corpus jobs (issue 16 points 1, 3, 4, 6, 10, 11, 16, 19, 21;
issue 15 point 5), each bounded to seconds: small sizes with the same shape as the originals."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import bertex
from bertex import jobstate
from bertex.cli.main import main

TEXTS = ["a man is dancing", "the child rides a horse", "a dog runs", "people watch the river"]


def embed(bert_dir: Path, *args: str) -> int:
    return main(["embed", "--model", str(bert_dir), "--quiet", *args])


def one_line_error(err: str) -> str:
    lines = [x for x in err.strip().splitlines() if not x.startswith("warning:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("bertex: error: "), err
    return lines[0]


def lines_file(path: Path, texts: list[str]) -> Path:
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return path


def stop_after_commits(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    """Stand in for a kill: the job stops once `n` shards are committed."""
    real = jobstate.Workspace.commit
    seen = {"n": 0}

    def commit(self, manifest, result):
        if seen["n"] == n:
            raise KeyboardInterrupt
        seen["n"] += 1
        real(self, manifest, result)

    monkeypatch.setattr(jobstate.Workspace, "commit", commit)


# -- 1. resume never mixes two inputs --------------------------------------------------------


def test_resume_from_another_stdin_is_refused(bert_dir, tmp_path, monkeypatch, capsys):
    out = tmp_path / "cs.parquet"
    first = "\n".join(f"first input row {i}" for i in range(8)).encode()
    other = "\n".join(f"other input row {i}" for i in range(8)).encode()
    args = ["--input", "-", "--out", str(out), "--shard-rows", "2"]
    real = jobstate.Workspace.commit
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(first)))
    stop_after_commits(monkeypatch, 2)
    assert embed(bert_dir, *args) == 130
    monkeypatch.setattr(jobstate.Workspace, "commit", real)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(other)))
    capsys.readouterr()
    assert embed(bert_dir, *args) == 2
    assert "the input changed since shard 0" in one_line_error(capsys.readouterr().err)
    assert not out.exists()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(first)))
    assert embed(bert_dir, *args) == 0  # the same stdin resumes
    ref = tmp_path / "ref.parquet"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(first)))
    assert embed(bert_dir, "--input", "-", "--out", str(ref), "--shard-rows", "2") == 0
    assert out.read_bytes() == ref.read_bytes()


def test_a_file_edited_to_the_same_size_with_its_mtime_restored_is_refused(
    bert_dir, tmp_path, monkeypatch, capsys
):
    src = lines_file(tmp_path / "in.txt", [f"row number {i} of the file" for i in range(8)])
    out = tmp_path / "o.parquet"
    stat = src.stat()
    stop_after_commits(monkeypatch, 2)
    assert embed(bert_dir, "--input", str(src), "--out", str(out), "--shard-rows", "2") == 130
    monkeypatch.undo()
    src.write_bytes(src.read_bytes().replace(b"row number 1 ", b"ROW NUMBER 1 "))
    os.utime(src, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert src.stat().st_size == stat.st_size and src.stat().st_mtime_ns == stat.st_mtime_ns
    capsys.readouterr()
    assert embed(bert_dir, "--input", str(src), "--out", str(out), "--shard-rows", "2") == 2
    assert "the input changed since shard 0" in one_line_error(capsys.readouterr().err)


# -- 3. --attentions on a corpus job ---------------------------------------------------------


def test_attentions_to_a_file_are_refused(bert_dir, tmp_path, capsys):
    src = lines_file(tmp_path / "in.txt", TEXTS)
    for args in (["--input", str(src)], ["a horse"]):
        out = tmp_path / "a.parquet"
        assert embed(bert_dir, *args, "--out", str(out), "--attentions", "--level", "token") == 2
        assert "--attentions" in one_line_error(capsys.readouterr().err)
        assert not out.exists()


# -- 4. byte order marks and other encodings -------------------------------------------------


def test_bom_in_jsonl_csv_and_txt_is_dropped(bert_dir, tmp_path, tiny_bert):
    bom = b"\xef\xbb\xbf"
    (tmp_path / "in.jsonl").write_bytes(
        bom + b"".join(json.dumps({"text": t}).encode() + b"\n" for t in TEXTS)
    )
    (tmp_path / "in.csv").write_bytes(bom + ("text\n" + "\n".join(TEXTS) + "\n").encode())
    (tmp_path / "in.txt").write_bytes(bom + ("\n".join(TEXTS) + "\n").encode())
    want = tiny_bert.embed(TEXTS, level="sentence").vectors
    for name in ("in.jsonl", "in.csv", "in.txt"):
        out = tmp_path / f"{name}.parquet"
        assert (
            embed(bert_dir, "--input", str(tmp_path / name), "--out", str(out), "--keep-text") == 0
        )
        stored = bertex.read(out)
        assert stored.ids == [0, 1, 2, 3], name  # row 0 is not lost
        assert stored.texts == TEXTS  # no BOM kept in --keep-text
        assert np.abs(stored.vectors - want).max() <= 1e-6
        assert not Path(str(out) + ".errors.jsonl").exists()


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_utf16_and_utf32_inputs_are_refused_with_one_line(bert_dir, tmp_path, capsys, encoding):
    src = tmp_path / "in.txt"
    src.write_bytes(("\n".join(TEXTS) + "\n").encode(encoding))
    assert embed(bert_dir, "--input", str(src), "--out", str(tmp_path / "o.parquet")) == 2
    assert "re-encode it" in one_line_error(capsys.readouterr().err)
    assert embed(bert_dir, "--input", str(src)) == 2  # printed: the same reader, the same line
    assert "UTF-" in one_line_error(capsys.readouterr().err)


# -- 6. one huge document --------------------------------------------------------------------


def test_a_line_over_the_document_limit_is_a_bad_row(bert_dir, tmp_path, capsys):
    src = tmp_path / "big.txt"
    with src.open("wb") as f:
        f.write(b"a short line\n" + b"word " * 400_000 + b"\nanother short line\n")  # 2 MB
    out = tmp_path / "o.parquet"
    args = ["--input", str(src), "--out", str(out), "--max-doc-bytes", "1000000"]
    assert embed(bert_dir, *args) == 0
    assert bertex.read(out).ids == [0, 2]
    (error,) = [json.loads(x) for x in Path(str(out) + ".errors.jsonl").read_text().splitlines()]
    assert error["row"] == 1 and "2,000,000 bytes, over the limit of 1,000,000" in error["reason"]
    assert embed(bert_dir, "--input", str(src), "--max-doc-bytes", "1000000") == 2
    assert "line 2: document is 2,000,000 bytes" in one_line_error(capsys.readouterr().err)


def test_a_field_over_the_document_limit_is_a_bad_row(bert_dir, tmp_path):
    big = "word " * 2000  # 10 kB
    (tmp_path / "in.jsonl").write_text(
        "".join(json.dumps({"text": t}) + "\n" for t in ["a horse", big, "a dog"])
    )
    (tmp_path / "in.csv").write_text("text\na horse\n" + big + "\na dog\n")
    pq.write_table(pa.table({"text": ["a horse", big, "a dog"]}), tmp_path / "in.parquet")
    for name in ("in.jsonl", "in.csv", "in.parquet"):
        out = tmp_path / f"{name}.parquet"
        args = ["--input", str(tmp_path / name), "--out", str(out), "--max-doc-bytes", "5000"]
        assert embed(bert_dir, *args) == 0, name
        assert bertex.read(out).ids == [0, 2], name
        assert "over the limit of 5,000" in Path(str(out) + ".errors.jsonl").read_text()


# -- 10. a kill inside the final clean-up ----------------------------------------------------


def test_a_kill_during_the_final_cleanup_leaves_a_complete_output(bert_dir, tmp_path, monkeypatch):
    src = lines_file(tmp_path / "in.txt", TEXTS * 3)
    out = tmp_path / "o.parquet"
    args = ["--input", str(src), "--out", str(out), "--shard-rows", "3"]

    def half_way(self):  # the first shard file removed, then the kill
        self.shard_files(json.loads(self.manifest_path.read_text()))[0].unlink()
        raise KeyboardInterrupt

    monkeypatch.setattr(jobstate.Workspace, "discard", half_way)
    assert embed(bert_dir, *args) == 130
    monkeypatch.undo()
    assert out.exists() and (tmp_path / "o.parquet.parts" / "manifest.json").exists()
    done = out.read_bytes()
    for _ in range(2):  # every rerun succeeds, and changes nothing
        assert embed(bert_dir, *args) == 0
        assert out.read_bytes() == done and not (tmp_path / "o.parquet.parts").exists()


# -- 11. two jobs on one output --------------------------------------------------------------


def test_a_second_job_on_the_same_output_is_refused_naming_the_pid(bert_dir, tmp_path, capsys):
    src = lines_file(tmp_path / "in.txt", TEXTS)
    out = tmp_path / "o.parquet"
    with jobstate.locked(out):
        assert embed(bert_dir, "--input", str(src), "--out", str(out)) == 2
        assert f"PID {os.getpid()}" in one_line_error(capsys.readouterr().err)
    assert embed(bert_dir, "--input", str(src), "--out", str(out)) == 0
    assert not Path(str(out) + ".lock").exists()


# -- 16. one line, exit 2, for every bad path ------------------------------------------------


def test_bad_paths_are_one_line_and_exit_2(bert_dir, tmp_path, capsys):
    src = lines_file(tmp_path / "in.txt", TEXTS)
    (tmp_path / "folder.npy").mkdir()
    (tmp_path / "folder.parquet").mkdir()
    cases = [
        (["--input", str(tmp_path / "nope.txt")], "no such file"),
        (["--input", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "o.parquet")], "no such"),
        (["a", "--level", "sentence", "--out", str(tmp_path / "folder.npy")], "is a folder"),
        (["a", "--level", "sentence", "--out", str(tmp_path / "no" / "v.npy")], "does not exist"),
        (["a", "--out", "/dev/full"], "suffix"),
        (["--file", str(tmp_path)], "is a folder"),
        (["--input", str(src), "--out", str(tmp_path / "folder.parquet")], "is a folder"),
        (["--input", str(src), "--out", str(tmp_path / "no" / "o.parquet")], "does not exist"),
    ]
    for args, why in cases:
        assert embed(bert_dir, *args) == 2, args
        assert why in one_line_error(capsys.readouterr().err), args


def test_writing_to_devices_is_one_line(bert_dir, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "bertex.cli.main", "embed", "--model", str(bert_dir), "a horse"]
    with open("/dev/full", "wb") as full:
        p = subprocess.run(cmd, stdout=full, stderr=subprocess.PIPE, env=env, timeout=120)
    assert p.returncode == 2 and "cannot write to stdout" in one_line_error(p.stderr.decode())
    full_npy = tmp_path / "full.npy"
    os.symlink("/dev/full", full_npy)
    p = subprocess.run(
        [*cmd, "--level", "sentence", "--out", str(full_npy)],
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert p.returncode == 2 and "not a regular file" in one_line_error(p.stderr.decode())
    assert os.path.exists("/dev/full") and not os.path.exists("/dev/full.tmp")


# -- 19. when every row fails ----------------------------------------------------------------


def test_when_every_row_fails_the_reasons_are_shown(bert_dir, tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_bytes(b"\n   \nbad \xff\n")
    out = tmp_path / "o.parquet"
    assert embed(bert_dir, "--input", str(src), "--out", str(out)) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "3 rows failed" in line and "row 2: invalid UTF-8" in line and "errors.jsonl" in line
    assert "--on-error fail" not in line
    assert len(Path(str(out) + ".errors.jsonl").read_text().splitlines()) == 3


# -- 21. small untruths ----------------------------------------------------------------------


def test_npy_to_a_bin_name_is_refused_truthfully(bert_dir, tmp_path, capsys):
    out = tmp_path / "v.bin"
    assert embed(bert_dir, "a", "--level", "sentence", "--format", "npy", "--out", str(out)) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "suffix" in line and "wrote" not in line
    assert list(tmp_path.iterdir()) == []
    out = tmp_path / "v.npy"
    assert embed(bert_dir, "a", "--level", "sentence", "--format", "jsonl", "--out", str(out)) == 2
    assert "is written as npy" in one_line_error(capsys.readouterr().err)


def test_file_flags_without_out_are_refused(bert_dir, capsys):
    for flag in (["--keep-text"], ["--keep-field", "lang"], ["--overwrite"]):
        assert embed(bert_dir, "a horse", *flag) == 2
        assert f"{flag[0]} needs --out" in one_line_error(capsys.readouterr().err)


def test_preview_must_not_be_negative(bert_dir, capsys):
    with pytest.raises(SystemExit) as e:
        embed(bert_dir, "a", "--preview", "-3")
    assert e.value.code == 2 and "--preview" in capsys.readouterr().err


def test_input_file_and_stdin_split_lines_the_same_way(bert_dir, tmp_path, capsys, monkeypatch):
    data = b"a man\rdancing\r\nthe child\n"
    src = tmp_path / "in.txt"
    src.write_bytes(data)
    counts = []
    for args in (["--input", str(src)], ["--file", str(src)], ["-"]):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        assert embed(bert_dir, *args, "--level", "sentence", "--format", "jsonl") == 0
        records = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        counts.append([r["text"] for r in records])
    assert counts == [["a man\rdancing", "the child"]] * 3


def test_file_is_deprecated_but_works(bert_dir, tmp_path, capsys):
    src = lines_file(tmp_path / "in.txt", TEXTS)
    assert embed(bert_dir, "--file", str(src), "--format", "jsonl") == 0
    captured = capsys.readouterr()
    assert "--file is deprecated; use --input" in captured.err
    assert len(captured.out.splitlines()) == len(TEXTS)
    assert "tokens" in json.loads(captured.out.splitlines()[0])  # --file's level: token


# -- issue 15.5: ids from an id column, of one type ------------------------------------------


def test_an_id_column_gives_the_ids_and_errors_have_one_id_type(bert_dir, tmp_path):
    pq.write_table(
        pa.table({"id": [10, 11, 12], "text": ["a horse", None, "a dog"], "lang": ["en"] * 3}),
        tmp_path / "in.parquet",
    )
    out = tmp_path / "o.parquet"
    assert embed(bert_dir, "--input", str(tmp_path / "in.parquet"), "--out", str(out)) == 0
    assert bertex.read(out).ids == ["10", "12"]
    (tmp_path / "in.jsonl").write_text('{"id": "x1", "text": "a horse"}\n{broken\n{"text": "a"}\n')
    out = tmp_path / "j.parquet"
    assert embed(bert_dir, "--input", str(tmp_path / "in.jsonl"), "--out", str(out)) == 0
    errors = [json.loads(x) for x in Path(str(out) + ".errors.jsonl").read_text().splitlines()]
    assert [e["id"] for e in errors] == [None, None]  # no string/int mix
    assert "(column 2)" in errors[0]["reason"] and "at at" not in errors[0]["reason"]
