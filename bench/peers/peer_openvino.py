"""The OpenVINO peer (see registry.Peer): OpenVINO 2026.4 on the model's ONNX export
(onnx_export.py), in f32, in bf16 where the CPU has bf16 instructions, and int8 through NNCF
post-training quantization (calibrated on texts that are not the benchmark corpus)."""

from __future__ import annotations

import hashlib
import json
import random
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


def calibration_texts(vocab: Path) -> list[str]:
    """Half sentences of the benchmark's generator drawn with another seed, half of whole
    words drawn from the model's vocabulary (the generator's 40 words alone leave most of the
    embedding table, and the activation ranges of real text, unseen)."""
    from speed import corpus  # bench/ is on sys.path when speed.py runs

    rng = random.Random(CALIBRATION_SEED)
    words = [w for w in vocab.read_text().split() if w.isalpha()]  # no "##" pieces, no [CLS]
    drawn = [
        " ".join(rng.choices(words, k=min(120, max(4, int(rng.lognormvariate(2.6, 0.7))))))
        for _ in range(CALIBRATION // 2)
    ]
    return corpus(CALIBRATION - len(drawn), seed=CALIBRATION_SEED) + drawn


def quantized(model_folder: Path, cache: Path) -> Path:
    """The NNCF int8 IR of the model's export (made once, in the openvino environment)."""
    onnx = export(model_folder, cache)
    calibration = json.dumps(calibration_texts(onnx / "vocab.txt"))
    key = hashlib.sha256(calibration.encode()).hexdigest()[:8]
    out = cache / f"openvino-int8-{onnx.name.removeprefix('onnx-')}-{key}"
    if (out / "model.xml").exists():
        return out
    tmp = Path(tempfile.mkdtemp(prefix=".ov-int8-", dir=cache))
    texts = tmp / "calibration.json"
    texts.write_text(calibration)
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
    *([_peer("bf16", False, export), _peer("int8+bf16", False, quantized)] if has_bf16() else []),
]
