"""Corpus jobs: every input and output format, metadata round trips, bad rows, option
mismatch, unwritable outputs. Vectors are checked against the library's own for the same texts."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import bertex
from bertex.cli.main import main

TEXTS = [
    "a man is dancing",
    "the child rides a horse",
    "a woman plays the guitar",
    "the cat sat on the mat",
    "people watch the river",
    "a dog runs",
]


def job(bert_dir: Path, *args: str) -> int:
    return main(["embed", "--model", str(bert_dir), "--quiet", *args])


@pytest.fixture(scope="module")
def want(tiny_bert):
    return tiny_bert.embed(TEXTS, level="sentence").vectors


def _check(out: Path, want: np.ndarray, ids: list) -> bertex.sinks.read.Stored:
    stored = bertex.read(out)
    assert stored.ids == ids
    assert np.abs(np.asarray(stored.vectors) - want).max() <= 1e-6
    return stored


def test_txt_to_every_output_format(bert_dir, tmp_path, want, tiny_bert):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    for fmt in ("parquet", "npy", "safetensors", "jsonl"):
        out = tmp_path / f"out.{fmt}"
        assert job(bert_dir, "--input", str(src), "--out", str(out), "--shard-rows", "4") == 0
        stored = _check(out, want, list(range(len(TEXTS))))
        m = stored.meta
        assert (m["level"], m["pooling"], m["dims"], m["dtype"]) == (
            "sentence",
            "mean",
            32,
            "float32",
        )
        assert m["weights_sha256"] == tiny_bert.weights_sha256 and m["layers"] == [2]
        assert m["long"] == "window" and m["bertex_version"] == bertex.__version__
        assert m["summary"]["documents"] == len(TEXTS) and m["job"]["shard_rows"] == 4
        assert not out.with_name(out.name + ".parts").exists()
    from safetensors import safe_open

    with safe_open(str(tmp_path / "out.safetensors"), "np") as f:
        assert json.loads(f.metadata()["bertex"])["dims"] == 32
        assert f.get_tensor("vectors").shape == (len(TEXTS), 32)
    assert np.load(tmp_path / "out.npy").dtype == np.float32


def test_jsonl_csv_tsv_parquet_inputs_with_ids_and_text(bert_dir, tmp_path, want):
    ids = [f"doc-{i}" for i in range(len(TEXTS))]
    (tmp_path / "in.jsonl").write_text(
        "".join(json.dumps({"key": k, "body": t}) + "\n" for k, t in zip(ids, TEXTS))
    )
    for sep, name in ((",", "in.csv"), ("\t", "in.tsv")):
        rows = [f"key{sep}body"] + [f'{k}{sep}"{t}"' for k, t in zip(ids, TEXTS)]
        (tmp_path / name).write_text("\n".join(rows) + "\n")
    pq.write_table(pa.table({"key": ids, "body": TEXTS}), tmp_path / "in.parquet")
    for name in ("in.jsonl", "in.csv", "in.tsv", "in.parquet"):
        out = tmp_path / f"{name}.out.parquet"
        assert (
            job(
                bert_dir,
                "--input",
                str(tmp_path / name),
                "--out",
                str(out),
                "--text-col",
                "body",
                "--id-col",
                "key",
                "--keep-text",
            )
            == 0
        )
        stored = _check(out, want, ids)
        assert stored.texts == TEXTS


def test_folder_and_stdin_inputs(bert_dir, tmp_path, want, monkeypatch):
    import io
    import sys

    folder = tmp_path / "docs"
    folder.mkdir()
    for i, t in enumerate(TEXTS):
        (folder / f"{i:02d}.txt").write_text(t)
    out = tmp_path / "folder.parquet"
    assert job(bert_dir, "--input", str(folder), "--out", str(out)) == 0
    _check(out, want, [f"{i:02d}.txt" for i in range(len(TEXTS))])
    stdin = io.TextIOWrapper(io.BytesIO(("\n".join(TEXTS)).encode()))
    monkeypatch.setattr(sys, "stdin", stdin)
    out = tmp_path / "stdin.jsonl"
    assert job(bert_dir, "--input", "-", "--out", str(out)) == 0
    _check(out, want, list(range(len(TEXTS))))


def test_pairs_from_a_table(bert_dir, tmp_path, tiny_bert):
    (tmp_path / "p.jsonl").write_text(
        "".join(json.dumps({"q": a, "d": b}) + "\n" for a, b in zip(TEXTS, reversed(TEXTS)))
    )
    out = tmp_path / "p.parquet"
    assert (
        job(
            bert_dir,
            "--input",
            str(tmp_path / "p.jsonl"),
            "--out",
            str(out),
            "--text-field",
            "q",
            "--pair-field",
            "d",
            "--keep-text",
        )
        == 0
    )
    want = tiny_bert.embed(TEXTS, list(reversed(TEXTS)), level="sentence").vectors
    assert np.abs(bertex.read(out).vectors - want).max() <= 1e-6


@pytest.mark.parametrize("level", ["token", "word"])
@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_token_and_word_levels(bert_dir, tmp_path, tiny_bert, level, fmt):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS))
    out = tmp_path / f"out.{fmt}"
    assert (
        job(
            bert_dir,
            "--input",
            str(src),
            "--out",
            str(out),
            "--level",
            level,
            "--layers=-2,-1",
            "--combine",
            "stack",
            "--shard-rows",
            "4",
        )
        == 0
    )
    stored = bertex.read(out)
    want = tiny_bert.embed(TEXTS, level=level, layers=[-2, -1], combine="stack")
    for got_v, got_t, got_o, w in zip(stored.vectors, stored.tokens, stored.offsets, want):
        assert got_v.shape == w.vectors.shape and np.abs(got_v - w.vectors).max() <= 1e-6
        assert tuple(got_t) == (w.words if level == "word" else w.tokens)
        assert got_o.tolist() == w.offsets.tolist()


def test_npy_refuses_token_level(bert_dir, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("a\n")
    assert (
        job(bert_dir, "--input", str(src), "--out", str(tmp_path / "o.npy"), "--level", "token")
        == 2
    )


def test_bad_rows_are_recorded_never_dropped(bert_dir, tmp_path, want):
    lines = [t.encode() for t in TEXTS[:3]] + [b"", b"   ", b"bad \xff utf8", b"\x00\x01"]
    lines += [t.encode() for t in TEXTS[3:]]
    src = tmp_path / "in.txt"
    src.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out.parquet"
    assert job(bert_dir, "--input", str(src), "--out", str(out), "--shard-rows", "3") == 0
    stored = bertex.read(out)
    assert stored.ids == [0, 1, 2, 7, 8, 9]
    assert np.abs(stored.vectors - want).max() <= 1e-6
    errors = [
        json.loads(x) for x in (tmp_path / "out.parquet.errors.jsonl").read_text().splitlines()
    ]
    assert [e["row"] for e in errors] == [3, 4, 5, 6]
    assert "empty" in errors[0]["reason"] and "invalid UTF-8" in errors[2]["reason"]
    assert "no tokens" in errors[3]["reason"]
    assert stored.meta["summary"]["skipped"] == 4


def test_bad_rows_in_tables(bert_dir, tmp_path):
    (tmp_path / "in.jsonl").write_bytes(
        b'{"text": "a horse"}\n{"text": 3}\n{broken\n'
        b'{"other": "x"}\n{"text": null}\n[1]\n{"text": "ok"}\n'
    )
    out = tmp_path / "j.parquet"
    assert job(bert_dir, "--input", str(tmp_path / "in.jsonl"), "--out", str(out)) == 0
    reasons = [
        json.loads(x)["reason"]
        for x in (tmp_path / "j.parquet.errors.jsonl").read_text().splitlines()
    ]
    assert len(reasons) == 5 and "int, not a string" in reasons[0]
    assert "broken JSON" in reasons[1] and "missing field 'text'" in reasons[2]
    assert "null" in reasons[3] and "JSON object" in reasons[4]
    assert bertex.read(out).ids == [0, 6]
    (tmp_path / "in.csv").write_bytes(b"id,text\n1,a horse\n2,\xff\xfe\n3,,\n4,ok\n")
    out = tmp_path / "c.parquet"
    assert (
        job(bert_dir, "--input", str(tmp_path / "in.csv"), "--out", str(out), "--id-col", "id") == 0
    )
    assert bertex.read(out).ids == ["1", "4"]
    pq.write_table(pa.table({"text": ["a", None, "b"]}), tmp_path / "in.parquet")
    out = tmp_path / "p.parquet"
    assert job(bert_dir, "--input", str(tmp_path / "in.parquet"), "--out", str(out)) == 0
    assert bertex.read(out).ids == [0, 2]


def test_missing_column_is_a_clear_error(bert_dir, tmp_path, capsys):
    pq.write_table(pa.table({"body": ["a"]}), tmp_path / "in.parquet")
    assert (
        job(bert_dir, "--input", str(tmp_path / "in.parquet"), "--out", str(tmp_path / "o.parquet"))
        == 2
    )
    assert "no column 'text'; columns are 'body'" in capsys.readouterr().err


def test_on_error_fail_stops_at_the_row_and_resumes(bert_dir, tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS[:4] + [""] + TEXTS[4:]))
    out = tmp_path / "out.parquet"
    assert (
        job(
            bert_dir,
            "--input",
            str(src),
            "--out",
            str(out),
            "--shard-rows",
            "2",
            "--on-error",
            "fail",
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "row 4 (id 4): the text is empty" in err and "resume" in err
    manifest = json.loads((tmp_path / "out.parquet.parts" / "manifest.json").read_text())
    assert len(manifest["shards"]) == 2  # rows 0-3 committed
    src.write_text("\n".join(TEXTS[:4] + ["fixed"] + TEXTS[4:]))
    # the input changed: resuming would mix two inputs, so it is refused...
    assert job(bert_dir, "--input", str(src), "--out", str(out), "--shard-rows", "2") == 2
    assert "input.size" in capsys.readouterr().err
    # ...until the user starts afresh
    assert (
        job(bert_dir, "--input", str(src), "--out", str(out), "--shard-rows", "2", "--overwrite")
        == 0
    )
    assert len(bertex.read(out)) == len(TEXTS) + 1


def test_a_workspace_of_parquet_shards_still_resumes(bert_dir, tmp_path, want):
    """Committed shards are Arrow IPC files; an older bertex wrote them as Parquet. A job such
    a version left half done resumes, and its output equals one written in one go."""
    from bertex.sinks.shards import read_shard

    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS[:4] + [""] + TEXTS[4:]))
    args = ["--input", str(src), "--shard-rows", "2"]
    out = tmp_path / "out.parquet"
    assert job(bert_dir, *args, "--out", str(out), "--on-error", "fail") == 2
    parts = tmp_path / "out.parquet.parts"
    manifest = json.loads((parts / "manifest.json").read_text())
    assert [s["file"] for s in manifest["shards"]] == ["shard-000000.arrow", "shard-000001.arrow"]
    for s in manifest["shards"]:  # as the older version left them
        shard = parts / s["file"]
        pq.write_table(read_shard(shard), shard.with_suffix(".parquet"), compression="zstd")
        shard.unlink()
        s["file"] = shard.with_suffix(".parquet").name
    (parts / "manifest.json").write_text(json.dumps(manifest))
    assert job(bert_dir, *args, "--out", str(out)) == 0
    whole = tmp_path / "whole.parquet"
    assert job(bert_dir, *args, "--out", str(whole)) == 0
    resumed, once = bertex.read(out), bertex.read(whole)
    assert resumed.ids == once.ids == [0, 1, 2, 3, 5, 6]
    np.testing.assert_array_equal(np.asarray(resumed.vectors), np.asarray(once.vectors))
    assert np.abs(np.asarray(resumed.vectors) - want).max() <= 1e-6


def test_counting_a_shards_rows_reads_none_of_its_vectors(tmp_path):
    """finalize counts every shard's rows before it copies them: the count must not decompress
    the vectors (a whole second read of the job). Shown on a shard whose vector buffer's LZ4
    frame is broken: reading it fails, counting its rows does not."""
    from bertex.sinks.shards import read_shard, shard_rows, write_shard

    n, dims = 500, 64
    vectors = np.tile(np.arange(dims, dtype=np.float32), n)  # (n * dims,) compressible
    table = pa.table(
        {"id": pa.array(range(n)), "vector": pa.FixedSizeListArray.from_arrays(vectors, dims)}
    )
    path = tmp_path / "shard-000000.arrow"
    with open(path, "wb") as f:
        write_shard(table, f)
    data = bytearray(path.read_bytes())
    frames = [i for i in range(len(data) - 3) if data[i : i + 4] == b"\x04\x22\x4d\x18"]
    assert len(frames) == 2  # LZ4 frames of the id column, then of the vectors
    data[frames[-1] : frames[-1] + 4] = b"\0\0\0\0"
    path.write_bytes(bytes(data))
    with pytest.raises(OSError, match="LZ4"):  # the vectors' frame, read
        read_shard(path)
    assert shard_rows(path) == n


def test_shards_are_compressed_and_read_on_the_calling_thread(tmp_path):
    """--profile's write CPU is the thread CPU of the stage (bertex/clock.py): LZ4 frames made
    on Arrow's thread pool would hide most of it (measured: 0.11 of 0.54 µs per row seen),
    and take a core from the forward pass while the job commits beside it."""
    from bertex.sinks.shards import read_shard, write_shard

    rng = np.random.default_rng(0)
    n = 4000
    vectors = rng.standard_normal(n * 384).astype(np.float32)  # (n * 384,)
    cols = {"id": pa.array(range(n)), "vector": pa.FixedSizeListArray.from_arrays(vectors, 384)}
    cols.update({f"c{k}": pa.array(rng.integers(0, 100, n)) for k in range(8)})
    table = pa.table(cols)
    path = tmp_path / "shard-000000.arrow"

    def write() -> None:
        with open(path, "wb") as f:
            write_shard(table, f)

    for step in (write, lambda: read_shard(path)):
        thread, process = time.thread_time(), time.process_time()
        for _ in range(10):
            step()
        thread, process = time.thread_time() - thread, time.process_time() - process
        assert thread >= 0.7 * process, (step, thread, process)
    assert read_shard(path).equals(table)


def test_a_shard_of_over_two_billion_values_is_committed(tmp_path):
    """Token vectors of 1,000 documents of 700 tokens with four layers of 768 stacked are
    2.15e9 values in one shard: over the 2^31 - 1 array length Arrow IPC writes by default
    (Parquet shards took it). Shown without the memory: a column of nulls that long."""
    from bertex.sinks.shards import read_shard, shard_rows, write_shard

    n = 2**31 + 8
    vectors = pa.FixedSizeListArray.from_arrays(pa.nulls(n), n // 2)  # 2 rows, no buffers
    table = pa.table({"id": pa.array([0, 1]), "vectors": vectors})
    path = tmp_path / "shard-000000.arrow"
    with open(path, "wb") as f:
        write_shard(table, f)
    assert shard_rows(path) == 2
    assert len(read_shard(path).column("vectors").chunk(0).values) == n


def _committed_but_not_written(bert_dir: Path, tmp_path: Path, args: list[str]) -> Path:
    """Every shard of the job committed, OUT not written (its final write failed): the
    workspace a kill after the last commit leaves. Returns OUT.parts."""
    (tmp_path / "o.npy.tmp").mkdir()
    assert job(bert_dir, *args) == 2
    (tmp_path / "o.npy.tmp").rmdir()
    return tmp_path / "o.npy.parts"


@pytest.mark.parametrize("damage", ["missing", "truncated", "not arrow"])
def test_an_unreadable_committed_shard_is_embedded_again(bert_dir, tmp_path, want, capsys, damage):
    """A committed shard whose file is gone or unreadable (removed, copied in part, damaged
    on disk): the resume embeds it and the shards after it again, saying so, and the output
    equals an uninterrupted run's. Nothing is lost, no traceback."""
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS))
    out = tmp_path / "o.npy"
    args = ["--input", str(src), "--out", str(out), "--shard-rows", "2"]
    shard = _committed_but_not_written(bert_dir, tmp_path, args) / "shard-000001.arrow"
    if damage == "missing":
        shard.unlink()
    elif damage == "truncated":
        shard.write_bytes(shard.read_bytes()[:200])
    else:
        shard.write_text("not an arrow file")
    capsys.readouterr()
    assert job(bert_dir, *args) == 0
    err = capsys.readouterr().err
    assert f"{shard} cannot be read" in err and "shards 1-2 are embedded again" in err, err
    _check(out, want, list(range(len(TEXTS))))


