"""Int8 corpus jobs and their caches under stress (issue 29's follow-up), on the tiny BERT: a
resume on another CPU, after a quantizer upgrade or with another calibration sample is refused
before anything is quantized; the precision warning is said once; a build killed by SIGKILL
leaves no folder behind (and a live one is never removed); two processes converting one model
to CTranslate2 at once both end with the cached model."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import bertex
from bertex import cache
from bertex.backends import precision, static_int8
from bertex.cli.main import main
from bertex.errors import PrecisionWarning
from conftest import lose_rename_race

VNNI = {"avx512_vnni", "avx_vnni", "amx_int8"}
WORDS = "the man a woman child dog cat is riding playing with on in hard hat horse guitar"


def sentences(n: int, tag: str) -> list[str]:
    """n distinct short sentences, each word in the tiny BERT's vocabulary."""
    w = WORDS.split()  # 17 words
    return [f"{tag} {w[i % 17]} {w[(i * 7) % 17]} {w[(i * 5 + 3) % 17]} {i}" for i in range(n)]


@pytest.fixture(scope="module", autouse=True)
def model_cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("int8-cache")
    with pytest.MonkeyPatch.context() as env:  # a cache of this module's own (the fp32 export)
        env.setenv("BERTEX_CACHE", str(path))
        yield path


@pytest.fixture
def quantized(monkeypatch) -> list[tuple]:
    """The static quantizations run while the test runs (onnxruntime's quantize_static)."""
    calls: list[tuple] = []
    real = static_int8.StaticOnnxBackend._quantize

    def counted(self, *args):
        calls.append(args)
        return real(self, *args)

    monkeypatch.setattr(static_int8.StaticOnnxBackend, "_quantize", counted)
    return calls


def stopped_job(bert_dir: Path, tmp_path: Path, *extra: str) -> list[str]:
    """A corpus job stopped by a bad row (row 150) after committing 3 shards of 50: what a
    resume starts from. Returns its command without --on-error, for the resume."""
    src = tmp_path / "in.txt"
    lines = sentences(200, "row")
    lines[150] = ""
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.parquet"
    argv = ["embed", "--model", str(bert_dir), "--input", str(src), "--out", str(out), "-q"]
    argv += ["--shard-rows", "50", "--backend", "onnx", "--precision", "int8", *extra]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main([*argv, "--on-error", "fail"]) == 2
    manifest = out.with_name(out.name + ".parts") / "manifest.json"
    assert len(json.loads(manifest.read_text())["shards"]) == 3
    return argv


def calibration_file(tmp_path: Path, tag: str) -> str:
    path = tmp_path / f"{tag}.txt"
    path.write_text("\n".join(sentences(40, tag)) + "\n")
    return str(path)


@pytest.mark.parametrize("change", ["cpu", "onnxruntime"])
@pytest.mark.parametrize("kind", ["calibrated", "dynamic"])
def test_a_resume_on_another_cpu_or_quantizer_is_refused_naming_it(
    bert_dir, tmp_path, capsys, quantized, kind, change
):
    calibrate = []
    if kind == "calibrated":
        calibrate = ["--calibrate", calibration_file(tmp_path, "sample")]
    argv = stopped_job(bert_dir, tmp_path, *calibrate)
    capsys.readouterr()
    before = len(quantized)
    with pytest.MonkeyPatch.context() as elsewhere:
        if change == "cpu":  # VNNI where this CPU has none, none where it has it
            have = precision.cpu_flags()
            other = have - VNNI if have & VNNI else have | {"avx512_vnni"}
            elsewhere.setattr(precision, "cpu_flags", lambda: frozenset(other))
            named = "quantizer.cpu_int8: "
        else:
            import onnxruntime

            named = f"quantizer.onnxruntime: '{onnxruntime.__version__}' -> '0.0.0-other'"
            elsewhere.setattr(onnxruntime, "__version__", "0.0.0-other")
        assert main([*argv, "--on-error", "skip"]) == 2
    err = capsys.readouterr().err
    assert named in err and "refusing to mix vectors" in err and "CPU's int8" in err, err
    assert len(quantized) == before  # refused before quantizing
    # on the CPU and with the install that started it, the resume goes on
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main([*argv, "--on-error", "skip"]) == 0
    stored = bertex.read(Path(argv[argv.index("--out") + 1]))
    assert len(stored) == 199
    recorded = stored.meta["job"]["quantizer"]
    assert recorded["method"] == ("static" if calibrate else "dynamic")
    assert recorded["cpu_int8"] == precision.int8_flags() and "onnxruntime" in recorded


