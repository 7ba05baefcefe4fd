"""The CTranslate2 backend: fp32 equals torch (1e-4), batch invariant, int8 close to fp32; only
the last layer (and the pooler) is served, anything else is refused with the backends that can."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import bertex

TEXTS = ["A man with a hard hat is dancing.", "Unbelievably, the child is riding a horse!", "a"]
PAIR = ("the cat sat on the mat", "a dog ran in the park")


@pytest.fixture(scope="module", autouse=True)
def ct2_cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("ct2-cache")
    with pytest.MonkeyPatch.context() as env:  # a cache of this module's own
        env.setenv("BERTEX_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def ct2_fp32(bert_dir, ct2_cache):
    return bertex.load(bert_dir, backend="ctranslate2")


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_fp32_equals_torch_on_tiny_bert(tiny_bert, ct2_fp32):
    for kwargs in (
        {"level": "token"},
        {"level": "token", "text_pair": PAIR[1]},  # token_type_ids 1 on the second segment
        {"level": "sentence", "pooling": "mean"},
        {"level": "sentence", "pooling": "cls"},
        {"level": "sentence", "pooling": "pooler"},
    ):
        texts = [PAIR[0]] if "text_pair" in kwargs else TEXTS
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the weak-pooling advice for cls and pooler
            a, b = tiny_bert.embed(texts, **kwargs), ct2_fp32.embed(texts, **kwargs)
        if kwargs["level"] == "sentence":
            assert np.abs(a.vectors - b.vectors).max() <= 1e-4, kwargs
            continue
        for x, y in zip(a, b):
            assert x.vectors.shape == y.vectors.shape
            assert np.abs(x.vectors - y.vectors).max() <= 1e-4, kwargs
    assert b.meta.backend == "ctranslate2"


def test_fp32_is_batch_invariant(ct2_fp32):
    together = ct2_fp32.embed(TEXTS, level="sentence").vectors
    alone = np.stack([ct2_fp32.embed([t], level="sentence").vectors[0] for t in TEXTS])
    assert np.abs(together - alone).max() <= 1e-5


def test_int8_stays_close_to_fp32(bert_dir, ct2_fp32):
    int8 = bertex.load(bert_dir, backend="ctranslate2", precision="int8")
    texts = TEXTS + [" ".join(TEXTS), "the dog"]
    a = ct2_fp32.embed(texts, level="sentence").vectors
    b = int8.embed(texts, level="sentence")
    assert b.meta.precision == "int8" and b.vectors.dtype == np.float32
    assert cosines(a, b.vectors).min() >= 0.97
    assert np.abs(a - b.vectors).max() > 0  # really quantized, not the fp32 model again
    # activations are quantized per row: a vector does not move with its batch neighbours
    alone = np.stack([int8.embed([t], level="sentence").vectors[0] for t in texts])
    assert np.abs(alone - b.vectors).max() <= 1e-5


@pytest.mark.parametrize(
    "kwargs",
    [
        {"level": "hidden_states"},
        {"level": "token", "layers": [1]},
        {"level": "token", "attentions": True},
    ],
)
def test_other_layers_and_attentions_are_refused(ct2_fp32, kwargs):
    with pytest.raises(bertex.OptionError, match="'torch', 'onnx'"):
        ct2_fp32.embed(TEXTS, **kwargs)


def test_bf16_and_unknown_precisions_are_refused(bert_dir):
    with pytest.raises(bertex.OptionError, match="'fp32', 'int8'"):
        bertex.load(bert_dir, backend="ctranslate2", precision="bf16")
    with pytest.raises(bertex.OptionError, match="'ctranslate2'"):
        bertex.load(bert_dir, backend="ct2")


def test_conversion_is_cached_and_a_corrupt_one_rebuilt(bert_dir, ct2_fp32, ct2_cache):
    bins = sorted(ct2_cache.glob("ctranslate2/*/model.bin"))
    assert len(bins) == 1
    stamp = bins[0].stat().st_mtime_ns
    bertex.load(bert_dir, backend="ctranslate2", precision="int8")  # same conversion
    assert bins[0].stat().st_mtime_ns == stamp
    bins[0].write_bytes(b"not a model")
    with pytest.warns(bertex.BertexWarning, match="rebuilding"):
        fresh = bertex.load(bert_dir, backend="ctranslate2")
    assert np.abs(fresh.embed(TEXTS).vectors - ct2_fp32.embed(TEXTS).vectors).max() <= 1e-6


@pytest.mark.slow
def test_default_model_fp32_equals_torch(default_model):
    ct2 = bertex.load("all-MiniLM-L6-v2", backend="ctranslate2")
    texts = TEXTS + ["你好，世界！", "word " * 400]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the long text is windowed
        a = default_model.embed(texts, level="sentence").vectors
        b = ct2.embed(texts, level="sentence").vectors
    assert cosines(a, b).min() >= 0.9999


def test_cli_offers_the_backend():
    from bertex.cli.main import build_parser

    args = build_parser().parse_args(["embed", "--backend", "ctranslate2", "--precision", "int8"])
    assert (args.backend, args.precision) == ("ctranslate2", "int8")
