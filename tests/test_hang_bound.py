"""No call waits forever (issue 32): every wait for a forward pass is bounded; a stuck backend
fails the call with one line, its threads are never reused, and adapters say so."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest

from bertex import ForwardTimeoutError
from bertex.backends.bounded import FACTOR, FLOOR_S, ForwardPool
from bertex.config import LoadOptions, OptionError, forward_timeout
from bertex.fake import fake_model

TEXTS = [f"the man {'is riding a horse ' * (i % 5)}number {i}" for i in range(40)]


def stuck_model(block_after: int, timeout: float = 1.0, workers: int = 2):
    return fake_model(workers=workers, block_after=block_after, forward_timeout=timeout)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_stuck_pass_fails_within_the_bound_naming_backend_shape_and_remedy(workers, caplog):
    model = stuck_model(block_after=1, timeout=1.0, workers=workers)
    start = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="bertex"):
        with pytest.raises(ForwardTimeoutError) as got:
            model.embed(TEXTS, max_batch_size=4)
    took = time.monotonic() - start
    assert 1.0 <= took < 4.0  # one bound (the first batch ran), not the sum of all of them
    message = str(got.value)
    assert "\n" not in message
    assert message.startswith("the fake backend's forward pass on a batch of 4 x ")
    assert "within 1 s" in message and "--backend torch" in message
    assert "BERTEX_WORKERS=1" in message
    assert got.value.backend == "fake" and got.value.shape[0] == 4
    # every thread's stack went to the log, the stuck forward thread's among them
    dump = "\n".join(r.getMessage() for r in caplog.records)
    assert "bertex-forward_0" in dump or "Thread 0x" in dump
    assert "in forward" in dump and "released.wait" not in message
    assert model.runner.forwards.wedged is got.value
    model.backend.released.set()


def test_a_wedged_thread_is_never_reused_and_a_later_call_works():
    model = stuck_model(block_after=1, timeout=0.5)
    with pytest.raises(ForwardTimeoutError):
        model.embed(TEXTS, max_batch_size=4)
    stuck = {t.ident for t in threading.enumerate() if t.name.startswith("bertex-forward")}
    model.backend.block_after = None  # the backend works again: a fresh thread serves the call
    seen: set[int | None] = set()
    forward = model.backend.forward

    def spy(batch, want):
        seen.add(threading.get_ident())
        return forward(batch, want)

    model.backend.forward = spy
    out = model.embed(TEXTS, max_batch_size=4)
    assert out.vectors.shape == (len(TEXTS), 16)
    assert seen and not (seen & stuck)
    model.backend.released.set()


def test_the_derived_bound_is_20x_the_slowest_pass_and_at_least_60_s():
    pool = ForwardPool(fake_model().backend)
    assert pool.limit() == FLOOR_S == 60.0
    pool.slowest = 4.0
    assert pool.limit() == FACTOR * 4.0 == 80.0
    pool.timeout = 2.5
    assert pool.limit() == 2.5


def test_passes_are_timed_and_results_come_back_in_order():
    model = fake_model(workers=2, delay_s=0.01)
    out = model.embed(TEXTS, max_batch_size=3)
    ref = fake_model(workers=1).embed(TEXTS, max_batch_size=40)
    np.testing.assert_allclose(out.vectors, ref.vectors, atol=1e-6)
    assert model.runner.forwards.slowest >= 0.01


def test_the_option_and_its_variable_go_through_the_config_reader():
    env = {"BERTEX_FORWARD_TIMEOUT": "2.5"}
    assert forward_timeout(environ={}) is None
    assert forward_timeout(environ=env) == 2.5
    assert forward_timeout(4, environ=env) == 4.0  # the option wins over the variable
    assert LoadOptions.from_env({}, forward_timeout=3).forward_timeout == 3.0
    for bad in ("0", "-1", "soon", "inf"):
        with pytest.raises(OptionError, match="BERTEX_FORWARD_TIMEOUT=") as got:
            forward_timeout(environ={"BERTEX_FORWARD_TIMEOUT": bad})
        assert "a number of seconds > 0" in str(got.value)
    with pytest.raises(OptionError, match="forward_timeout=0"):
        fake_model(forward_timeout=0)


# -- the adapters: the CLI exits 1 in time, a corpus job resumes, the server turns unhealthy --

DRIVER = """
import os, sys, time
from pathlib import Path
import bertex
from bertex.fake import fake_model

def load(*args, forward_timeout=None, **kwargs):  # the CLI's bertex.load, on a stuck fake
    Path(os.environ["LOADED_AT"]).write_text(repr(time.monotonic()))
    block = os.environ.get("BLOCK_AFTER")
    return fake_model(
        workers=2,
        block_after=int(block) if block else None,
        forward_timeout=forward_timeout,
    )

bertex.load = load
from bertex.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def cli(tmp_path, args, block_after=None, **env):
    """Run `bertex ARGS` on the fake model in a process; (exit status, stderr, seconds from
    the model's load to the exit)."""
    import os
    import subprocess
    import sys

    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    loaded = tmp_path / "loaded_at"
    environ = {**os.environ, "LOADED_AT": str(loaded), "BLOCK_AFTER": str(block_after or "")}
    environ.update(env)
    p = subprocess.run(
        [sys.executable, str(driver), *args], capture_output=True, text=True, env=environ
    )
    took = time.monotonic() - float(loaded.read_text()) if loaded.exists() else -1.0
    return p.returncode, p.stderr, took


