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
    model = fake_model(workers=workers)
    model.backend.block_after = block_after
    model.runner.forwards.timeout = timeout
    return model


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
    assert forward_timeout({}) is None
    assert forward_timeout({"BERTEX_FORWARD_TIMEOUT": "2.5"}) == 2.5
    assert LoadOptions.from_env({}, forward_timeout=3).forward_timeout == 3.0
    for bad in ("0", "-1", "soon", "inf"):
        with pytest.raises(OptionError, match="BERTEX_FORWARD_TIMEOUT|forward_timeout"):
            forward_timeout({"BERTEX_FORWARD_TIMEOUT": bad})
