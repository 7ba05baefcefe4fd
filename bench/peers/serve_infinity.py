"""infinity-emb, the serving peer of `bertex serve` (bench/load_test.py starts it).

It runs in its own environment (envs.py), offline, on the same model folder as bertex, with
its v2 CLI on 127.0.0.1. Two engines, each a row of the load test:
- `torch`: sentence-transformers on the model folder as it is (fp32 on a CPU);
- `optimum`: ONNX Runtime on an ONNX export of that folder, which infinity graph-optimizes
  (ORTOptimizer, level 99) on first start and caches beside the export. Its model card
  recommends `device="cpu", engine="optimum"` for CPU inference.

Pins: infinity-emb 0.0.78 passes ONNX Runtime an absolute `file_name`, which optimum 2.x
(optimum-onnx) refuses ("Could not find any ONNX files with target file name ..."), so the
environment holds optimum 1.27.0, the last 1.x; its onnxruntime extra caps transformers
below 4.54. torch is the local CPU 2.13.0 wheel (constraints.txt).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from envs import python

ENV = "infinity"
REQUIREMENTS = ["infinity-emb[server,torch,optimum]==0.0.78", "optimum[onnxruntime]==1.27.0"]
ENGINES = ("torch", "optimum")
# infinity's default; on a CPU a larger batch only makes the first request of it wait longer
BATCH_SIZE = 32
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "INFINITY_ANONYMOUS_USAGE_STATS": "0",  # no usage reports (there is no network anyway)
    "DO_NOT_TRACK": "1",
}


def onnx_folder(model_folder: Path, cache: Path) -> Path:
    """An ONNX export of `model_folder` (with its tokenizer), made once under `cache`."""
    out = cache / "infinity-onnx" / model_folder.parent.name
    if (out / "model.onnx").exists():
        return out
    exe = python(ENV, REQUIREMENTS)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run(
        [
            str(exe.with_name("optimum-cli")),
            "export",
            "onnx",
            "--model",
            str(model_folder),
            "--task",
            "feature-extraction",
            str(tmp),
        ],  # fmt: skip
        check=True,
        env=environment(),
        stdout=subprocess.DEVNULL,
    )
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def command(engine: str, model_folder: Path, cache: Path, port: int, name: str) -> list[str]:
    """The v2 CLI for one engine: the model served under `name` at /v1/embeddings."""
    if engine not in ENGINES:
        raise ValueError(f"infinity engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    exe = python(ENV, REQUIREMENTS)
    folder = onnx_folder(model_folder, cache) if engine == "optimum" else model_folder
    return [
        str(exe.with_name("infinity_emb")), "v2",
        "--model-id", str(folder),
        "--served-model-name", name,
        "--engine", engine,
        "--device", "cpu",
        "--batch-size", str(BATCH_SIZE),
        "--pooling-method", "mean",  # all-MiniLM-L6-v2's pooling, as bertex's
        "--host", "127.0.0.1",
        "--port", str(port),
        "--url-prefix", "/v1",  # the same path as bertex's, so one client serves both
        "--log-level", "warning",
    ]  # fmt: skip


def environment() -> dict[str, str]:
    """The server's (and the exporter's) variables: offline, and none of bertex's paths."""
    return {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, **OFFLINE}