def test_the_cli_exits_1_with_one_line_within_the_bound(tmp_path):
    texts = [f"a man is riding a horse number {i}" for i in range(60)]
    code, err, took = cli(
        tmp_path,
        ["embed", "--batch-tokens", "64", *texts],
        block_after=2,
        BERTEX_FORWARD_TIMEOUT="2",
    )
    assert code == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("bertex: error: the fake backend's forward pass on a batch of ")
    assert (
        "did not return within 2 s" in last and "try --backend torch, or BERTEX_WORKERS=1" in last
    )
    assert "Thread 0x" in err and "in forward" in err  # every thread's stack, in the log
    # within the bound: no longer than a run that is not stuck, plus the bound and some slack
    ok_code, _, ok_took = cli(tmp_path, ["embed", "--batch-tokens", "64", *texts])
    assert ok_code == 0
    assert took >= 2.0 and took - ok_took < 2.0 + 5.0
    # the flag wins over the variable
    code, err, took = cli(
        tmp_path,
        ["embed", "--forward-timeout", "1", "--batch-tokens", "64", *texts],
        block_after=2,
        BERTEX_FORWARD_TIMEOUT="30",
    )
    assert code == 1 and "did not return within 1 s" in err and took - ok_took < 1.0 + 5.0


def test_a_corpus_job_stopped_by_the_bound_resumes_with_nothing_lost_or_duplicated(tmp_path):
    import pyarrow.parquet as pq

    rng = __import__("random").Random(0)
    words = "the man is riding a horse and the child plays the guitar".split()
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(2, 12))) for _ in range(400)]
    src = tmp_path / "corpus.txt"
    src.write_text("\n".join(lines) + "\n")
    args = ["embed", "--input", str(src), "--shard-rows", "50", "--quiet", "--batch-tokens", "64"]
    ref, out = tmp_path / "ref.parquet", tmp_path / "out.parquet"
    assert cli(tmp_path, [*args, "--out", str(ref)])[0] == 0
    code, err, _ = cli(
        tmp_path, [*args, "--out", str(out)], block_after=40, BERTEX_FORWARD_TIMEOUT="2"
    )
    assert code == 1 and "did not return within 2 s" in err
    assert not out.exists()  # stopped part-way: committed shards only
    parts = out.with_name(out.name + ".parts")
    assert parts.exists()
    code, err, _ = cli(tmp_path, [*args, "--out", str(out)])  # the same command again
    assert code == 0, err
    a, b = pq.read_table(ref), pq.read_table(out)
    assert b.num_rows == len(lines) == a.num_rows
    assert b.column("id").to_pylist() == a.column("id").to_pylist()  # none lost, none twice
    assert a.column("vector").to_pylist() == b.column("vector").to_pylist()


def test_the_server_answers_a_stuck_pass_with_503_and_turns_unhealthy():
    from starlette.testclient import TestClient

    from bertex.server.app import create_app
    from bertex.server.config import ServerConfig

    model = fake_model(workers=2, block_after=1, forward_timeout=1.0)  # the warm-up runs
    app = create_app(model, ServerConfig())
    try:
        with TestClient(app, base_url="http://127.0.0.1") as client:
            for _ in range(200):
                if client.get("/health").status_code == 200:
                    break
                time.sleep(0.05)
            assert client.get("/health").json()["status"] == "ok"
            assert "bertex_healthy 1.0" in client.get("/metrics").text
            r = client.post("/v1/embeddings", json={"input": ["a cat", "a dog"]})
            assert r.status_code == 503
            error = r.json()["error"]
            assert error["code"] == "forward_timeout" and error["type"] == "server_error"
            assert error["message"].startswith("the fake backend's forward pass")
            health = client.get("/health")
            assert health.status_code == 503 and health.json()["status"] == "unhealthy"
            assert health.json()["reason"] == error["message"]  # what wedged, in one line
            metrics = client.get("/metrics").text
            assert "bertex_healthy 0.0" in metrics
            assert "bertex_forward_timeouts_total 1.0" in metrics
    finally:
        model.backend.released.set()
        app.state.bertex.engine.close()


def test_a_second_caller_sharing_the_wedged_threads_gets_the_same_error():
    """Two callers at once (a server's two passes) on the shared threads: when one wait runs
    out, the other's queued batches fail with ForwardTimeoutError, never a bare cancel."""
    model = stuck_model(block_after=0, timeout=1.0)
    errors: list[BaseException] = []

    def call():
        try:
            model.embed(TEXTS, max_batch_size=4)
        except BaseException as e:  # noqa: BLE001 - the test inspects it
            errors.append(e)

    callers = [threading.Thread(target=call) for _ in range(2)]
    for t in callers:
        t.start()
    for t in callers:
        t.join(timeout=20)
    assert len(errors) == 2
    assert all(isinstance(e, ForwardTimeoutError) for e in errors), errors
    model.backend.released.set()
