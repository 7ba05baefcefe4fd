"""infinity-emb, the serving peer of `bertex serve` (bench/load_test.py starts it).

It runs in its own environment (envs.py), offline, on the same model folder as bertex, with
its v2 CLI on 127.0.0.1. Two engines, each a row of the load test:
- `torch`: sentence-transformers on the model folder as it is (fp32 on a CPU);
- `optimum`: ONNX Runtime (CPUExecutionProvider) on an ONNX export of that folder, which
  its model card recommends for CPUs (`device="cpu", engine="optimum"`). fp32, as bertex: no
  quantized file is offered.

Versions: infinity-emb[server,torch,optimum]==0.0.78 resolves, with torch held at the local CPU
2.13.0 wheel by constraints.txt, to transformers 4.57, sentence-transformers 3.4, optimum 2.1
with optimum-onnx 0.1, onnxruntime 1.32, numpy 1.26 (infinity pins numpy < 2): no conflict
with torch 2.13. One incompatibility: infinity 0.0.78 hands optimum the ONNX file's name as
found under --model-id, an absolute path for an absolute --model-id, and optimum 2.x wants it
relative to the folder ("Could not find any ONNX files with target file name ..."). So the
optimum engine is started in the export's folder with `--model-id .`. (optimum 1.27, the last
1.x, is no way out: its exporter, imported by its ONNX Runtime models, needs a private
torch.onnx symbol that torch 2.13 no longer has, and infinity's BetterTransformer import
refuses transformers >= 4.49.)

The export: `optimum-cli export onnx --library-name transformers` (the encoder's
last_hidden_state, which infinity pools; without the flag optimum exports the
sentence-transformers graph, which infinity cannot read), then `optimum-cli onnxruntime
optimize -O2` (ONNX Runtime's transformer fusions: attention, skip-layer-norm, bias-GELU;
exact GELU). infinity would do that optimization itself on first start (level 99, no GELU
approximation), but with optimum 2.x it fails ("OptimizationConfig.__init__() got an
unexpected keyword argument 'optimize_with_onnxruntime_only'") and serves the plain graph;
doing it in the export gives infinity the graph it means to serve.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from envs import python

ENV = "infinity"
REQUIREMENTS = ["infinity-emb[server,torch,optimum]==0.0.78"]
ENGINES = ("torch", "optimum")
OPTIMIZED = "model_optimized.onnx"  # optimum-cli's name; infinity takes the folder's one file
# infinity's default; on a CPU a larger batch only makes the first request of it wait longer
BATCH_SIZE = 32
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "INFINITY_ANONYMOUS_USAGE_STATS": "0",  # no usage reports (there is no network anyway)
    "DO_NOT_TRACK": "1",
}


def onnx_folder(model_folder: Path, cache: Path) -> Path:
    """An ONNX export of `model_folder`, graph-optimized as infinity means to (see the note),
    with its tokenizer: made once under `cache`."""
    out = cache / "infinity-onnx" / model_folder.parent.name
    if (out / OPTIMIZED).exists():
        return out
    cli = str(python(ENV, REQUIREMENTS).with_name("optimum-cli"))
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    for argv in (
        [cli, "export", "onnx", "--model", str(model_folder), "--task", "feature-extraction",
         "--library-name", "transformers", str(tmp / "export")],
        [cli, "onnxruntime", "optimize", "--onnx_model", str(tmp / "export"), "-O2",
         "-o", str(tmp / "optimized")],
    ):  # fmt: skip
        subprocess.run(argv, check=True, env=environment(), stdout=subprocess.DEVNULL)
    shutil.rmtree(out, ignore_errors=True)
    (tmp / "optimized").rename(out)
    shutil.rmtree(tmp)
    return out


def command(
    engine: str, model_folder: Path, cache: Path, port: int, name: str
) -> tuple[list[str], Path | None]:
    """The v2 CLI for one engine, serving `name` at /v1/embeddings, and its working folder."""
    if engine not in ENGINES:
        raise ValueError(f"infinity engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    exe = python(ENV, REQUIREMENTS)
    folder, cwd = model_folder, None
    if engine == "optimum":  # --model-id . in the export's folder (see the module's note)
        folder, cwd = Path("."), onnx_folder(model_folder, cache)
    argv = [
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
    return argv, cwd


def environment(cwd: Path | None = None) -> dict[str, str]:
    """The server's (and the exporter's) variables: offline, and none of bertex's paths.

    In the export's folder, the Hugging Face cache is kept there too: infinity caches its
    optimized graph under <HF cache>/infinity_onnx/<provider>/<model id>, and the model id
    is '.' for every export."""
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, **OFFLINE}
    if cwd is not None:
        env["HF_HUB_CACHE"] = str(cwd / ".hf-cache")
    return env
