"""Killed with SIGKILL at several points and started again with the same command, a corpus job
finishes with an output identical, byte for byte, to an uninterrupted run's."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import bertex

BIN = Path(sys.executable).with_name("bertex")
WORDS = "the man is riding a horse and the child plays the guitar near the river".split()


def corpus(path: Path, n: int) -> Path:
    rng = random.Random(0)
    lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 40))) for _ in range(n)]
    for i in range(0, n, 97):
        lines[i] = ""  # bad rows, recorded in the errors file
    path.write_text("\n".join(lines) + "\n")
    return path


def command(model: Path, src: Path, out: Path, *extra: str) -> list[str]:
    return [
        str(BIN),
        "embed",
        "--model",
        str(model),
        "--input",
        str(src),
        "--out",
        str(out),
        "--shard-rows",
        "100",
        "--quiet",
        *extra,
    ]


def env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1"}


def committed(out: Path) -> int:
    manifest = out.with_name(out.name + ".parts") / "manifest.json"
    try:
        return len(json.loads(manifest.read_text())["shards"])
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def kill_after(cmd: list[str], out: Path, shards: int) -> int:
    proc = subprocess.Popen(cmd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while committed(out) < shards and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.003)
        assert proc.poll() is None, "the job ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        return committed(out)
    finally:
        proc.wait()


def outputs(out: Path) -> dict[str, bytes]:
    return {
        p.name.replace(out.name, "OUT"): p.read_bytes()
        for p in sorted(out.parent.glob(out.name + "*"))
        if p.is_file()
    }


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["parquet", "npy"])
def test_kill_9_at_several_points_then_resume_is_identical(bert_dir, tmp_path, fmt):
    src = corpus(tmp_path / "in.txt", 6000)
    ref = tmp_path / "ref" / f"out.{fmt}"
    ref.parent.mkdir()
    subprocess.run(command(bert_dir, src, ref), env=env(), check=True)
    out = tmp_path / "run" / f"out.{fmt}"
    out.parent.mkdir()
    seen = []
    for point in (2, 20, 45):
        seen.append(kill_after(command(bert_dir, src, out), out, point))
        assert not out.exists()
    assert seen == sorted(seen) and seen[0] >= 2 and seen[-1] < 60
    done = subprocess.run(command(bert_dir, src, out), env=env(), capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    assert outputs(out) == outputs(ref)  # same ids, order, vectors, errors: nothing lost or doubled
    stored = bertex.read(out)
    assert len(stored.ids) == len(set(stored.ids)) == 6000 - len(range(0, 6000, 97))


def test_killed_between_last_shard_and_final_file(bert_dir, tmp_path, monkeypatch):
    from bertex.cli.main import main
    from bertex.sinks import final

    src = corpus(tmp_path / "in.txt", 300)
    out = tmp_path / "out.parquet"
    ref = tmp_path / "ref.parquet"
    args = [
        "embed",
        "--model",
        str(bert_dir),
        "--quiet",
        "--input",
        str(src),
        "--shard-rows",
        "100",
    ]
    assert main([*args, "--out", str(ref)]) == 0

    def die(*a, **k):
        raise KeyboardInterrupt  # stands in for a kill during the merge

    monkeypatch.setattr(final, "finalize", die)
    assert main([*args, "--out", str(out)]) == 130
    assert committed(out) == 3 and not out.exists()
    monkeypatch.undo()
    assert main([*args, "--out", str(out)]) == 0
    assert out.read_bytes() == ref.read_bytes()