def test_openvino_int8_identity_names_nncf_openvino_and_its_other_ops_precision(monkeypatch):
    """OpenVINO's int8 IR runs the ops NNCF left out of int8 in bf16 where the CPU has it:
    that decides the vectors too, so a job's fingerprint holds it."""
    pytest.importorskip("nncf")
    for native, ops in ((True, "bf16"), (False, "f32")):
        monkeypatch.setattr(precision, "native_bf16", lambda native=native: native)
        got = static_int8.int8_identity("openvino", calibrated=True)
        assert got["method"] == "static" and got["other_ops"] == ops
        assert {"nncf", "openvino", "scheme", "cpu_int8"} <= set(got)


def test_a_resume_with_another_calibration_is_refused_before_quantizing(
    bert_dir, tmp_path, capsys, quantized
):
    first = calibration_file(tmp_path, "first")
    argv = stopped_job(bert_dir, tmp_path, "--calibrate", first)
    assert len(quantized) == 1  # the first run quantized on its sample
    capsys.readouterr()
    built = static_int8.BUILT["count"]
    other = calibration_file(tmp_path, "other")
    assert main([*argv, "--on-error", "skip", "--calibrate", other]) == 2
    err = capsys.readouterr().err
    assert "calibration: '" in err and "refusing to mix vectors" in err, err
    assert len(quantized) == 1 and static_int8.BUILT["count"] == built  # nothing quantized
    assert "calibrated int8" not in err  # no gate ran: the model did not even load
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main([*argv, "--on-error", "skip", "--calibrate", first]) == 0
    assert len(quantized) == 1  # the same sample: its graph from the cache
    assert len(bertex.read(Path(argv[argv.index("--out") + 1]))) == 199


def test_a_dynamic_int8_corpus_job_says_its_precision_warning_once(bert_dir, tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(sentences(20, "row")) + "\n")
    out = tmp_path / "out.parquet"
    argv = ["embed", "--model", str(bert_dir), "--input", str(src), "--out", str(out), "-q"]
    assert main([*argv, "--backend", "onnx", "--precision", "int8"]) == 0
    err = capsys.readouterr().err
    assert err.count("activations are quantized per batch") == 1, err
    assert bertex.read(out).meta["precision"] == "int8"


# -- build folders of killed builds ---------------------------------------------------------

CHILD = r"""
import sys, time
import bertex
from bertex.backends import static_int8

def stall(self, src, dst, reduce_range):
    dst.write_bytes(b"\0" * (1 << 20))  # a first part of the int8 graph
    sys.__stdout__.write("quantizing\n")  # (the quantizer's stdout goes to stderr)
    sys.__stdout__.flush()
    time.sleep(600)

static_int8.StaticOnnxBackend._quantize = stall
texts = [f"{sys.argv[2]} sentence {i} about a dog and a cat" for i in range(40)]
bertex.load(sys.argv[1], backend="onnx", precision="int8", calibrate=texts)
"""


