"""`--engine ray` on a local Ray (loopback, no dashboard, its token and temp files out of the
user's home): the same bytes as the local engine, and resume across engines."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

import bertex
from test_resume import command as _cmd
from test_resume import committed, corpus, kill_after


@pytest.fixture
def ray_env(tmp_path):
    short = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # unix socket paths must stay short
    home = tmp_path / "home"
    home.mkdir()
    yield {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HOME": str(home),
        "RAY_TMPDIR": short,
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    shutil.rmtree(short, ignore_errors=True)


@pytest.mark.slow
def test_ray_engine_equals_local_engine_and_resumes(bert_dir, tmp_path, ray_env):
    pytest.importorskip("ray")
    src = corpus(tmp_path / "in.txt", 1500)
    local = tmp_path / "local.parquet"
    subprocess.run(_cmd(bert_dir, src, local), env=ray_env, check=True)
    on_ray = tmp_path / "ray.parquet"
    ray_args = ("--engine", "ray", "--ray-actors", "2", "--ray-cpus-per-actor", "1")
    p = subprocess.run(
        _cmd(bert_dir, src, on_ray, *ray_args), env=ray_env, capture_output=True, timeout=600
    )
    assert p.returncode == 0, p.stderr.decode()[-2000:]
    assert on_ray.read_bytes() == local.read_bytes()
    a, b = bertex.read(local), bertex.read(on_ray)
    assert a.ids == b.ids and abs(a.vectors - b.vectors).max() <= 1e-5
    # a job killed on the local engine is finished by Ray: still the same bytes
    resumed = tmp_path / "resumed.parquet"
    assert kill_after(_cmd(bert_dir, src, resumed), resumed, 4) >= 4
    p = subprocess.run(
        _cmd(bert_dir, src, resumed, *ray_args), env=ray_env, capture_output=True, timeout=600
    )
    assert p.returncode == 0, p.stderr.decode()[-2000:]
    assert resumed.read_bytes() == local.read_bytes()
    assert committed(resumed) == 0  # the parts folder is gone once the output is final


def test_without_ray_the_error_names_the_extra(monkeypatch):
    from bertex.distributed import ray_engine

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(bertex.ExtraMissingError, match=r"pip install -e '\.\[ray\]'"):
        ray_engine.ray_executor("m", bertex.EmbedOptions(), False, True)