def test_a_shard_damaged_inside_is_a_clear_error_and_then_embedded_again(
    bert_dir, tmp_path, want, capsys
):
    """A shard whose footer reads but whose vectors do not (a broken LZ4 frame) fails the
    final write with the file named and what to do; doing it loses nothing."""
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS))
    out = tmp_path / "o.npy"
    args = ["--input", str(src), "--out", str(out), "--shard-rows", "2"]
    shard = _committed_but_not_written(bert_dir, tmp_path, args) / "shard-000001.arrow"
    data = bytearray(shard.read_bytes())
    frame = data.rindex(b"\x04\x22\x4d\x18")  # the last LZ4 frame: a report column's
    data[frame : frame + 4] = b"\0\0\0\0"
    shard.write_bytes(bytes(data))
    capsys.readouterr()
    assert job(bert_dir, *args) == 2
    err = capsys.readouterr().err
    assert f"cannot read {shard}, a shard this job committed" in err, err
    assert "remove it and run the same command again" in err
    assert not out.exists()
    shard.unlink()
    assert job(bert_dir, *args) == 0
    _check(out, want, list(range(len(TEXTS))))


def test_other_options_against_an_existing_output_are_refused(bert_dir, tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS))
    out = tmp_path / "out.parquet"
    assert job(bert_dir, "--input", str(src), "--out", str(out)) == 0
    before = out.read_bytes()
    assert job(bert_dir, "--input", str(src), "--out", str(out)) == 0  # same: nothing to do
    assert out.read_bytes() == before
    for extra in (["--pooling", "max"], ["--layers", "1"], ["--max-length", "32"]):
        assert job(bert_dir, "--input", str(src), "--out", str(out), *extra) == 2
        assert "refusing to mix vectors" in capsys.readouterr().err
    assert (
        job(bert_dir, "--input", str(src), "--out", str(out), "--pooling", "max", "--overwrite")
        == 0
    )
    assert bertex.read(out).meta["pooling"] == "max"