def quantizing_child(bert_dir: Path, tag: str) -> subprocess.Popen:
    """A process stopped in the middle of a quantization, its build folder half written."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(Path(bertex.__file__).parents[1]),  # this bertex
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(bert_dir), tag],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    ready, _, _ = select.select([proc.stdout], [], [], 240)
    line = proc.stdout.readline() if ready else ""
    if line.strip() != "quantizing":
        proc.kill()
        proc.wait()
        proc.stdout.close()
        pytest.fail(f"the child did not start quantizing (exit {proc.poll()})")
    return proc


def test_a_build_folder_left_by_sigkill_is_removed_but_never_a_live_one(
    bert_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv("BERTEX_CACHE", str(tmp_path))
    root = tmp_path / "int8-static"
    live = None
    dead = quantizing_child(bert_dir, "dead")
    try:
        dead.kill()  # SIGKILL: no clean-up runs
        dead.wait()
        left = list(root.glob(".build-*"))
        assert len(left) == 1 and (left[0] / "model.int8.onnx").stat().st_size == 1 << 20
        live = quantizing_child(bert_dir, "live")
        assert not left[0].exists()  # the next build (the live child's) removed it
        (running,) = root.glob(".build-*")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tiny model's gate may pass or not
            model = bertex.load(
                bert_dir, backend="onnx", precision="int8", calibrate=sentences(40, "here")
            )
        assert model.backend.quantization["cache"] == "built"  # a build here: it swept
        assert (running / "model.int8.onnx").exists()  # its owner lives: kept, untouched
        live.kill()
        live.wait()
        assert cache.sweep(root) == [running]  # its owner is dead now
        assert not list(root.glob(".build-*"))
    finally:
        for proc in (dead, live):
            if proc is not None:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                proc.stdout.close()


def test_sweep_keeps_a_young_folder_without_owner_and_removes_an_old_one(tmp_path):
    """Folders of a bertex that recorded no owner: removed once untouched for a day."""
    old, young = tmp_path / ".build-old", tmp_path / ".build-young"
    for folder in (old, young):
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "model.onnx").write_bytes(b"x")
    stamp = time.time() - cache.ORPHAN_AGE_S - 60
    for p in (old / "sub" / "model.onnx", old / "sub", old):
        os.utime(p, (stamp, stamp))
    with cache.building(tmp_path) as mine:
        assert not old.exists() and young.exists()
        assert (mine / cache.OWNER).read_text().split()[0] == str(os.getpid())
        assert cache.sweep(tmp_path) == []  # this build's own folder: locked, kept
    assert not mine.exists() and young.exists()
    os.utime(young / "sub" / "model.onnx", (stamp, stamp))  # its folders changed lately: kept
    assert cache.sweep(tmp_path) == []


# -- CTranslate2's conversion cache ---------------------------------------------------------


def test_two_processes_converting_to_ctranslate2_both_end_with_the_cached_one(
    bert_dir, tmp_path, monkeypatch
):
    """The other process renames its converted model into place between this one's check and
    its rename: this one keeps theirs (same key: same model), with no error."""
    pytest.importorskip("ctranslate2")
    monkeypatch.setenv("BERTEX_CACHE", str(tmp_path))
    real = os.replace
    raced = lose_rename_race(monkeypatch, "ctranslate2")
    model = bertex.load(bert_dir, backend="ctranslate2")
    assert raced
    monkeypatch.setattr(os, "replace", real)
    folder = tmp_path / "ctranslate2"
    assert sorted(folder.iterdir()) == raced  # theirs, and no build folder left behind
    with warnings.catch_warnings():
        warnings.simplefilter("error", bertex.BertexWarning)  # intact: no rebuild
        again = bertex.load(bert_dir, backend="ctranslate2")
    texts = sentences(8, "text")
    a, b = (m.embed(texts).vectors for m in (model, again))
    assert np.abs(a - b).max() <= 1e-6


# -- dynamic int8 beside a cached fp32 graph --------------------------------------------------

QUANTIZER = r"""
import sys, time
from pathlib import Path
import numpy as np
import bertex
from bertex.backends import onnx_backend

here, tag, other = Path(sys.argv[2]), sys.argv[3], sys.argv[4]
real = onnx_backend.quantize

