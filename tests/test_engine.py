"""The async micro-batching engine (bertex.Engine) on the fake backend: batching across
callers, per-input failures, overload, deadlines, cancellation, and equality with embed()."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

import bertex
from bertex import Engine
from bertex.engine import Observer
from bertex.fake import fake_model

TEXTS = ["a man is dancing", "the child rides a horse", "a woman plays the guitar"]


def test_fake_backend_is_batch_invariant_and_shape_correct():
    model = fake_model()
    together = model.embed(TEXTS, level="sentence").vectors
    alone = np.stack([model.embed(t, level="sentence").vector for t in TEXTS])
    assert together.shape == (3, 16) and np.array_equal(together, alone)
    tok = model.embed(TEXTS[:1], ["a horse"], level="token", attentions=True)[0]
    n = len(tok.tokens)
    assert tok.vectors.shape == (n, 16) and tok.attentions.shape == (2, 2, n, n)
    assert not np.array_equal(together[0], together[1])


def run(coro):
    return asyncio.run(coro)


def test_concurrent_calls_share_passes_and_equal_embed():
    model = fake_model(delay_s=0.02)
    texts = [f"the child rides horse number {i}" for i in range(24)]
    want = model.embed(texts, level="sentence").vectors
    model.backend.batches.clear()

    async def main():
        async with Engine(model, wait_ms=5) as engine:
            return await asyncio.gather(*(engine.embed(t) for t in texts))

    got = run(main())
    assert np.array_equal(np.stack([r.vector for r in got]), want)
    assert all(r.reports[0].index == 0 for r in got)
    assert len(model.backend.batches) < len(texts)  # callers shared forward passes


@pytest.mark.parametrize("level", ["token", "word", "hidden_states"])
def test_per_input_levels_and_a_single_text(level):
    model = fake_model()

    async def main():
        async with Engine(model) as engine:
            return await engine.embed(TEXTS, level=level), await engine.embed(TEXTS[0], level=level)

    many, one = run(main())
    want = model.embed(TEXTS, level=level)
    assert [np.array_equal(a.vectors, b.vectors) for a, b in zip(many, want)] == [True] * 3
    assert [r.report.index for r in many] == [0, 1, 2]
    assert np.array_equal(one.vectors, want[0].vectors)


def test_a_large_call_runs_over_several_passes_and_equals_one_call():
    model = fake_model()
    texts = [f"a man is riding horse number {i}" for i in range(40)]

    async def main():
        async with Engine(model, max_batch_tokens=40) as engine:  # ~4 texts per pass
            return await engine.embed(texts, level="sentence")

    model.backend.batches.clear()
    got = run(main())
    assert len(model.backend.batches) >= 8
    assert np.array_equal(got.vectors, model.embed(texts, level="sentence").vectors)
    assert [r.index for r in got.reports] == list(range(40))


def test_a_large_call_does_not_hold_up_a_small_one_behind_it():
    model = fake_model(delay_s=0.02)
    big_texts = [f"a man is riding horse number {i}" for i in range(40)]
    order = []

    async def call(engine, texts, name, **options):
        await engine.embed(texts, **options)
        order.append(name)

    async def main():
        async with Engine(model, max_batch_tokens=40) as engine:
            big = asyncio.ensure_future(call(engine, big_texts, "big"))
            await asyncio.sleep(0.05)  # the big call is running its passes
            small = asyncio.ensure_future(call(engine, ["a cat"], "small", level="token"))
            await asyncio.gather(big, small)

    run(main())
    assert order == ["small", "big"]


def test_a_bad_text_fails_its_own_call_only_with_its_own_index():
    model = fake_model()

    async def main():
        async with Engine(model, wait_ms=20) as engine:
            return await asyncio.gather(
                engine.embed(["a cat", "\u0000\u0001", "a dog"]),  # empty after tokenization
                engine.embed(["a horse"]),
                engine.embed(["ok", "\ud800"]),  # refused before it is queued
                return_exceptions=True,
            )

    bad, good, surrogate = run(main())
    assert isinstance(bad, bertex.EmptyInputError) and bad.index == 1
    assert str(bad).startswith("input 1: ")
    assert np.array_equal(good.vectors, model.embed(["a horse"], level="sentence").vectors)
    assert isinstance(surrogate, bertex.InvalidTextError) and surrogate.index == 1


def test_collect_returns_what_worked_with_the_callers_indices_like_embed():
    model = fake_model()
    texts = ["a cat", "\u0000", "a dog", "\ud800", "a horse"] * 4

    async def main():
        async with Engine(model, max_batch_tokens=8) as engine:  # several passes
            return await engine.embed(texts, on_error="collect")

    got = run(main())
    want = model.embed(texts, on_error="collect")
    assert got.kept == want.kept and [r.index for r in got.results.reports] == list(want.kept)
    assert [(e.index, type(e)) for e in got.errors] == [(e.index, type(e)) for e in want.errors]
    assert [str(e) for e in got.errors] == [str(e) for e in want.errors]
    assert np.array_equal(got.results.vectors, want.results.vectors)


def test_a_full_queue_raises_overloaded_at_once():
    model = fake_model()
    model.backend.gate = threading.Event()

    async def main():
        async with Engine(model, max_queue=4) as engine:  # two passes in flight
            first = asyncio.ensure_future(engine.embed(["a cat"] * 4))
            await asyncio.sleep(0.05)  # in the model now (held by the gate)
            second = asyncio.ensure_future(engine.embed(["a cow"] * 4))
            await asyncio.sleep(0.05)  # in the model too: the second pass in flight
            third = asyncio.ensure_future(engine.embed(["a dog"] * 4))
            await asyncio.sleep(0.01)
            try:
                with pytest.raises(bertex.OverloadedError, match="limit is 4"):
                    await engine.embed(["a bird"])
            finally:
                model.backend.gate.set()
            return await first, await second, await third

    a, b, c = run(main())
    assert len(a) == len(b) == len(c) == 4


def test_two_passes_run_at_once_and_a_request_keeps_its_order():
    model = fake_model()
    model.backend.gate = threading.Event()
    inside, peak, lock = [0], [0], threading.Lock()
    forward = model.backend.forward

    def counted(batch, want):  # noqa: ANN001, ANN202
        with lock:
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])
        try:
            return forward(batch, want)
        finally:
            with lock:
                inside[0] -= 1

    model.backend.forward = counted
    texts = [f"a man is riding horse number {i}" for i in range(30)]

    async def main():
        async with Engine(model, max_batch_tokens=40) as engine:  # many passes per request
            big = asyncio.ensure_future(engine.embed(texts))
            small = asyncio.ensure_future(engine.embed(["a cat"], normalize=False))
            await asyncio.sleep(0.05)
            model.backend.gate.set()
            return await big, await small

    big, small = run(main())
    assert peak[0] == 2  # the small request did not wait for the big one's pass
    assert np.array_equal(big.vectors, model.embed(texts).vectors)  # parts kept in order
    assert np.array_equal(small.vectors, model.embed(["a cat"], normalize=False).vectors)


class Counts(Observer):
    def __init__(self) -> None:
        self.dropped_texts: dict[str, int] = {}

    def dropped(self, reason: str, texts: int) -> None:
        self.dropped_texts[reason] = self.dropped_texts.get(reason, 0) + texts


def test_cancelling_the_caller_stops_its_work_between_passes():
    model = fake_model(delay_s=0.05)
    counts = Counts()
    texts = [f"a man is riding horse number {i}" for i in range(40)]

    async def main():
        async with Engine(model, max_batch_tokens=40, observer=counts) as engine:
            task = asyncio.ensure_future(engine.embed(texts))
            await asyncio.sleep(0.12)  # two or three passes have run
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.2)  # the worker reaches the next pass and drops the rest
            return await engine.embed("a cat")

    model.backend.batches.clear()
    after = run(main())
    rows = sum(model.backend.batches) - 1  # the last pass is "a cat"
    assert len(after) == 1
    assert rows < 20 and counts.dropped_texts["cancelled"] == 40 - rows


def test_a_deadline_raises_and_stops_running_work():
    model = fake_model(delay_s=0.05)
    counts = Counts()
    texts = [f"a man is riding horse number {i}" for i in range(40)]

    async def main():
        async with Engine(model, max_batch_tokens=40, observer=counts) as engine:
            with pytest.raises(bertex.DeadlineError, match="0.12 s"):
                await engine.embed(texts, deadline=0.12)
            await asyncio.sleep(0.2)

    model.backend.batches.clear()
    run(main())
    assert sum(model.backend.batches) < 20 and counts.dropped_texts["deadline"] > 20


def test_timeouts_say_seconds_for_people():
    """A deadline's seconds come back from clock arithmetic (0.12 s as 0.11999...)."""
    assert "no answer within 0.12 s;" in str(bertex.DeadlineError(0.11999000001))
    assert "within 2 s;" in str(bertex.DeadlineError(2.0))
    assert "within 61 s;" in str(bertex.DeadlineError(61.2345))
    e = bertex.ForwardTimeoutError("torch", (2, 8), 63.2145, "derived")
    assert "did not return within 63 s (derived)" in str(e)


