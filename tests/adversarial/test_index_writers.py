"""Issue 30 cases 7 and 9: writers racing on one index, and ids no one can ask for.

Two `bertex index add` (or two `index build` of a new index) at once: the second waits for the
first's writer lock (`--wait`), then adds its rows; past the wait it says another process is
writing and to run again, never that a healthy index is damaged. A reader that opens the index
while a writer commits reads the newer commit instead of calling a swept file damage."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import bertex
from bertex.cli.main import main
from bertex.index import Index
from bertex.index.store_rows import Segment

from .test_io_attacks import one_line_error

N = 100  # documents per corpus: each run commits 10 batches, long enough to overlap


def corpus(path: Path, tag: str, n: int = N) -> Path:
    rows = (
        json.dumps({"id": f"{tag}{i}", "text": f"document {tag} {i} about {tag}"}) for i in range(n)
    )
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def cli(*args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "bertex.cli.main", *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)


def finish(procs: list[subprocess.Popen]) -> list[tuple[int, str]]:
    return [(p.wait(timeout=300), p.communicate()[1]) for p in procs]


def test_case7_concurrent_writers_both_land(bert_dir, tmp_path):
    """Two `bertex index build` of a new index at once, committing every 10 rows. Before the
    fix the loser said "open it with Index.open" and added nothing, and a second writer was
    told the healthy index was damaged (a segment the first had swept "is missing. Run
    `bertex index repair`"). Now the loser waits for the winner's lock and adds its rows: the
    path a second `index add` takes too (the in-process tests below cover each step)."""
    ix = tmp_path / "ix"
    args = ["--model", str(bert_dir), "--batch-rows", "10"]
    procs = [
        cli("index", "build", str(ix), "--input", str(corpus(tmp_path / f"{t}.jsonl", t)), *args)
        for t in ("b", "c")
    ]
    for rc, err in finish(procs):
        assert rc == 0 and "repair" not in err and "Traceback" not in err, err
    assert len(Index.open(ix)) == 2 * N


def test_case7_a_writer_waits_for_the_lock_then_says_run_again(bert_dir, tmp_path, capsys):
    from bertex.index import writer

    ix = tmp_path / "ix"
    add = ["index", "add", str(ix), "--input", str(corpus(tmp_path / "b.jsonl", "b", 5))]
    add += ["--model", str(bert_dir)]
    assert main(["index", "build", str(ix), "--input", str(corpus(tmp_path / "a.jsonl", "a", 5)),
                 "--model", str(bert_dir), "-q"]) == 0  # fmt: skip
    with writer.lock(ix):  # another writer, for longer than this one waits
        assert main([*add, "--wait", "0.3"]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert f"another process is writing {ix}" in line and "run again" in line, line
    assert len(Index.open(ix)) == 5  # nothing written

    release = threading.Timer(1.0, lambda: held.close())
    held = writer.hold(ix, 0)  # released after 1 s: within the wait
    release.start()
    start = time.monotonic()
    assert main([*add, "--wait", "30", "-q"]) == 0
    assert time.monotonic() - start >= 0.9 and len(Index.open(ix)) == 10


def test_case7_python_writers_get_index_errors(tmp_path):
    from bertex.fake import fake_model
    from bertex.index import writer

    model = fake_model()
    first = Index.create(tmp_path / "ix", model=model)
    with writer.lock(tmp_path / "ix"):
        with pytest.raises(bertex.IndexChangedError, match="another process is writing"):
            first.add(["a cat"], ids=["a"])  # IndexBusyError: an IndexChangedError too
        with pytest.raises(bertex.IndexBusyError, match=r"waited 0\.2 s\); run again"):
            Index.open(tmp_path / "ix", wait=0.2)
    first.add(["a cat"], ids=["a"])


def test_case7_a_reader_racing_a_commit_reads_the_newer_one(tmp_path, monkeypatch):
    """The commit sweeps the small segment the reader's manifest named: the reader reads the
    new manifest instead of calling the healthy index damaged."""
    from bertex.fake import fake_model

    model = fake_model()
    ix = Index.create(tmp_path / "ix", model=model)
    ix.add(["a cat", "a dog"], ids=["a", "b"])
    ix.add(["a horse"], ids=["c"])
    real = Segment.read.__func__
    raced = []

    def read(cls, folder, file, dim):
        if not raced:
            raced.append(file)
            with Index.open(tmp_path / "ix", model=model) as other:  # commits meanwhile
                other.remove(["a"])  # rewrites the segment this reader is about to read
        return real(cls, folder, file, dim)

    monkeypatch.setattr(Segment, "read", classmethod(read))
    again = Index.open(tmp_path / "ix", model=model)
    assert raced and not (tmp_path / "ix" / raced[0]).exists()  # the file it was to read
    assert len(again) == 2 and sorted(again.store.rows.ids.tolist()) == ["b", "c"]


def test_case9_empty_ids_are_refused(bert_dir, tmp_path, capsys):
    """Before the fix an id of "" was stored: a document no one could ask for by its id."""
    from bertex.fake import fake_model

    ix = Index.create(tmp_path / "py", model=fake_model())
    for ids in ([""], ["ok", "  "]):
        with pytest.raises(bertex.InputError, match="is empty"):
            ix.add(["a cat", "a dog"][: len(ids)], ids=ids)
    assert len(ix) == 0
    data = tmp_path / "c.jsonl"
    data.write_text('{"id": "a", "text": "a cat"}\n{"id": "", "text": "a dog"}\n')
    argv = ["index", "build", str(tmp_path / "ix"), "--input", str(data), "--model", str(bert_dir)]
    assert main(argv) == 2
    line = one_line_error(capsys.readouterr().err)
    assert f"{data}, row 2: the id is empty" in line, line
    out = tmp_path / "v.jsonl"
    assert main(["embed", "--model", str(bert_dir), "--input", str(data), "--out", str(out),
                 "--quiet"]) == 0  # fmt: skip
    assert main(["index", "build", str(tmp_path / "ix2"), "--from", str(out)]) == 2
    assert "is empty" in one_line_error(capsys.readouterr().err)


def test_postgresql_store_under_concurrent_builds(bert_dir, tmp_path, pg_server):
    """Acceptance extra: two `index build` of one new PostgreSQL table at once. Writers take
    turns on the table's meta row; the loser of the CREATE TABLE goes on as a resume."""
    url = pg_server.get_uri() + "&table=race30"
    args = ["--model", str(bert_dir), "--batch-rows", "10"]
    procs = [
        cli("index", "build", url, "--input", str(corpus(tmp_path / f"{t}.jsonl", t)), *args)
        for t in ("b", "c")
    ]
    for rc, err in finish(procs):
        assert rc == 0 and "Traceback" not in err, err
    with Index.open(url) as ix:
        assert len(ix) == 2 * N and ix.info()["rows"] == 2 * N


def test_index_repair_on_each_damaged_copy(tmp_path, capsys):
    """Acceptance extra: an index of three segments, then for every file in it a copy with
    that file truncated to half: `bertex index repair` gives an index that opens and answers,
    keeps every row of the files it could read, and names what it could not."""
    from bertex.fake import fake_model

    model = fake_model()
    good = tmp_path / "good"
    with Index.create(good, model=model) as ix:
        for start in (0, 20, 40):  # three commits: segments, a graph, the manifest and its backup
            ix.add([f"text number {i}" for i in range(start, start + 20)],
                   ids=[f"t{i}" for i in range(start, start + 20)])  # fmt: skip
    names = sorted(p.name for p in good.iterdir() if not p.name.endswith(".lock"))
    assert any(n.startswith("rows-") for n in names) and "manifest.json" in names
    for name in names:
        copy = tmp_path / f"damaged-{name}"
        shutil.copytree(good, copy)
        raw = (copy / name).read_bytes()
        (copy / name).write_bytes(raw[: len(raw) // 2])
        assert main(["index", "repair", str(copy)]) == 0, name
        out, err = capsys.readouterr()
        with Index.open(copy, model=model) as ix:
            kept = len(ix)
            assert ix.search("text number 5", k=1).ids  # it answers
        lost_segment = name.startswith("rows-")
        assert (kept < 60) == lost_segment and (name in err) == lost_segment, (name, out, err)
