"""The pure stages on their own: window spans and ownership, pair truncation, batch planning,
pooling helpers, options. Their docstring examples run here too."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import bertex
from bertex import batching, columnar, columns, config, pooling, reports, runner, sentences, windows
from bertex.config import EmbedOptions


@pytest.mark.parametrize(
    "module", [windows, batching, pooling, sentences, columns, columnar, reports, runner]
)
def test_docstring_examples_hold(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(
    "n,size,stride",
    [(10, 4, 1), (100, 30, 7), (31, 30, 0), (513, 254, 63), (5, 8, 2), (1000, 2, 1)],
)
def test_windows_cover_every_token_exactly_once(n, size, stride):
    spans = windows.spans(n, size, stride)
    assert all(e - s <= size for s, e in spans)
    assert spans[0][0] == 0 and spans[-1][1] == n
    own = windows.owned(spans)
    covered = np.concatenate([np.arange(a, b) for a, b in own])
    assert covered.tolist() == list(range(n))  # each token once, in order
    for (s, e), (a, b) in zip(spans, own):
        assert s <= a <= b <= e  # a window only owns tokens it saw


def test_owned_token_has_the_most_context_of_any_window():
    spans = windows.spans(200, 40, 16)
    own = windows.owned(spans)
    for t in range(200):
        k = next(i for i, (a, b) in enumerate(own) if a <= t < b)
        context = [min(t - s, e - 1 - t) for s, e in spans if s <= t < e]
        best = min(t - spans[k][0], spans[k][1] - 1 - t)
        assert best == max(context)


def test_truncate_pair_is_longest_first():
    assert windows.truncate_pair(100, 10, 50) == (40, 10)
    assert windows.truncate_pair(30, 30, 50) == (25, 25)
    assert windows.truncate_pair(3, 4, 50) == (3, 4)


def test_batches_respect_budget_and_restore_order():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 200, size=300).tolist()
    plan = batching.plan_batches(lengths, budget=1000, max_size=16)
    seen = np.concatenate(plan)
    assert sorted(seen.tolist()) == list(range(300))
    for b in plan:
        width = max(lengths[i] for i in b)
        assert len(b) <= 16 and (len(b) == 1 or len(b) * width <= 1000)


def test_masked_pooling_ignores_what_is_not_kept():
    rows = np.array([[1.0, 0.0], [3.0, 4.0], [100.0, 100.0]], dtype=np.float32)
    keep = np.array([True, True, False])
    for mode, want in [
        ("mean", [2.0, 2.0]),
        ("max", [3.0, 4.0]),
        ("mean_sqrt_len", [4 / np.sqrt(2), 4 / np.sqrt(2)]),
        ("cls", [1.0, 0.0]),
    ]:
        pool = pooling.SentencePool(mode)
        pool.add(rows, keep, starts_sequence=True)
        assert np.allclose(pool.result(), want), mode


def test_pooling_in_pieces_equals_pooling_at_once():
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(50, 8)).astype(np.float32)
    keep = np.ones(50, dtype=bool)
    whole, parts = pooling.SentencePool("mean"), pooling.SentencePool("mean")
    whole.add(rows, keep, True)
    for lo in range(0, 50, 7):
        parts.add(rows[lo : lo + 7], keep[lo : lo + 7], lo == 0)
    assert np.abs(whole.result() - parts.result()).max() < 1e-6


def test_l2_normalize_leaves_zero_vectors_finite():
    out = pooling.l2_normalize(np.zeros((2, 3), dtype=np.float32))
    assert np.isfinite(out).all() and not out.any()


@pytest.mark.parametrize(
    "name,value",
    [
        ("level", "tokens"),
        ("pooling", "avg"),
        ("combine", "stack2"),
        ("long", "split"),
        ("subword", "all"),
        ("dtype", "float64"),
    ],
)
def test_unknown_option_value_lists_the_valid_ones(name, value):
    with pytest.raises(bertex.OptionError) as e:
        EmbedOptions.create(**{name: value})
    for valid in config._CHOICES[name]:
        assert repr(valid) in str(e.value)


def test_unknown_option_name_is_refused():
    with pytest.raises(bertex.OptionError, match="unknown option name"):
        EmbedOptions.create(levels="token")


def test_options_coerce_strings_and_layers():
    o = EmbedOptions.create(level="TOKEN", layers="-4,-3,-2,-1", long=" truncate ")
    assert (o.level, o.layers, o.long) == ("token", (-4, -3, -2, -1), "truncate")
    assert EmbedOptions.create(layers=[0, 6]).layers == (0, 6)
    assert EmbedOptions.create(layers="all").layers == "all"
    with pytest.raises(bertex.OptionError):
        EmbedOptions.create(layers="last")
    with pytest.raises(bertex.OptionError):
        EmbedOptions.create(stride=-1)


def test_options_from_environment():
    o = EmbedOptions.from_env(
        {"BERTEX_LEVEL": "word", "BERTEX_LONG": "error", "BERTEX_MAX_LENGTH": "128"}, subword="mean"
    )
    assert (o.level, o.long, o.max_length, o.subword) == ("word", "error", 128, "mean")
    with pytest.raises(bertex.OptionError):
        EmbedOptions.from_env({"BERTEX_MAX_LENGTH": "lots"})


def test_public_surface_is_explicit():
    assert sorted(bertex.__all__) == sorted(set(bertex.__all__))
    for name in bertex.__all__:
        assert hasattr(bertex, name), name
    assert {
        "load",
        "Model",
        "EmbedOptions",
        "TokenEmbedding",
        "SentenceEmbeddings",
        "BertexError",
    } <= set(bertex.__all__)
