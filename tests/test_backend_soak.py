"""The CI-sized backend soak (issue 32): openvino and onnx, each with two workers (BERTEX_WORKERS),
on about a thousand batches of random sizes and lengths beside a busy core, each run bounded.
A hang, a failure or two workers disagreeing with one fails the test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_openvino_and_onnx_soak_without_a_hang(tmp_path):
    pytest.importorskip("openvino")
    pytest.importorskip("onnxruntime")
    cmd = [sys.executable, str(ROOT / "bench" / "soak" / "backend_soak.py")]
    cmd += ["--backends", "openvino,onnx", "--batches", "1200", "--hog", "--seconds", "45"]
    cmd += ["--forward-timeout", "30"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    doc = json.loads(p.stdout)
    results = {r["backend"]: r for r in doc["results"]}
    for backend in ("openvino", "onnx"):
        r = results[backend]
        assert r["result"] == "ok", r
        assert r["workers"] == min(2, len(os.sched_getaffinity(0)))
        assert r["batches"] >= 200  # it really ran a soak, not a handful
        assert r["max_gap"] <= 1e-4
    assert p.returncode == 0
