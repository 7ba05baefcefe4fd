"""The OpenVINO backend: the ONNX backend's export, checked against torch and cached (the same
graph file, the same key), compiled for the CPU by OpenVINO in fp32 or bf16.

OpenVINO's ONNX frontend reads the fused graph (onnxruntime's com.microsoft Attention,
EmbedLayerNormalization and SkipLayerNormalization ops) as it is, so the graph onnxruntime runs
is the graph OpenVINO compiles. OpenVINO infers in bf16 by default on CPUs with avx512_bf16 or
AMX: fp32 is asked for explicitly, so fp32 here is fp32.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..errors import ExtraMissingError
from . import precision as precision_of
from .onnx_backend import OnnxBackend

# bertex precision -> INFERENCE_PRECISION_HINT; int8 is static_int8.py's NNCF IR (its
# quantized ops run in int8, the others in bf16 where the CPU has native bf16, else f32)
HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}


def hint(precision: str) -> str:
    """OpenVINO's inference precision for a bertex precision. int8's other ops (softmax,
    LayerNorm, GELU, the residual adds) in bf16 where the CPU has it natively: measured 1.07x
    the int8 throughput with f32 there, at the same cosine to fp32 (0.9922 mean / 0.981 min on
    the generated corpus; BENCHMARKS.md). The quality gate runs on this compiled model."""
    if precision == "int8" and precision_of.native_bf16():
        return "bf16"
    return HINTS[precision]


class OpenVinoBackend(OnnxBackend):
    """Runs OnnxBackend.forward on OpenVINO infer requests in place of onnxruntime sessions.

    One compiled model per set of outputs, with one stream per bertex worker and the cores of
    the worker plan (threads.plan: workers x threads); one infer request per worker thread.

    Why two batches at once are safe here (issue 32): two infer requests that took a new input
    shape at the same moment could deadlock (seen on a 2-core Intel machine with one busy
    core: both forward threads parked in OpenVINO's input update, at 0% CPU, for good). So the
    requests of one compiled model share a lock (_Shapes): a request sets its input tensors
    and starts its run under it, so no two requests ever change shape or start at once; and
    the first run of a shape the compiled model has never run (its shape inference, memory
    plan and kernel choice) finishes under the lock too. After its start a run of a known
    shape computes beside the other request's, so the two streams stay busy: measured 1.03x
    (fp32) and 1.04x (bf16) the old throughput on shapes run before, 0.96x and 0.90x on a
    first pass over new shapes, where a lock over every run whose shape changed measured
    0.6-0.8x (BENCHMARKS.md "OpenVINO concurrency"). The runner's bound
    (backends/bounded.py) still stops any wait that outlives it.

    On 2 cores each stream has one thread, so a first run at a new shape (a corpus's first
    pass is mostly those) leaves a core idle. One stream on both cores was tried and measured
    (BENCHMARKS.md "OpenVINO on 2 cores: one stream or two"): quiet, its first pass was
    1.12-1.42x and its warm passes 0.94-1.04x; with one core busy with other work, 0.62-0.72x
    warm. Two streams of one thread each stay: one stream stalls at every op's barrier when
    the OS takes one of its threads' cores.
    """

    name = "openvino"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """OnnxBackend's arguments; precision ("fp32" or "bf16") is OpenVINO's inference
        precision: the graph is always the fp32 export."""
        try:
            import openvino  # noqa: F401
        except ImportError:
            raise ExtraMissingError("openvino", "openvino", "backend='openvino'") from None
        super().__init__(*args, **kwargs)
        self.exported = "fp32"
        self._compiled: dict[tuple[str, bool], Any] = {}
        self._shapes: dict[tuple[str, bool], _Shapes] = {}  # per compiled model
        self._local = threading.local()

    def _session(self, layers: str, attentions: bool) -> _Request:
        key = (layers, attentions)
        with self._lock:  # workers share one compiled model per graph; one of them builds it
            if key not in self._compiled:
                self._compiled[key] = self._compile(self._graph(layers, attentions))
                self._shapes[key] = _Shapes()
        requests: dict[tuple[str, bool], _Request] = self._local.__dict__.setdefault("mine", {})
        if key not in requests:  # an infer request runs one batch at a time: one per thread
            requests[key] = _Request(self._compiled[key], self._shapes[key])
        return requests[key]

    def _graph(self, layers: str, attentions: bool) -> Path:
        """The checked, sealed fp32 graph of the ONNX backend, exported if not cached yet."""
        self._load_or_build(layers, attentions)  # exports, checks, seals; rebuilds a bad one
        return self.cache / self._key(layers, attentions) / "model.fp32.onnx"

    def _compile(self, path: Path) -> Any:
        import openvino as ov

        config = {
            "INFERENCE_PRECISION_HINT": hint(self.precision),
            "INFERENCE_NUM_THREADS": self.workers * self.threads,
            "NUM_STREAMS": self.workers,
        }
        return ov.Core().compile_model(str(path), "CPU", config)

    def inference_precision(self) -> str:
        """What OpenVINO really runs ("f32" or "bf16"), read back from a compiled model."""
        compiled = self._compiled.get(("last", False)) or next(iter(self._compiled.values()))
        return str(compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name())


class _Shapes:
    """What the infer requests of one compiled model share: the lock under which a request
    sets its inputs and starts a run, and the input shapes the model has run already."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: set[tuple[int, ...]] = set()


class _Request:
    """One OpenVINO infer request, read through the two calls of an onnxruntime session that
    OnnxBackend.forward uses: get_outputs() (.name) and run(None, feeds)."""

    def __init__(self, compiled: Any, shapes: _Shapes) -> None:
        self._request = compiled.create_infer_request()
        self._outputs = list(compiled.outputs)
        self._shapes = shapes

    def get_outputs(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(name=o.get_any_name()) for o in self._outputs]

    def run(self, _names: None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Set the inputs and start under the shared lock; a shape this compiled model never
        ran also finishes under it (see OpenVinoBackend). The feeds are shared, not copied:
        they outlive the run, which ends before this returns."""
        import openvino as ov

        tensors = {
            k: ov.Tensor(np.ascontiguousarray(v), shared_memory=True) for k, v in feeds.items()
        }
        shape = tuple(feeds["input_ids"].shape)  # (B, L): every input has it
        request, shapes = self._request, self._shapes
        with shapes.lock:
            for name, tensor in tensors.items():
                request.set_tensor(name, tensor)
            request.start_async()
            if shape not in shapes.seen:  # the model's first run at this shape: alone
                request.wait()
                shapes.seen.add(shape)
        request.wait()
        # copies: the request's output buffers are reused by its next run
        return [np.array(request.get_tensor(o).data) for o in self._outputs]
