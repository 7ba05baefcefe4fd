"""The OpenVINO peer (see registry.Peer): OpenVINO 2026.4 on the model's ONNX export
(onnx_export.py), in f32, in bf16 where the CPU has bf16 instructions, and int8 through NNCF
post-training quantization (calibrated on texts that are not the benchmark corpus)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from envs import python
from onnx_export import export
from registry import Peer

HERE = Path(__file__).resolve().parent
ENV = "openvino"
REQUIREMENTS = ("openvino==2026.4.1", "nncf==3.4.0", "tokenizers", "numpy")
CALIBRATION = 300  # texts
CALIBRATION_SEED = 20261126  # not the benchmark corpus's seed (0)


def has_bf16() -> bool:
    """Whether the CPU has bf16 arithmetic (AVX512-BF16 or AMX-BF16): without it OpenVINO
    emulates bf16, which is slower than f32 and says nothing about the engine."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def calibration_texts() -> list[str]:
    """Sentences of the benchmark's generator, drawn with another seed."""
    from speed import corpus  # bench/ is on sys.path when speed.py runs

    return corpus(CALIBRATION, seed=CALIBRATION_SEED)


def quantized(model_folder: Path, cache: Path) -> Path:
    """The NNCF int8 IR of the model's export (made once, in the openvino environment)."""
    onnx = export(model_folder, cache)
    out = cache / f"openvino-int8-{onnx.name.removeprefix('onnx-')}"
    if (out / "model.xml").exists():
        return out
    tmp = Path(tempfile.mkdtemp(prefix=".ov-int8-", dir=cache))
    texts = tmp / "calibration.json"
    texts.write_text(json.dumps(calibration_texts()))
    exe = python(ENV, list(REQUIREMENTS))
    subprocess.run([str(exe), str(HERE / "ov_quantize.py"), str(onnx), str(tmp), str(texts)],
                   check=True)  # fmt: skip
    texts.unlink()
    if out.exists():  # a half-made folder from an interrupted run
        shutil.rmtree(out)
    tmp.rename(out)
    return out


def _peer(variant: str, exact: bool, prepare) -> Peer:  # noqa: ANN001
    return Peer(
        path=f"openvino {variant}",
        env=ENV,
        requirements=REQUIREMENTS,
        script="run_openvino.py",
        variant=variant,
        exact=exact,
        prepare=prepare,
    )


PEERS: list = [
    _peer("fp32", True, export),
    _peer("int8", False, quantized),
    *([_peer("bf16", False, export)] if has_bf16() else []),
]