def test_another_model_is_refused(bert_dir, distilbert_dir, tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS))
    out = tmp_path / "out.parquet"
    assert job(bert_dir, "--input", str(src), "--out", str(out)) == 0
    assert (
        main(
            [
                "embed",
                "--model",
                str(distilbert_dir),
                "--quiet",
                "--input",
                str(src),
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert "weights_sha256" in capsys.readouterr().err


def test_unwritable_output_path(bert_dir, tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("a horse\n")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert job(bert_dir, "--input", str(src), "--out", str(blocker / "out.parquet")) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and "Traceback" not in err


def test_full_disk_leaves_the_job_resumable(bert_dir, tmp_path, monkeypatch, want):
    import errno

    from bertex.sinks import atomic

    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS))
    out = tmp_path / "out.parquet"
    real = atomic.os.replace
    calls = {"n": 0}

    def flaky(a, b):
        calls["n"] += 1
        if calls["n"] == 5:  # the third shard's file
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(a, b)

    monkeypatch.setattr(atomic.os, "replace", flaky)
    with pytest.raises(bertex.OutputError, match="disk is full"):
        bertex.cli.corpus  # noqa: B018 (the CLI maps the same error to exit 2)
        from bertex.corpus import JobSpec, local_executor, run_job
        from bertex.sources import SourceSpec

        model = bertex.load(bert_dir)
        spec = JobSpec(
            source=SourceSpec(path=str(src)),
            out=out,
            options=bertex.EmbedOptions(level="sentence"),
            shard_rows=2,
        )
        run_job(
            spec,
            str(bert_dir),
            model.weights_sha256,
            local_executor(model, spec.options, False, True),
        )
    monkeypatch.setattr(atomic.os, "replace", real)
    assert not list((tmp_path / "out.parquet.parts").glob("*.tmp"))
    assert job(bert_dir, "--input", str(src), "--out", str(out), "--shard-rows", "2") == 0
    _check(out, want, list(range(len(TEXTS))))


def test_read_of_a_missing_file():
    with pytest.raises(bertex.SourceError):
        bertex.read("/no/such/file.parquet")


def test_bad_files_in_a_folder(bert_dir, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("a horse")
    (folder / "b.txt").write_bytes(b"caf\xe9 latin-1")
    (folder / "c.txt").write_text("")
    (folder / "d.txt").write_text("the child")
    out = tmp_path / "f.parquet"
    assert job(bert_dir, "--input", str(folder), "--out", str(out)) == 0
    assert bertex.read(out).ids == ["a.txt", "d.txt"]
    errors = (tmp_path / "f.parquet.errors.jsonl").read_text()
    assert '"b.txt"' in errors and "invalid UTF-8" in errors and '"c.txt"' in errors


def _run_in_pty(cmd: list[str]) -> str:
    import os
    import pty
    import subprocess

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=slave,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "120"},
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait()
    os.close(master)
    return b"".join(chunks).decode(errors="replace")


def test_the_progress_bar_of_a_resumed_job_rates_this_runs_rows():
    """Rows an earlier run committed show as done, but the rates count only this run's: 2
    documents and 200 tokens in 2 s, not 8 and 800."""
    from bertex.cli.corpus import _Bar
    from bertex.corpus import JobSummary

    bar = _Bar(10)
    try:
        bar.bar.start_t = bar.bar._time() - 2.0  # this run started 2 s ago
        s = JobSummary("x", documents=8, tokens=800, rows_resumed=6, documents_resumed=6)
        s.tokens_resumed = 600
        bar.update(s)
        shown = bar.bar.format_meter(**bar.bar.format_dict)
        assert "8/10" in shown and "tokens_s=100" in shown, shown
        assert "1.00s/doc" in shown or "1.00doc/s" in shown, shown
    finally:
        bar.close()


def test_progress_bar_on_a_terminal_and_summary(bert_dir, tmp_path):
    import subprocess
    import sys

    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS * 50) + "\n\n")
    exe = str(Path(sys.executable).with_name("bertex"))
    cmd = [exe, "embed", "--model", str(bert_dir), "--input", str(src), "--shard-rows", "100"]
    shown = _run_in_pty([*cmd, "--out", str(tmp_path / "a.parquet")])
    assert "301/301" in shown and "doc/s" in shown and "tokens_s" in shown  # known size: ETA
    assert "embedded 300 documents" in shown and "skipped rows 1" in shown
    piped = subprocess.run(
        [*cmd, "--out", str(tmp_path / "b.parquet")],
        capture_output=True,
        env={"HF_HUB_OFFLINE": "1", **__import__("os").environ},
    )
    err = piped.stderr.decode()
    assert "doc/s" not in err and "embedded 300 documents" in err and "documents/s" in err
    quiet = subprocess.run(
        [*cmd, "--out", str(tmp_path / "c.parquet"), "--quiet"], capture_output=True
    )
    assert quiet.stderr == b""