def meet(src, dst):
    real(src, dst)
    (here / f"quantized-{tag}").touch()  # wait (a while) for the other writer to get here too
    deadline = time.monotonic() + 5
    while not (here / f"quantized-{other}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)

onnx_backend.quantize = meet
while not (here / "go").exists():  # both start at once
    time.sleep(0.02)
model = bertex.load(sys.argv[1], backend="onnx", precision="int8")
np.save(here / f"{tag}.npy", model.embed([f"text {i} about a dog" for i in range(6)]).vectors)
"""


def test_two_processes_quantizing_one_cached_fp32_graph_both_load_it(
    bert_dir, tmp_path, monkeypatch
):
    """Two processes load dynamic int8 of one model whose fp32 graph is cached, at once, both
    reaching the end of their quantization together: before, they wrote one fixed temp file
    and the second rename failed. Now one quantizes in its own build folder while the other
    waits for its sealed graph; both get the same vectors, and nothing is left beside it."""
    monkeypatch.setenv("BERTEX_CACHE", str(tmp_path / "cache"))
    bertex.load(bert_dir, backend="onnx").embed(["a dog"])  # the fp32 graph, cached
    (folder,) = (tmp_path / "cache" / "onnx").iterdir()
    assert not (folder / "model.int8.onnx").exists()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(Path(bertex.__file__).parents[1]),  # this bertex
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", QUANTIZER, str(bert_dir), str(tmp_path), me, other],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for me, other in (("a", "b"), ("b", "a"))
    ]
    (tmp_path / "go").touch()
    try:
        errs = [p.communicate(timeout=300)[1] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0, 0], "\n".join(e[-2000:] for e in errs)
    a, b = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    np.testing.assert_array_equal(a, b)
    assert sorted(p.name for p in folder.iterdir()) == [
        "export.json",
        "model.fp32.onnx",
        "model.int8.onnx",
        "sha256.json",
    ]
    assert cache.intact(folder, "model.int8.onnx")


def test_a_killed_int8_writer_leaves_nothing_a_later_load_reads(bert_dir, tmp_path, monkeypatch):
    """A writer killed half-way through quantizing beside the cached fp32 graph: its partial
    file is never opened, a later load quantizes again and removes the build folder it left
    (an older bertex's fixed temp name is never read either)."""
    from bertex.backends import onnx_backend

    monkeypatch.setenv("BERTEX_CACHE", str(tmp_path))
    bertex.load(bert_dir, backend="onnx").embed(["a dog"])
    (folder,) = (tmp_path / "onnx").iterdir()
    texts = sentences(6, "text")
    # what a writer killed by SIGKILL leaves: a half-written graph under its temp name, from
    # this bertex (a build folder whose owner is dead) and from an older one (a fixed name)
    half = b"\0" * (1 << 16)
    (folder / ".model.int8.onnx.tmp").write_bytes(half)
    dead = folder / ".build-dead"
    dead.mkdir()
    (dead / cache.OWNER).write_text("999999999 " + socket.gethostname() + "\n")
    (dead / "model.int8.onnx").write_bytes(half)
    calls = []
    real = onnx_backend.quantize
    monkeypatch.setattr(onnx_backend, "quantize", lambda s, d: (calls.append(d), real(s, d)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrecisionWarning)
        warnings.filterwarnings("error", "cached ", bertex.BertexWarning)  # nothing rebuilt
        got = bertex.load(bert_dir, backend="onnx", precision="int8").embed(texts).vectors
    assert len(calls) == 1 and calls[0].parent.parent == folder  # its own build folder
    assert not dead.exists() and not calls[0].parent.exists()
    assert cache.intact(folder, "model.int8.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrecisionWarning)
        again = bertex.load(bert_dir, backend="onnx", precision="int8").embed(texts).vectors
    assert len(calls) == 1  # its sealed graph, opened
    np.testing.assert_array_equal(got, again)
