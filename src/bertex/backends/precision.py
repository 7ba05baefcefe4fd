"""Which precisions this CPU runs natively, read once from the kernel's CPU flags."""

from __future__ import annotations

import functools
import os
import warnings

from ..errors import OptionError, PrecisionWarning

BACKENDS = ("torch", "onnx")
PRECISIONS = ("fp32", "bf16", "int8")


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


def choose(backend: str, precision: str) -> str:
    """Check a backend/precision pair; returns the precision that will really run."""
    if backend not in BACKENDS:
        raise OptionError("backend", backend, BACKENDS)
    if precision not in PRECISIONS:
        raise OptionError("precision", precision, PRECISIONS)
    if precision == "int8" and backend != "onnx":
        raise OptionError(
            "precision",
            precision,
            ["fp32", "bf16"],
            "int8 is ONNX Runtime's dynamic quantization: pass backend='onnx'",
        )
    if precision == "bf16" and backend != "torch":
        raise OptionError(
            "precision", precision, ["fp32", "int8"], "bf16 runs on backend='torch' (autocast)"
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