def test_limits_are_checked():
    with pytest.raises(bertex.OptionError, match="max_queue"):
        Engine(fake_model(), max_queue=0)


def test_work_stops_between_forward_batches_inside_one_pass():
    """One pass of 40 texts in forward batches of 4: a caller that leaves stops it there."""
    model = fake_model(delay_s=0.05)
    counts = Counts()
    texts = [f"a man is riding horse number {i}" for i in range(40)]

    async def main():
        async with Engine(model, max_batch_tokens=100_000, observer=counts) as engine:
            task = asyncio.ensure_future(engine.embed(texts, max_batch_size=4))
            await asyncio.sleep(0.12)  # two or three forward batches of the one pass
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.2)
            return await engine.embed("a cat")

    model.backend.batches.clear()
    assert len(run(main())) == 1
    ran = len(model.backend.batches) - 1  # forward batches of the big call ("a cat" is one)
    assert ran < 6 and counts.dropped_texts["cancelled"] == 40


def test_embed_stop_callable_is_asked_between_batches(tiny_bert):
    asked = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) > 2

    with pytest.raises(bertex.StoppedError, match="after 2 forward batches"):
        tiny_bert.embed([f"text {i}" for i in range(10)], max_batch_size=2, stop=stop)
    assert tiny_bert.embed(["a", "b"], stop=lambda: False).vectors.shape[0] == 2
