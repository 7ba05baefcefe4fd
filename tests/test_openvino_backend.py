"""The OpenVINO backend meets the ONNX backend's reference tests: fp32 equals torch (1e-4,
tokens, every layer, pooler, attention maps), vectors do not move with their batch, bf16 stays
within the quality gate of fp32 and really runs bf16 where the CPU has it, int8 is refused."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import bertex
from bertex.backends.precision import native_bf16

pytest.importorskip("openvino")
TEXTS = ["A man with a hard hat is dancing.", "Unbelievably, the child is riding a horse!", "a"]


@pytest.fixture(scope="module", autouse=True)
def graph_cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("openvino-cache")
    with pytest.MonkeyPatch.context() as env:  # a cache of this module's own
        env.setenv("BERTEX_CACHE", str(path))
        yield path


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


@pytest.fixture(scope="module")
def ov_fp32(bert_dir):
    return bertex.load(bert_dir, backend="openvino")


def test_openvino_fp32_equals_torch_on_tiny_bert(tiny_bert, ov_fp32):
    for kwargs in (
        {"level": "token"},
        {"level": "hidden_states"},
        {"level": "token", "attentions": True},
        {"level": "sentence", "pooling": "pooler"},
        {"level": "sentence", "layers": "all", "combine": "stack"},
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a, b = [m.embed(TEXTS, **kwargs) for m in (tiny_bert, ov_fp32)]
        pairs = [(a, b)] if kwargs["level"] == "sentence" else list(zip(a, b))
        for x, y in pairs:  # the whole batch of sentence vectors, or each token result
            assert np.abs(x.vectors - y.vectors).max() <= 1e-4
            maps = getattr(x, "attentions", None), getattr(y, "attentions", None)
            assert maps[0] is None or np.abs(maps[0] - maps[1]).max() <= 1e-4
        assert (maps[0] is None) == ("attentions" not in kwargs)
    assert b.meta.backend == "openvino" and b.meta.precision == "fp32"
    # fp32 is asked for explicitly: OpenVINO would infer in bf16 on this kind of CPU otherwise
    assert ov_fp32.backend.inference_precision() == "f32"


def test_openvino_uses_the_onnx_backends_checked_graph(bert_dir, ov_fp32, graph_cache):
    ov_fp32.embed(TEXTS, level="token")
    graphs = sorted(graph_cache.glob("onnx/*/model.fp32.onnx"))
    assert graphs
    stamps = {p: p.stat().st_mtime_ns for p in graphs}
    bertex.load(bert_dir, backend="onnx").embed(TEXTS, level="token")
    assert {p: p.stat().st_mtime_ns for p in graphs} == stamps  # the same file, not re-exported
    assert sorted(graph_cache.glob("onnx/*/model.fp32.onnx")) == graphs


def test_openvino_fp32_vectors_do_not_move_with_their_batch(ov_fp32):
    long = "the quick brown fox jumps over the lazy dog " * 4  # padded batch, one window
    alone = ov_fp32.embed(TEXTS[0], level="token").vectors
    batched = ov_fp32.embed([long, TEXTS[0], "b"], level="token")[1].vectors
    assert alone.shape == batched.shape
    assert np.abs(alone - batched).max() <= 1e-5
    a = ov_fp32.embed(TEXTS[:1]).vectors
    b = ov_fp32.embed([long, TEXTS[0]]).vectors[1:]
    assert np.abs(a - b).max() <= 1e-5


def test_openvino_bf16_stays_close_to_fp32_and_runs_bf16(tiny_bert, bert_dir, monkeypatch):
    monkeypatch.delenv("BERTEX_EMULATED_BF16", raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", bertex.PrecisionWarning)  # no fallback on a bf16 CPU
        model = (
            bertex.load(bert_dir, backend="openvino", precision="bf16") if native_bf16() else None
        )
    if model is None:  # a CPU without bf16: the warning path, the same as torch's
        with pytest.warns(bertex.PrecisionWarning, match="running fp32"):
            model = bertex.load(bert_dir, backend="openvino", precision="bf16")
    a = tiny_bert.embed(TEXTS, level="sentence").vectors
    b = model.embed(TEXTS, level="sentence")
    assert b.vectors.dtype == np.float32
    assert cosines(a, b.vectors).min() >= 0.99
    expected = ("bf16", "bf16") if native_bf16() else ("fp32", "f32")
    assert (b.meta.precision, model.backend.inference_precision()) == expected
    if native_bf16():  # it is really bf16: not bit-equal to fp32
        assert np.abs(a - b.vectors).max() > 1e-5


def test_openvino_bf16_without_native_support_falls_back_loudly(bert_dir, monkeypatch):
    from bertex.backends import precision

    monkeypatch.delenv("BERTEX_EMULATED_BF16", raising=False)
    monkeypatch.setattr(precision, "native_bf16", lambda: False)
    with pytest.warns(bertex.PrecisionWarning, match="running fp32"):
        model = bertex.load(bert_dir, backend="openvino", precision="bf16")
    assert model.embed("a man").meta.precision == "fp32"
    assert model.backend.inference_precision() == "f32"


def test_int8_on_openvino_is_an_option_error_naming_the_valid_ones(bert_dir):
    with pytest.raises(bertex.OptionError, match="'fp32', 'bf16'"):
        bertex.load(bert_dir, backend="openvino", precision="int8")
    with pytest.raises(bertex.OptionError, match="'openvino'"):
        bertex.load(bert_dir, backend="openvinoo")


def test_openvino_missing_names_its_extra(bert_dir, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "openvino", None)  # import fails
    with pytest.raises(bertex.ExtraMissingError, match=r"\[openvino\]"):
        bertex.load(bert_dir, backend="openvino")


@pytest.mark.slow
def test_default_model_openvino_fp32_sentence_vectors_match_torch(default_model):
    ov = bertex.load("all-MiniLM-L6-v2", backend="openvino")
    texts = TEXTS + ["你好，世界！", "word " * 400, "A short one."]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = default_model.embed(texts).vectors
        b = ov.embed(texts).vectors
    assert cosines(a, b).min() >= 0.9999
