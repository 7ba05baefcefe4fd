"""A Model is safe to share between threads: attention-map calls never change what other
threads' calls compute (issue 16, point 2)."""

from __future__ import annotations

import threading

import numpy as np


def test_attention_calls_leave_the_shared_model_alone(tiny_bert):
    backend = tiny_bert.backend
    seen: list[str] = []  # the attention implementation of every call the shared model runs

    def record(module, args, kwargs):  # noqa: ANN001, ANN202
        if module is backend.model:  # (a twin made while the hook is on carries a copy of it)
            seen.append(module.config._attn_implementation)

    hook = backend.model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        tiny_bert.embed("a man", level="token")
        r = tiny_bert.embed("a man is dancing", level="token", attentions=True)
        tiny_bert.embed("a man", level="token")
    finally:
        hook.remove()
    assert r.attentions is not None and r.attentions.shape[-1] == len(r.tokens)
    assert seen == [backend._attn, backend._attn]  # the maps came from the eager twin
    twin = backend._eager
    assert twin is not None and twin is not backend.model
    shared = {id(p) for p in backend.model.parameters()}
    assert all(id(p) in shared for p in twin.parameters())  # no second copy of the weights


def test_concurrent_attention_and_sentence_calls_agree_exactly(tiny_bert):
    texts = [f"a man number {i} is riding a horse on the hard hat" for i in range(24)]
    ref = tiny_bert.embed(texts).vectors
    ref_tok = tiny_bert.embed(texts[:3], level="token", attentions=True)
    diffs: list[float] = []
    errors: list[BaseException] = []

    def sentences() -> None:
        for _ in range(20):
            diffs.append(float(np.abs(tiny_bert.embed(texts).vectors - ref).max()))

    def maps() -> None:
        try:
            for _ in range(20):
                got = tiny_bert.embed(texts[:3], level="token", attentions=True)
                for a, b in zip(got, ref_tok):
                    assert np.array_equal(a.attentions, b.attentions)
        except BaseException as e:  # surfaced below, not lost in the thread
            errors.append(e)

    threads = [threading.Thread(target=f) for f in (sentences, sentences, maps, maps)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(diffs) == 40 and max(diffs) == 0.0
