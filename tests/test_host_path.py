"""Where the columnar path's host work runs, and what it allocates (issue 29).

The forward thread that runs a batch pads it first and pools it after, so on a machine whose
cores the forward passes fill no third thread competes with them; the call's vectors are made
once and normalized in place. Each test compares with the per-input path or with numpy's own
norm, never with written numbers.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import bertex
from bertex import assemble, columnar, columns
from bertex.fake import fake_model
from bertex.request import Request

TEXTS = [f"the man {'is riding a horse ' * (i % 7)}number {i}" for i in range(90)]


def test_batches_are_padded_and_pooled_on_the_forward_threads(
    tiny_bert: bertex.Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, set[str]] = {"pad": set(), "pool": set()}
    pad, pool = columns.pad_rows, columnar.pool_rows

    def spy_pad(*a, **k):  # noqa: ANN002, ANN003, ANN202
        seen["pad"].add(threading.current_thread().name)
        return pad(*a, **k)

    def spy_pool(*a, **k):  # noqa: ANN002, ANN003, ANN202
        seen["pool"].add(threading.current_thread().name)
        return pool(*a, **k)

    monkeypatch.setattr(columns, "pad_rows", spy_pad)
    monkeypatch.setattr(columnar, "pool_rows", spy_pool)
    new = tiny_bert.embed(TEXTS, max_batch_size=8)
    tiny_bert.runner.columnar = False
    try:
        old = tiny_bert.embed(TEXTS, max_batch_size=8)
    finally:
        tiny_bert.runner.columnar = True
    np.testing.assert_allclose(new.vectors, old.vectors, atol=1e-6, rtol=0)
    assert tuple(new.reports) == tuple(old.reports)
    assert seen["pad"] and seen["pool"]  # the columnar path ran
    for where in seen.values():
        assert all(name.startswith("bertex-forward") for name in where), seen


@pytest.mark.parametrize("workers", [1, 2])
def test_rows_put_by_several_forward_threads_land_at_their_inputs(workers: int) -> None:
    """Many small batches finishing out of step: every row where its input is, as one
    batch of everything gives, with inputs left out in between."""
    texts = [t if i % 11 else "" for i, t in enumerate(TEXTS)]
    model = fake_model(workers=workers, delay_s=0.002)
    got = model.embed(texts, max_batch_size=3, on_error="collect")
    ref = fake_model(workers=1).embed([texts[i] for i in got.kept], max_batch_size=200)
    assert got.kept == tuple(i for i, t in enumerate(texts) if t)
    np.testing.assert_allclose(got.results.vectors, ref.vectors, atol=1e-6, rtol=0)


def request(**kw: object) -> Request:
    r = Request.__new__(Request)
    for k, v in {"dimensions": None, "normalize": True, "dtype": "float32", **kw}.items():
        object.__setattr__(r, k, v)
    return r


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"dimensions": 5},
        {"normalize": False},
        {"dimensions": 5, "normalize": False},
        {"dtype": "float16"},
    ],  # fmt: skip
    ids=str,
)
def test_finish_normalizes_in_place_only_the_arrays_it_owns(kw: dict) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 12)).astype(np.float32)
    x[3] = 0.0  # an all-zero vector stays zero
    r = request(**kw)
    want = x[:, : kw.get("dimensions") or 12].astype(np.float64)
    if r.normalize:
        norm = np.linalg.norm(want, axis=1, keepdims=True)
        want = want / np.maximum(norm, 1e-12)
    before = x.copy()
    lent = assemble.finish(x, r)
    assert not np.shares_memory(lent, x) and np.array_equal(x, before)
    owned = assemble.finish(x.copy(), r, owned=True)
    for out in (lent, owned):
        assert out.flags.c_contiguous
        assert out.dtype == (np.float16 if r.dtype == "float16" else np.float32)
        np.testing.assert_allclose(out, want, atol=1e-3 if r.dtype == "float16" else 1e-6)
    assert not np.isnan(owned).any()
    mine = x.copy()
    if r.normalize and r.dtype == "float32" and not r.dimensions:
        assert np.shares_memory(assemble.finish(mine, r, owned=True), mine)  # no copy made


def test_the_forward_stage_is_never_negative_when_many_forward_threads_pad_and_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Eight forward threads pad and pool at once while the caller waits once: the host
    seconds they add in that wait overlap each other, so subtracting all of them from the
    wait made `forward` negative where the passes are quick (the server's forward_seconds
    histogram observes that figure)."""
    from bertex.types import ModelOutput

    model = fake_model(workers=8)

    def instant(batch, want):  # noqa: ANN001, ANN202
        b, n = batch.input_ids.shape
        return ModelOutput(np.ones((b, n, 1, 16), dtype=np.float32), None, None)  # (B, L, K, H)

    monkeypatch.setattr(model.backend, "forward", instant)
    texts = [f"the man number {i}" for i in range(3000)]
    for _ in range(3):
        timings: dict[str, float] = {}
        model.embed(texts, max_batch_size=2, timings=timings)
        assert timings["forward"] >= 0, timings
        assert timings["plan"] >= 0 and timings["pool"] >= 0, timings


@pytest.mark.parametrize("workers", [1, 2])
def test_a_timeout_error_raised_on_a_forward_thread_is_that_error_not_a_wedged_pass(
    workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A TimeoutError that the pooling (or padding, or pass) on a forward thread raises is
    the error of that call: it is not the wait running out (concurrent.futures.TimeoutError
    is the builtin one), so no stacks are logged, the threads stay in use and the model is
    not marked wedged."""
    model = fake_model(workers=workers)
    pool, calls = columnar.pool_rows, []

    def failing(*a, **k):  # noqa: ANN002, ANN003, ANN202
        calls.append(1)
        if len(calls) == 3:
            raise TimeoutError("the feature store did not answer")
        return pool(*a, **k)

    monkeypatch.setattr(columnar, "pool_rows", failing)
    with pytest.raises(TimeoutError, match="feature store") as e:
        model.embed(TEXTS, max_batch_size=4)
    assert not isinstance(e.value, bertex.ForwardTimeoutError)
    forwards = model.runner.forwards
    assert forwards.wedged is None
    if workers > 1:
        assert forwards._threads is not None and not forwards._threads.abandoned
    monkeypatch.setattr(columnar, "pool_rows", pool)
    assert model.embed(TEXTS, max_batch_size=4).vectors.shape == (len(TEXTS), 16)


def test_very_wide_vectors_are_unit_length_to_float32_precision() -> None:
    """Every layer of a large model concatenated is about 50,000 wide: the norms' sums of
    squares must not lose float32 precision on the way (summed in float32 they were off by
    1.3e-6 here)."""
    from bertex.pooling import l2_normalize

    x = np.random.default_rng(0).normal(size=(200, 49_152)).astype(np.float32)
    mine = x.copy()
    for got in (l2_normalize(x), l2_normalize(mine, out=mine)):
        length = np.sqrt((got.astype(np.float64) ** 2).sum(axis=1))
        assert np.abs(length - 1).max() < 5e-7
