"""Results do not depend on batch size, budget, order or neighbours in a batch."""

from __future__ import annotations

import numpy as np
import pytest

import bertex

TOL = 1e-5
SHORT = "A man with a hard hat is dancing."


def _neighbour(model, n_tokens: int) -> str:
    words = [
        "the",
        "child",
        "is",
        "riding",
        "a",
        "horse",
        "near",
        "the",
        "river",
        "while",
        "people",
        "watch",
    ]
    text, i = "", 0
    while len(model.tokenize(text or "a").tokens) < n_tokens:
        text = " ".join(words[j % len(words)] for j in range(i))
        i += 8
    return text


@pytest.mark.slow
def test_alone_equals_beside_a_512_token_neighbour(default_model):
    long = _neighbour(default_model, 512)
    alone = default_model.embed(SHORT, level="token")
    beside = default_model.embed([long, SHORT], level="token")[1]
    assert np.abs(alone.vectors - beside.vectors).max() <= TOL
    s_alone = default_model.embed([SHORT], level="sentence").vectors
    s_beside = default_model.embed([long, SHORT, "x"], level="sentence").vectors[1:2]
    assert np.abs(s_alone - s_beside).max() <= TOL


@pytest.mark.parametrize("budget,max_size", [(64, 1), (256, 3), (100_000, 256)])
def test_batch_budget_does_not_change_vectors(tiny_bert, budget, max_size):
    texts = [("a horse " * (i % 7 + 1)).strip() for i in range(25)] + [SHORT, "the child is riding"]
    ref = tiny_bert.embed(texts, level="sentence", batch_tokens=64, max_batch_size=1).vectors
    got = tiny_bert.embed(texts, level="sentence", batch_tokens=budget, max_batch_size=max_size)
    assert np.abs(got.vectors - ref).max() <= TOL
    assert list(got.texts) == texts  # the caller's order, not the length-sorted one


def test_order_is_restored_for_token_results(tiny_roberta):
    texts = ["the child is riding a horse near the river", "a", "a man is dancing", "hat"]
    batch = tiny_roberta.embed(texts, level="token", batch_tokens=10_000)
    for text, r in zip(texts, batch):
        alone = tiny_roberta.embed(text, level="token")
        assert r.text == text and r.tokens == alone.tokens
        assert np.abs(r.vectors - alone.vectors).max() <= TOL


def test_same_input_twice_gives_the_same_vectors(tiny_distilbert):
    a = tiny_distilbert.embed([SHORT] * 3, level="sentence").vectors
    assert np.abs(a - a[0]).max() <= TOL  # eval mode: no dropout
    assert not tiny_distilbert.backend.model.training


def test_chunked_tokenization_gives_the_same_results(tiny_bert, monkeypatch):
    from bertex import runner

    texts = [f"text {i} " + "horse " * (i % 7) for i in range(11)]
    whole = tiny_bert.embed(texts, level="token")
    sentences = tiny_bert.embed(texts, level="sentence").vectors
    monkeypatch.setattr(runner, "CHUNK", 3)  # four chunks, the next tokenized while one runs
    timings: dict[str, float] = {}
    chunked = tiny_bert.embed(texts, level="token", timings=timings)
    stages = {k for k in timings if not k.endswith(":cpu")}
    assert stages == {"tokenize", "forward", "output"}
    assert set(timings) - stages == {"output:cpu"}  # the Python stage's own CPU (bertex/clock.py)
    assert [c.text for c in chunked] == texts
    for x, y in zip(whole, chunked):
        assert x.tokens == y.tokens and np.abs(x.vectors - y.vectors).max() <= 1e-5
    again = tiny_bert.embed(texts, level="sentence")
    assert np.abs(again.vectors - sentences).max() <= 1e-5
    assert [r.index for r in again.reports] == list(range(11))
    with pytest.raises(bertex.TooLongError) as e:  # an input of the third chunk keeps its index
        tiny_bert.embed(texts[:7] + ["word " * 600] + texts[8:], long="error")
    assert e.value.index == 7
