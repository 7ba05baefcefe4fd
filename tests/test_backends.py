"""Backends and precisions: ONNX Runtime equals torch (1e-4), int8 and bf16 pass the quality
gates (cosine to fp32, STS-B Spearman), the ONNX cache is reused and rebuilt when corrupt."""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

import bertex

pytest.importorskip("onnxruntime")
STSB = Path(__file__).resolve().parents[2] / "shared" / "data" / "stsb" / "stsb-en-dev.csv"
TEXTS = ["A man with a hard hat is dancing.", "Unbelievably, the child is riding a horse!", "a"]


@pytest.fixture(scope="session", autouse=True)
def onnx_cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx-cache")
    with pytest.MonkeyPatch.context() as env:  # a cache of this module's own
        env.setenv("BERTEX_CACHE", str(path))
        yield path


def stsb(n: int | None = None) -> tuple[list[str], list[str], np.ndarray]:
    with STSB.open(encoding="utf-8") as f:
        rows = list(csv.reader(f))[:n]
    return [r[0] for r in rows], [r[1] for r in rows], np.array([float(r[2]) for r in rows])


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of average ranks (written here to avoid a scipy dependency)."""

    def ranks(x: np.ndarray) -> np.ndarray:
        order = np.argsort(x, kind="stable")
        r = np.empty(len(x))
        r[order] = np.arange(len(x))
        for v in np.unique(x):  # ties share their average rank
            tie = x == v
            r[tie] = r[tie].mean()
        return r

    ra, rb = ranks(a), ranks(b)
    return float(np.corrcoef(ra, rb)[0, 1])


def test_unknown_backend_or_precision_is_an_error():
    with pytest.raises(bertex.OptionError, match="'torch', 'onnx'"):
        bertex.load("all-MiniLM-L6-v2", backend="tensorflow")
    with pytest.raises(bertex.OptionError, match="backend='onnx'"):
        bertex.load("all-MiniLM-L6-v2", precision="int8")


@pytest.mark.parametrize(
    ("backend", "valid"),
    [
        ("torch", "'fp32', 'bf16'."),
        ("onnx", "'fp32', 'int8'."),
        ("openvino", "'fp32', 'bf16'."),
        ("ctranslate2", "'fp32', 'int8'."),
    ],
)
def test_fp16_on_the_cpu_names_the_precisions_of_that_backend(backend, valid):
    """`--backend onnx --precision fp16` listed 'bf16' (which onnx refuses) as a valid choice."""
    from bertex.backends.precision import choose

    with pytest.raises(bertex.OptionError) as e:
        choose(backend, "fp16")
    assert f"choose one of: {valid}" in str(e.value) and "CUDA" in str(e.value)


def test_int8_where_a_backend_has_none_names_the_flag_as_well_as_the_argument():
    from bertex.backends.precision import choose

    with pytest.raises(bertex.OptionError) as e:
        choose("openvino", "int8")
    assert "choose one of: 'fp32', 'bf16'." in str(e.value)
    assert "with calibrate= (on the command line: --calibrate N|FILE)" in str(e.value)


def test_onnx_equals_torch_on_tiny_bert(tiny_bert, bert_dir, onnx_cache):
    onnx = bertex.load(bert_dir, backend="onnx")
    for kwargs in (
        {"level": "token"},
        {"level": "hidden_states"},
        {"level": "token", "attentions": True},
        {"level": "sentence", "pooling": "pooler"},
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = tiny_bert.embed(TEXTS, **kwargs)
            b = onnx.embed(TEXTS, **kwargs)
        if kwargs["level"] == "sentence":
            assert np.abs(a.vectors - b.vectors).max() <= 1e-4
            continue
        for x, y in zip(a, b):
            assert np.abs(x.vectors - y.vectors).max() <= 1e-4
            if x.attentions is not None:
                assert np.abs(x.attentions - y.attentions).max() <= 1e-4
    assert b.meta.backend == "onnx"
    # one graph per set of outputs: last layer (+ pooler), every layer, attention maps
    assert len(list((onnx_cache / "onnx").iterdir())) == 3


def test_onnx_cache_is_reused_and_a_corrupt_one_rebuilt(bert_dir, onnx_cache):
    model = bertex.load(bert_dir, backend="onnx")
    model.embed("a man", level="token")
    graphs = sorted(onnx_cache.glob("onnx/*/model.fp32.onnx"))
    assert graphs
    stamps = {p: p.stat().st_mtime_ns for p in graphs}
    again = bertex.load(bert_dir, backend="onnx")
    again.embed("a man", level="token")
    assert {p: p.stat().st_mtime_ns for p in graphs} == stamps  # not exported again
    for p in graphs:
        p.write_bytes(b"not an onnx graph")
    fresh = bertex.load(bert_dir, backend="onnx")
    with pytest.warns(bertex.BertexWarning, match="rebuilding"):
        r = fresh.embed("a man", level="token")
    assert np.isfinite(r.vectors).all()


def test_bf16_without_native_support_falls_back_loudly(bert_dir, monkeypatch):
    from bertex.backends import precision

    monkeypatch.delenv("BERTEX_EMULATED_BF16", raising=False)
    monkeypatch.setattr(precision, "native_bf16", lambda: False)
    with pytest.warns(bertex.PrecisionWarning, match="running fp32"):
        model = bertex.load(bert_dir, precision="bf16")
    assert model.embed("a man", level="sentence").meta.precision == "fp32"


def test_bf16_autocast_stays_close_to_fp32(tiny_bert, bert_dir, monkeypatch):
    monkeypatch.setenv("BERTEX_EMULATED_BF16", "1")  # exercise the path on any CPU
    model = bertex.load(bert_dir, precision="bf16")
    a = tiny_bert.embed(TEXTS, level="sentence").vectors
    b = model.embed(TEXTS, level="sentence")
    assert b.meta.precision == "bf16" and b.vectors.dtype == np.float32
    cos = (a * b.vectors).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b.vectors, axis=1)
    assert cos.min() >= 0.99


@pytest.mark.slow
def test_default_model_onnx_fp32_within_1e4_of_torch(default_model):
    onnx = bertex.load("all-MiniLM-L6-v2", backend="onnx")
    texts = TEXTS + ["你好，世界！", "word " * 400]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for x, y in zip(
            default_model.embed(texts, level="token"), onnx.embed(texts, level="token")
        ):
            assert np.abs(x.vectors - y.vectors).max() <= 1e-4


@pytest.mark.slow
def test_int8_passes_the_quality_gates(default_model):
    s1, s2, gold = stsb()
    texts = s1 + s2
    fp32 = default_model.embed(texts, level="sentence").vectors
    with pytest.warns(bertex.PrecisionWarning, match="batch neighbours"):
        int8_model = bertex.load("all-MiniLM-L6-v2", backend="onnx", precision="int8")
    int8 = int8_model.embed(texts, level="sentence")
    assert int8.meta.precision == "int8"
    cos = (fp32 * int8.vectors).sum(1)  # both unit length
    print(f"int8 cosine to fp32: mean {cos.mean():.5f} min {cos.min():.5f}")
    assert cos.mean() >= 0.99 and cos.min() >= 0.97
    n = len(s1)
    rho = {
        name: spearman((v[:n] * v[n:]).sum(1), gold)
        for name, v in (("fp32", fp32), ("int8", int8.vectors))
    }
    print(f"STS-B dev Spearman: fp32 {rho['fp32']:.4f} int8 {rho['int8']:.4f}")
    assert abs(rho["int8"] - rho["fp32"]) <= 0.005
    assert rho["fp32"] > 0.8  # the real model, working
    # what the load-time warning says: int8 vectors move a little with their batch
    alone = np.stack([int8_model.embed(t, level="sentence").vectors[0] for t in texts[:100]])
    same = (alone * int8.vectors[:100]).sum(1)
    print(f"int8 alone vs in a batch: cosine mean {same.mean():.5f} min {same.min():.5f}")
    assert same.min() >= 0.98 and same.mean() < 1 - 1e-6


@pytest.mark.parametrize("fixture", ["roberta_dir", "distilbert_dir"])
def test_onnx_equals_torch_on_other_families(request, fixture):
    folder = request.getfixturevalue(fixture)
    ref, onnx = bertex.load(folder), bertex.load(folder, backend="onnx")
    for x, y in zip(
        ref.embed(TEXTS, level="hidden_states"), onnx.embed(TEXTS, level="hidden_states")
    ):
        assert np.abs(x.vectors - y.vectors).max() <= 1e-4


def _records(cache: Path) -> list[dict]:
    import json

    return [json.loads(p.read_text()) for p in sorted(cache.glob("onnx/*/export.json"))]


def test_onnx_graph_is_fused_checked_and_leaves_torch_in_eval_mode(tmp_path, bert_dir, monkeypatch):
    import onnx

    monkeypatch.setenv("BERTEX_CACHE", str(tmp_path))
    model = bertex.load(bert_dir, backend="onnx")
    model.embed(TEXTS, level="token")
    (record,) = _records(tmp_path)
    assert record["exporter"] == "torchscript" and record["fused"] is True
    assert record["max_abs_diff"] <= 1e-4 and record["refused"] == []
    (graph,) = tmp_path.glob("onnx/*/model.fp32.onnx")
    ops = {n.op_type for n in onnx.load(str(graph), load_external_data=False).graph.node}
    assert {"Attention", "SkipLayerNormalization"} <= ops  # one fused op per attention block
    # the TorchScript exporter leaves modules in training mode: dropout must be off again
    assert not any(m.training for m in model.backend.torch_model.modules())


def test_a_graph_that_disagrees_with_torch_is_never_kept(tmp_path, bert_dir, monkeypatch):
    from bertex.backends import onnx_backend

    def damaging_fuse(path, config):  # a "fusion" that changes the numbers
        import onnx
        from onnx import numpy_helper

        g = onnx.load(str(path))
        for init in g.graph.initializer:
            w = numpy_helper.to_array(init)
            if w.dtype == np.float32 and w.ndim == 2 and w.shape[0] > 8:
                noise = np.random.default_rng(0).normal(0, 1, w.shape).astype(np.float32)
                init.CopyFrom(numpy_helper.from_array(w + noise, init.name))
                break
        onnx.save(g, str(path))

    monkeypatch.setenv("BERTEX_CACHE", str(tmp_path))
    monkeypatch.setattr(onnx_backend, "fuse", damaging_fuse)
    ref = bertex.load(bert_dir).embed(TEXTS, level="token")
    got = bertex.load(bert_dir, backend="onnx").embed(TEXTS, level="token")
    (record,) = _records(tmp_path)
    assert (record["exporter"], record["fused"]) == ("dynamo", False)
    assert len(record["refused"]) == 2 and "max abs diff" in record["refused"][0]
    for x, y in zip(ref, got):
        assert np.abs(x.vectors - y.vectors).max() <= 1e-4


def test_no_faithful_export_is_a_clear_error(tmp_path, bert_dir, monkeypatch):
    from bertex.backends import onnx_backend

    def broken(self, path, layers, attentions, exporter):
        raise RuntimeError(f"{exporter} cannot trace this model")

    monkeypatch.setenv("BERTEX_CACHE", str(tmp_path))
    monkeypatch.setattr(onnx_backend.OnnxBackend, "_export", broken)
    model = bertex.load(bert_dir, backend="onnx")
    with pytest.raises(bertex.ExportError, match="torchscript.*dynamo.*backend='torch'"):
        model.embed("a man")
    assert not list(tmp_path.glob("onnx/*/model.fp32.onnx"))  # nothing half-built is cached


def test_workers_split_the_cores_and_agree(bert_dir, monkeypatch):
    from bertex.backends import threads

    cores = len(os.sched_getaffinity(0))
    monkeypatch.setenv("BERTEX_WORKERS", "1")
    assert threads.plan() == (1, cores)
    one = bertex.load(bert_dir, backend="onnx")
    monkeypatch.setenv("BERTEX_WORKERS", "64")
    assert threads.plan() == (cores, 1)  # never more workers than cores
    monkeypatch.setenv("BERTEX_CPUS", "1")  # e.g. a Ray actor's share
    assert threads.plan() == (1, 1)
    monkeypatch.setenv("BERTEX_WORKERS", "1")
    assert threads.gpu_workers() == 1  # the GPU's: one batch at a time when asked
    monkeypatch.delenv("BERTEX_WORKERS")
    assert threads.gpu_workers() == 2  # else two in flight, whatever the CPU count
    monkeypatch.delenv("BERTEX_CPUS")
    assert threads.plan() == (min(2, cores), max(1, cores // min(2, cores)))
    texts = [f"{w} " * (i % 23 + 1) for i, w in enumerate(["man", "horse", "the"] * 40)]
    a = one.embed(texts, level="token", batch_tokens=64)
    for backend in ("onnx", "torch"):
        many = bertex.load(bert_dir, backend=backend)
        many.backend.workers = 3  # three batches in flight at once, even on a small machine
        b = many.embed(texts, level="token", batch_tokens=64)
        assert [y.text for y in b] == texts  # order kept
        for x, y in zip(a, b):
            assert np.abs(x.vectors - y.vectors).max() <= 1e-5
        with_maps = many.embed(texts[:5], level="token", attentions=True)  # one at a time
        assert all(r.attentions is not None for r in with_maps)
    import torch

    before = torch.get_num_threads()
    many.embed(texts, level="sentence")
    assert torch.get_num_threads() == before  # the workers' setting stays in the workers
