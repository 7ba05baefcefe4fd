"""Which precisions this CPU runs natively, read once from the kernel's CPU flags."""

from __future__ import annotations

import functools
import os
import warnings

from ..config import BACKENDS, PRECISIONS
from ..errors import OptionError, PrecisionWarning

INT8_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})  # int8 dot products in one step


@functools.cache
def cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def native_bf16() -> bool:
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def int8_flags() -> list[str]:
    """This CPU's int8 dot-product instructions (VNNI, AMX), sorted; [] where it has none."""
    return sorted(INT8_FLAGS & cpu_flags())


def device_of(device: str) -> str:
    """ "cpu" | "cuda" | "cuda:N" | "auto" -> the torch device that will run, checked now."""
    name = str(device).strip().lower()
    valid = ["cpu", "cuda", "cuda:N", "auto"]
    if name == "cpu":
        return "cpu"  # torch not imported yet: a bad model folder is refused without it
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" or name.startswith("cuda:"):
        index = name.partition(":")[2]
        if index and not index.isdigit():
            raise OptionError("device", device, valid)
        if not torch.cuda.is_available():
            raise OptionError(
                "device", device, ["cpu", "auto"], "no CUDA device is visible to torch here"
            )
        count = torch.cuda.device_count()
        if index and int(index) >= count:
            raise OptionError("device", device, [f"cuda:{i}" for i in range(count)])
        return name
    raise OptionError("device", device, valid)


# what each backend runs on the CPU (openvino's int8 is static: it comes with calibrate=)
CPU_PRECISIONS = {
    "torch": ["fp32", "bf16"],
    "onnx": ["fp32", "int8"],
    "openvino": ["fp32", "bf16"],
    "ctranslate2": ["fp32", "int8"],
}


def choose(backend: str, precision: str, device: str = "cpu") -> str:
    """Check a backend/precision/device triple; returns the precision that will really run."""
    if backend not in BACKENDS:
        raise OptionError("backend", backend, BACKENDS)
    if precision not in PRECISIONS:
        raise OptionError("precision", precision, PRECISIONS)
    if device != "cpu":
        return _choose_gpu(backend, precision)
    if precision == "fp16":  # the precisions this backend has on the CPU, not every backend's
        raise OptionError(
            "precision", precision, CPU_PRECISIONS[backend], "fp16 autocast runs on CUDA devices"
        )
    if precision == "int8" and backend not in ("onnx", "ctranslate2"):
        raise OptionError(
            "precision",
            precision,
            ["fp32", "bf16"],
            "int8 is dynamic quantization: pass backend='onnx' or backend='ctranslate2'; "
            "static int8 calibrated on your texts: backend='openvino' or 'onnx' with "
            "calibrate= (on the command line: --calibrate N|FILE)",
        )
    if precision == "bf16" and backend not in ("torch", "openvino"):
        raise OptionError(
            "precision",
            precision,
            ["fp32", "int8"],
            "bf16 runs on backend='torch' (autocast) or backend='openvino'",
        )
    if precision == "bf16" and not native_bf16() and not os.environ.get("BERTEX_EMULATED_BF16"):
        warnings.warn(
            "precision='bf16': this CPU has no native bf16 (no avx512_bf16 or amx_bf16 flag), "
            "so bf16 would be emulated and slower than fp32; running fp32 instead. "
            "Try backend='onnx', precision='int8' for speed on this CPU",
            PrecisionWarning,
            stacklevel=3,
        )
        return "fp32"
    if precision == "int8" and backend == "ctranslate2":
        return precision  # activations quantized per row: a vector does not move with its batch
    if precision == "int8":
        warnings.warn(
            "precision='int8': activations are quantized per batch (one scale per tensor), so "
            "a vector moves slightly with its batch neighbours (measured on STS-B dev: cosine "
            "0.992 mean, 0.984 min to the same text embedded alone). Use fp32 where vectors "
            "must be reproducible across batches",
            PrecisionWarning,
            stacklevel=3,
        )
    return precision


def _choose_gpu(backend: str, precision: str) -> str:
    import torch

    if backend != "torch":
        raise OptionError(
            "backend", backend, ["torch"], f"backend={backend!r} runs on the CPU only here"
        )
    if precision == "int8":
        raise OptionError("precision", precision, ["fp32", "bf16", "fp16"], "int8 is CPU-only")
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise OptionError("precision", precision, ["fp32", "fp16"], "this GPU has no bf16")
    return precision
