"""A corpus job's peak memory does not grow with the corpus (reported, and bounded loosely).
The full 10k / 100k / 1M-line figures come from bench/corpus_memory.py (BENCHMARKS.md)."""

from __future__ import annotations

import os
import subprocess

import pytest

from test_resume import BIN, corpus


def peak_mib(cmd: list[str]) -> float:
    child = subprocess.Popen(cmd, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    _, status, usage = os.wait4(child.pid, 0)
    assert status == 0
    return usage.ru_maxrss / 1024


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_corpus(bert_dir, tmp_path):
    peaks = {}
    for n in (2_000, 20_000):
        src = corpus(tmp_path / f"c{n}.txt", n)
        peaks[n] = peak_mib(
            [
                str(BIN),
                "embed",
                "--model",
                str(bert_dir),
                "--input",
                str(src),
                "--out",
                str(tmp_path / f"c{n}.parquet"),
                "--quiet",
            ]
        )
    print(f"peak RSS: 2,000 lines {peaks[2_000]:.0f} MiB, 20,000 lines {peaks[20_000]:.0f} MiB")
    assert peaks[20_000] < peaks[2_000] * 1.15 + 40
