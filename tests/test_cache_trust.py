"""The ONNX cache is code the process runs: a planted or altered graph is never loaded, and a
cache other users can write to is refused (issue 16, point 14)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import bertex

TEXTS = ["a man is riding a horse", "a woman plays the guitar"]


def _scaled_copy(src, dst) -> None:
    """The issue's attack: the same graph with scaled weights (cosine 0.98 to the truth)."""
    import onnx
    from onnx import numpy_helper

    g = onnx.load(str(src))
    for init in g.graph.initializer:
        w = numpy_helper.to_array(init)
        if w.dtype == np.float32 and w.ndim == 2 and w.shape[0] > 8:
            init.CopyFrom(numpy_helper.from_array(w * 1.3, init.name))
    onnx.save(g, str(dst))


def test_a_planted_graph_is_rebuilt_not_run(tmp_path, bert_dir, monkeypatch):
    monkeypatch.setenv("BERTEX_CACHE", str(tmp_path))
    ref = bertex.load(bert_dir).embed(TEXTS).vectors
    bertex.load(bert_dir, backend="onnx").embed(TEXTS)  # builds and seals the cache
    (graph,) = tmp_path.glob("onnx/*/model.fp32.onnx")
    _scaled_copy(graph, graph)
    with pytest.warns(bertex.BertexWarning, match="does not match the SHA-256"):
        got = bertex.load(bert_dir, backend="onnx").embed(TEXTS).vectors
    assert np.abs(got - ref).max() <= 1e-4


def test_a_graph_without_a_recorded_hash_is_not_trusted(tmp_path, bert_dir, monkeypatch):
    monkeypatch.setenv("BERTEX_CACHE", str(tmp_path))
    bertex.load(bert_dir, backend="onnx").embed(TEXTS)
    (seal,) = tmp_path.glob("onnx/*/sha256.json")
    seal.unlink()
    with pytest.warns(bertex.BertexWarning, match="rebuilding"):
        bertex.load(bert_dir, backend="onnx").embed(TEXTS)
    assert seal.exists()


@pytest.mark.parametrize("mode", [0o777, 0o775])
def test_a_cache_others_can_write_is_refused(tmp_path, bert_dir, monkeypatch, mode):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, mode)
    monkeypatch.setenv("BERTEX_CACHE", str(shared))
    model = bertex.load(bert_dir, backend="onnx")
    with pytest.raises(bertex.UnsafeCacheError, match=r"other users.*BERTEX_CACHE") as e:
        model.embed(TEXTS)
    assert str(shared) in str(e.value) and not list(shared.glob("onnx/*/*.onnx"))
