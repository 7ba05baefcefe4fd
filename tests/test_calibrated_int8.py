"""Calibrated int8 on the real default model: static int8 calibrated on a sample of the user's
texts (NNCF on openvino, onnxruntime's quantize_static on onnx), behind the quality gate
(cosine to fp32 on held-out texts); the fallback to exact fp32 with its reason; the cache of
quantized models; bad input refused before anything loads; the CLI's --calibrate N|FILE."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import bertex
from bertex.backends import static_int8
from bertex.backends.precision import native_bf16
from bertex.calibrate import MIN_TEXTS
from bertex.cli.main import main
from bertex.errors import GateWarning, OptionError

STSB = Path(__file__).resolve().parents[2] / "shared" / "data" / "stsb" / "stsb-en-dev.csv"
MODEL = "all-MiniLM-L6-v2"


def sentences() -> list[str]:
    with STSB.open(encoding="utf-8") as f:
        return list(dict.fromkeys(s for row in csv.reader(f) for s in row[:2]))


TEXTS = sentences()
SAMPLE = TEXTS[:240]  # 180 calibrated on, 60 held out
UNSEEN = TEXTS[300:400]  # in no calibration sample here


@pytest.fixture(scope="module", autouse=True)
def model_cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("int8-cache")
    with pytest.MonkeyPatch.context() as env:  # a cache of this module's own: nothing reused
        env.setenv("BERTEX_CACHE", str(path))
        yield path


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


@pytest.fixture(scope="module", params=["openvino", "onnx"])
def calibrated(request):
    before = static_int8.BUILT["count"]
    model = bertex.load(MODEL, backend=request.param, precision="int8", calibrate=SAMPLE)
    assert static_int8.BUILT["count"] == before + 1  # quantized once, on the first forward
    return model


@pytest.mark.slow
def test_calibrated_int8_passes_the_gate_and_stays_within_it_of_fp32(calibrated, default_model):
    record = calibrated.backend.quantization
    assert calibrated.backend.precision == "int8"
    assert record["passed"] and record["precision"] == "int8" and record["cache"] == "built"
    assert (record["calibration_texts"], record["held_out_texts"]) == (180, 60)
    assert record["cosine_mean"] >= 0.99 and record["cosine_min"] >= 0.97
    assert record["engine"] == ("nncf" if calibrated.backend.name == "openvino" else "onnxruntime")
    bf16 = calibrated.backend.name == "openvino" and native_bf16()
    if calibrated.backend.name == "openvino":  # the ops left out of int8 run in bf16 if native
        assert calibrated.backend.inference_precision() == ("bf16" if bf16 else "f32")
    assert record["other_ops"] == ("bf16" if bf16 else "fp32")  # and the record says so
    got, want = calibrated.embed(UNSEEN), default_model.embed(UNSEEN)
    cos = cosines(got.vectors, want.vectors)
    assert cos.mean() >= 0.99 and cos.min() >= 0.97  # on texts neither calibrated nor held out
    assert np.abs(got.vectors - want.vectors).max() > 1e-4  # int8 really runs, not fp32
    assert got.meta.precision == "int8" and got.meta.quantization == record
    # static scales: a vector does not move with its batch neighbours (dynamic int8's does)
    long = "the quick brown fox jumps over the lazy dog " * 6
    alone = calibrated.embed(UNSEEN[:1]).vectors
    batched = calibrated.embed([long, UNSEEN[0], "b"]).vectors[1:2]
    assert np.abs(alone - batched).max() <= 1e-4


def test_openvino_int8_runs_its_other_ops_in_bf16_only_where_the_cpu_has_it(monkeypatch):
    from bertex.backends import openvino_backend, precision

    for native, want in ((True, "bf16"), (False, "f32")):
        monkeypatch.setattr(precision, "native_bf16", lambda native=native: native)
        assert openvino_backend.hint("int8") == want
        assert (openvino_backend.hint("fp32"), openvino_backend.hint("bf16")) == ("f32", "bf16")


@pytest.mark.slow
def test_a_second_load_reuses_the_quantized_model(calibrated, model_cache):
    files = sorted(p for p in (model_cache / "int8-static").rglob("*") if p.is_file())
    assert files
    stamps = {p: p.stat().st_mtime_ns for p in files}
    before = static_int8.BUILT["count"]
    name = calibrated.backend.name
    again = bertex.load(MODEL, backend=name, precision="int8", calibrate=SAMPLE)
    assert static_int8.BUILT["count"] == before  # not quantized again
    assert again.backend.quantization["cache"] == "reused"
    assert {p: p.stat().st_mtime_ns for p in files} == stamps
    a, b = (m.embed(UNSEEN[:20]).vectors for m in (calibrated, again))
    assert np.abs(a - b).max() <= 1e-6


@pytest.mark.slow
def test_other_layers_are_quantized_on_the_same_sample_when_asked_for():
    model = bertex.load(MODEL, backend="onnx", precision="int8", calibrate=SAMPLE)
    before = static_int8.BUILT["count"]
    got = model.embed(UNSEEN[:8], level="sentence", layers="all", combine="mean")
    assert static_int8.BUILT["count"] == before + 1  # the all-layers graph, quantized once
    assert got.vectors.shape == (8, 384) and got.meta.precision == "int8"


@pytest.mark.slow
def test_a_gate_that_cannot_pass_falls_back_to_exact_fp32_with_the_reason(calibrated):
    name = calibrated.backend.name
    with pytest.warns(GateWarning, match=r"min .* below the gate; running fp32 instead"):
        model = bertex.load(
            MODEL, backend=name, precision="int8", calibrate=SAMPLE, gate=(0.99, 0.9999)
        )
    record = model.backend.quantization
    assert model.backend.precision == "fp32" and model.backend.name == name
    assert not record["passed"] and record["precision"] == "fp32"
    assert record["reason"] == "the min is below the gate" and record["cosine_min"] < 0.9999
    exact = bertex.load(MODEL, backend=name)
    got = model.embed(UNSEEN[:40])
    assert np.abs(got.vectors - exact.embed(UNSEEN[:40]).vectors).max() <= 1e-5
    assert got.meta.precision == "fp32" and got.meta.quantization == record
    with pytest.warns(GateWarning, match="the mean is below the gate"):
        bertex.load(MODEL, backend=name, precision="int8", calibrate=SAMPLE, gate=(0.99999, 0.5))


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"calibrate": []}, ["'0 usable texts'", f"at least {MIN_TEXTS} distinct"]),
        ({"calibrate": SAMPLE[:10]}, ["'10 usable texts'"]),
        ({"calibrate": [" ", ""] * 30 + SAMPLE[:5] * 4}, ["'5 usable texts'"]),
        ({"calibrate": "no/such/texts.txt"}, ["no such file", "a list of texts"]),
        ({"calibrate": [1, 2]}, ["a list holding int values"]),
        ({"calibrate": str(STSB.parent)}, ["a folder, not a file", "a list of texts"]),
        ({"calibrate": STSB.parent}, ["a folder, not a file"]),
        ({"calibrate": [*SAMPLE, "a lone \ud800 surrogate"]}, ["text 240", "lone surrogate"]),
        ({"calibrate": SAMPLE, "backend": "torch"}, ["'onnx', 'openvino'"]),
        ({"calibrate": SAMPLE, "backend": "ctranslate2"}, ["'onnx', 'openvino'", "per row"]),
        ({"calibrate": SAMPLE, "precision": "fp32"}, ["precision='fp32'", "'int8'"]),
        ({"calibrate": SAMPLE, "gate": (1.5, 0.9)}, ["gate=(1.5, 0.9)", "(0, 1]"]),
        ({"calibrate": SAMPLE, "gate": "high"}, ["gate='high'"]),
        ({"gate": (0.99, 0.97)}, ["comes with calibrate="]),
    ],
)
def test_bad_calibration_is_one_clear_error_before_anything_loads(kwargs, words, monkeypatch):
    import bertex.loader

    monkeypatch.setattr(bertex.loader, "load_torch_model", None)  # nothing may load
    args = {"backend": "onnx", "precision": "int8", **kwargs}
    with pytest.raises(OptionError) as e:
        bertex.load(MODEL, **args)
    assert "\n" not in str(e.value)
    for word in words:
        assert word in str(e.value)


@pytest.mark.slow
def test_cli_calibrates_on_a_sample_of_the_jobs_input_and_prints_the_gate(tmp_path, capsys):
    src = tmp_path / "corpus.txt"
    src.write_text("\n".join(TEXTS[400:500]) + "\n")
    out = tmp_path / "out.parquet"
    argv = ["embed", "--input", str(src), "--out", str(out), "-q", "--backend", "onnx"]
    assert main([*argv, "--precision", "int8", "--calibrate", "64"]) == 0
    err = capsys.readouterr().err
    lines = err.splitlines()
    line = next(i for i, x in enumerate(lines) if "calibrated int8" in x)
    assert lines[line].startswith("note: calibrated int8 (onnxruntime, 48 texts): gate on 16 held")
    assert "cosine to fp32 mean" in lines[line] and lines[line].endswith("running int8")
    assert lines[line + 1].startswith("note: the int8 model was quantized and cached")
    meta = bertex.read(out).meta
    assert meta["precision"] == "int8" and meta["quantization"]["passed"]
    assert meta["quantization"]["calibration_texts"] == 48
    # a file of texts, with the gate set so that it fails: a warning line, fp32 written
    calibration = tmp_path / "calibration.txt"
    calibration.write_text("\n".join(SAMPLE) + "\n")
    argv += ["--precision", "int8", "--calibrate", str(calibration), "--gate", "0.99999,0.9"]
    assert main([*argv, "--overwrite"]) == 0
    err = capsys.readouterr().err.splitlines()
    line = next(i for i, x in enumerate(err) if "calibrated int8" in x)
    assert sum("calibrated int8" in x for x in err) == 1  # no second copy as a warning
    assert err[line].startswith("warning: calibrated int8 (onnxruntime, 180 texts)")
    assert err[line].endswith("the mean is below the gate; running fp32 instead")
    assert err[line + 1].startswith("note: the int8 model was")
    meta = bertex.read(out).meta
    assert meta["precision"] == "fp32" and not meta["quantization"]["passed"]


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--backend", "onnx", "--precision", "int8", "--calibrate", "5"], ["N >= 32"]),
        (["--backend", "onnx", "--precision", "int8", "--calibrate", "nope.txt"], ["no such"]),
        (
            ["--backend", "onnx", "--precision", "int8", "--calibrate", str(STSB.parent)],
            ["a folder, not a file"],
        ),
        (["--backend", "onnx", "--precision", "int8", "--calibrate", "²"], ["--calibrate='²'"]),
        (["--backend", "torch", "--precision", "int8", "--calibrate", "40"], ["'openvino'"]),
        (["--backend", "onnx", "--calibrate", "40"], ["precision='fp32'", "'int8'"]),
        (["--backend", "onnx", "--gate", "0.99,0.97"], ["--gate", "with --calibrate N|FILE"]),
        (
            ["--backend", "onnx", "--precision", "int8", "--calibrate", "40", "--gate", "2,1"],
            ["gate"],
        ),
        (  # an empty --gate was the default gate, silently
            ["--backend", "onnx", "--precision", "int8", "--calibrate", "40", "--gate", ""],
            ["--gate=''", "MEAN,MIN"],
        ),
        (
            ["--backend", "onnx", "--precision", "int8", "--calibrate", "40"],
            ["the input holds 3 distinct"],
        ),
    ],
)
def test_cli_bad_calibration_exits_2_with_one_line(argv, words, capsys):
    assert main(["embed", "one text", "another", "a third", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bertex: error: ")
    for word in words:
        assert word in err[0]


def test_cli_cannot_sample_stdin_before_the_job(tmp_path, capsys, monkeypatch):
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"a\nb\n")))
    argv = ["embed", "--input", "-", "--out", str(tmp_path / "o.parquet"), "--backend", "onnx"]
    assert main([*argv, "--precision", "int8", "--calibrate", "40"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "stdin is read once" in err[0] and "a file of texts" in err[0]


def test_a_calibration_file_without_texts_names_the_problem(tmp_path):
    path = tmp_path / "calibration.jsonl"
    path.write_text('{"body": "a text under another field"}\n' * 40)
    with pytest.raises(OptionError, match=r"calibrate=.*no text: .*text"):
        bertex.load(MODEL, backend="onnx", precision="int8", calibrate=path)


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["cut short", "removed"])
def test_a_broken_cached_int8_model_is_rebuilt_with_a_warning(model_cache, damage):
    """The gate runs the int8 model's first forward (where its cache is read): a cut-short
    cached graph is rebuilt and said so, not trusted and not hushed with the gate's warnings."""
    bertex.load(MODEL, backend="onnx", precision="int8", calibrate=SAMPLE)  # cached
    graphs = list((model_cache / "int8-static").rglob("model.int8.onnx"))
    assert graphs
    for graph in graphs:
        if damage == "removed":  # its folder (seal, calibration.json) left behind
            graph.unlink()
            continue
        with graph.open("r+b") as f:
            f.truncate(graph.stat().st_size // 2)
    before = static_int8.BUILT["count"]
    with pytest.warns(bertex.BertexWarning, match=r"cached int8 model .*: .*; rebuilding it"):
        model = bertex.load(MODEL, backend="onnx", precision="int8", calibrate=SAMPLE)
    assert static_int8.BUILT["count"] == before + 1
    assert model.backend.quantization["cache"] == "built" and model.backend.precision == "int8"


def test_a_calibration_file_of_unknown_format_names_the_calibration_suffixes(tmp_path, capsys):
    """The advice is about --calibrate's file, not --input's (--input-format does not apply)."""
    path = tmp_path / "calibration.dat"
    path.write_text("\n".join(SAMPLE) + "\n")
    with pytest.raises(OptionError) as e:
        bertex.load(MODEL, backend="onnx", precision="int8", calibrate=path)
    assert "calibrate=" in str(e.value) and ".jsonl" in str(e.value)
    argv = ["embed", "a", "--backend", "onnx", "--precision", "int8", "--calibrate", str(path)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "calibrate=" in err[0] and "--input-format" not in err[0], err


@pytest.mark.slow
def test_two_processes_quantizing_the_same_graph_both_end_with_the_cached_one(monkeypatch):
    """Another process renames its copy into place between this one's check and its rename:
    this one keeps theirs (same key: same graph), with no error."""
    import os
    import shutil

    real, raced = os.replace, []

    def replace(src, dst):
        if Path(src).name.startswith(".build-") and not Path(dst).exists():
            shutil.copytree(src, dst)  # the other process won
            raced.append(dst)
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    calibration = [t + " (raced)" for t in SAMPLE[:48]]  # a graph no other test has cached
    model = bertex.load(MODEL, backend="onnx", precision="int8", calibrate=calibration)
    assert raced and model.backend.precision == "int8"
    monkeypatch.undo()
    again = bertex.load(MODEL, backend="onnx", precision="int8", calibrate=calibration)
    assert again.backend.quantization["cache"] == "reused"
    a, b = (m.embed(UNSEEN[:8]).vectors for m in (model, again))
    assert np.abs(a - b).max() <= 1e-6


@pytest.mark.parametrize(
    ("gate", "reason", "shown"),
    [
        ((0.99999, 0.9999), "the mean and the min are below the gate", ("< 0.99999", "< 0.9999")),
        ((0.99999, 0.9), "the mean is below the gate", ("< 0.99999", ">= 0.9")),
        ((0.99, 0.9999), "the min is below the gate", (">= 0.99", "< 0.9999")),
    ],
)
def test_a_failed_gate_names_every_bound_it_missed(gate, reason, shown):
    """`--gate 0.99999,0.9999` said only "the mean is below the gate", and its line printed
    "min 0.9903 (>= 0.9999)" for a bound the minimum missed."""
    from bertex.calibrate import Quantization, _below

    cos = np.array([0.995, 0.9903, 0.994])
    assert _below(cos, gate) == reason
    q = Quantization(
        method="static int8",
        engine="onnxruntime",
        passed=False,
        precision="fp32",
        calibration_texts=29,
        held_out_texts=3,
        sample_sha256="0" * 64,
        gate_mean=gate[0],
        gate_min=gate[1],
        cosine_mean=round(float(cos.mean()), 6),
        cosine_min=round(float(cos.min()), 6),
        reason=reason,
    )
    line = q.line()
    assert f"mean 0.9931 ({shown[0]}), min 0.9903 ({shown[1]})" in line
    assert line.endswith(f"{reason}; running fp32 instead")
    passed = Quantization(**{**q.to_dict(), "passed": True, "precision": "int8", "reason": None})
    assert "(>= " in passed.line() and "(< " not in passed.line()


def test_cli_calibrate_on_too_few_texts_says_so_in_the_flags_words(tmp_path, capsys):
    """`bertex embed hi --backend onnx --precision int8 --calibrate 40` said
    "calibrate='1 usable texts' is not valid", in bertex.load's words."""
    argv = ["embed", "one text", "another", "--backend", "onnx", "--precision", "int8"]
    assert main([*argv, "--calibrate", "40"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bertex: error: --calibrate='40' is not valid")
    assert "the input holds 2 distinct non-empty texts" in err[0] and " calibrate=" not in err[0]
    few = tmp_path / "few.txt"
    few.write_text("a\nb\na\n\n")
    assert main([*argv, "--calibrate", str(few)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"the file {few} holds 2 distinct non-empty texts" in err[0]