def test_another_backend_is_refused_on_resume(bert_dir, tmp_path, capsys, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("BERTEX_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS))
    out = tmp_path / "out.parquet"
    assert job(bert_dir, "--input", str(src), "--out", str(out)) == 0
    assert job(bert_dir, "--input", str(src), "--out", str(out), "--backend", "onnx") == 2
    assert "backend: 'torch' -> 'onnx'" in capsys.readouterr().err
    onnx_out = tmp_path / "onnx.parquet"
    assert job(bert_dir, "--input", str(src), "--out", str(onnx_out), "--backend", "onnx") == 0
    a, b = bertex.read(out), bertex.read(onnx_out)
    assert b.meta["backend"] == "onnx" and np.abs(a.vectors - b.vectors).max() <= 1e-4


def test_dynamic_int8_warns_once_per_job(bert_dir, tmp_path, capsys, monkeypatch):
    """`bertex embed --input F --out O --backend onnx --precision int8` printed the int8
    PrecisionWarning twice (the job's check and bertex.load)."""
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("BERTEX_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS))
    out = tmp_path / "int8.parquet"
    argv = ["--input", str(src), "--out", str(out), "--backend", "onnx", "--precision", "int8"]
    assert job(bert_dir, *argv) == 0
    err = capsys.readouterr().err
    assert err.count("precision='int8': activations are quantized per batch") == 1
    assert bertex.read(out).meta["precision"] == "int8"


def test_the_summary_of_a_resumed_job_rates_this_runs_documents(bert_dir, tmp_path, capsys):
    """Documents an earlier run committed are in the output and in the count, not in the
    rate: a job resumed near its end must not claim the whole corpus in a few seconds."""
    from bertex.cli.corpus import _summary_text
    from bertex.corpus import JobSummary

    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS[:4] + [""] + TEXTS[4:]))
    out = tmp_path / "out.npy"
    args = ["--input", str(src), "--out", str(out), "--shard-rows", "2"]
    assert job(bert_dir, *args, "--on-error", "fail") == 2  # rows 0-3 committed, row 4 empty
    capsys.readouterr()
    assert main(["embed", "--model", str(bert_dir), *args]) == 0
    first = capsys.readouterr().err.splitlines()[0]
    assert re.match(r"embedded 6 documents \(\d+ tokens\), 4 of them by an earlier run, in ", first)
    resumed = JobSummary("o", documents=6, documents_resumed=4, shards_resumed=2, wall_s=2.0)
    assert _summary_text(resumed).splitlines()[0].endswith(": 1.0 documents/s")
