"""Post-training static int8, calibrated on a sample of the user's texts: NNCF for the
OpenVINO backend, onnxruntime's quantize_static for the ONNX backend.

Static means the activation scales are fixed by calibration, not measured on each batch (as
dynamic int8 does), so a text's vector does not move with its batch neighbours. Both start
from the ONNX backend's checked, sealed fp32 export (the `exact` backend's graph), and the
quantized graph is cached on disk under a key of that graph's key (weights hash, outputs,
versions), the calibration sample's SHA-256, the quantizer and its version, and SCHEME:

    cache/int8-static/<key>/model.int8.onnx            (onnx)
    cache/int8-static/<key>/model.xml, model.bin       (openvino)

written in a temporary folder, sealed with its SHA-256 and renamed into place; a cached file
that fails its seal or fails to load is rebuilt with a warning, never trusted. Whether a
calibrated model is good enough is decided above this layer (calibrate.py's quality gate).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import cache
from .._version import __version__
from ..errors import ExtraMissingError
from . import Backend
from .onnx_backend import OnnxBackend
from .openvino_backend import OpenVinoBackend, hint
from .precision import int8_flags

SCHEME = 1  # bump when the quantization recipe changes: old cached models are not reused
BUILT = {"count": 0}  # quantizations run in this process (the tests check the cache with it)


@dataclass(frozen=True, eq=False)
class Calibration:
    """The tokenized calibration texts: one feed per text, no padding (a padded position's
    activations would widen the ranges for nothing), and the SHA-256 of the texts."""

    feeds: tuple[dict[str, np.ndarray], ...]  # each value (1, L) int64
    sha256: str

    def __len__(self) -> int:
        return len(self.feeds)


def calibration_of(
    hf_tokenizer: Any, texts: list[str], max_length: int, types: bool
) -> Calibration:
    """Texts -> one unpadded feed per text, truncated to the model's `max_length`."""
    feeds = []
    for text in texts:
        enc = hf_tokenizer(text, truncation=True, max_length=max_length)
        ids = np.asarray([enc["input_ids"]], dtype=np.int64)  # (1, L)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if types:
            feed["token_type_ids"] = np.zeros_like(ids)
        feeds.append(feed)
    h = hashlib.sha256()
    for text in texts:
        h.update(hashlib.sha256(text.encode("utf-8")).digest())
    h.update(str(max_length).encode())
    return Calibration(tuple(feeds), h.hexdigest())


class _Static(OnnxBackend):
    """What the two static int8 backends share: the exact fp32 backend whose export they
    quantize, the calibration set, the cache folder of each quantized graph."""

    def __init__(self, exact: OnnxBackend, calibration: Calibration) -> None:
        super().__init__(
            exact.torch_model,
            exact.sha,
            exact.accepts_token_types,
            exact.has_pooler,
            "int8",
            exact.cache,
        )
        self.exact, self.calibration = exact, calibration
        self.reused = False  # the last quantized graph came from the cache

    def release_exact(self) -> None:
        """Drop the exact backend's sessions (compiled models) once the gate no longer needs
        them; its export stays on disk, and is all a later graph is quantized from."""
        self.exact._sessions.clear()
        if isinstance(self.exact, OpenVinoBackend):
            self.exact._compiled.clear()

    def _source(self, layers: str, attentions: bool) -> Path:
        """The exact backend's checked, sealed fp32 graph (exported if not cached yet)."""
        exact = self.exact
        exact._load_or_build(layers, attentions)
        return exact.cache / exact._key(layers, attentions) / "model.fp32.onnx"

    def _folder(self, layers: str, attentions: bool, engine: dict[str, Any]) -> Path:
        doc = {
            "graph": self.exact._key(layers, attentions),
            "sample": self.calibration.sha256,
            "engine": engine,
            "scheme": SCHEME,
            "bertex": __version__,
        }
        key = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:24]
        root = self.exact.cache.parent / "int8-static"
        cache.check_private(root / key, root.parent)
        return root / key

    def _cached(self, folder: Path, names: tuple[str, ...], open_: Any) -> Any | None:
        """The cached quantized graph opened, or None (a broken one removed, with a warning)."""
        got = cache.reopen(folder, names, open_, "int8 model", "when it was quantized")
        self.reused = got is not None
        return got

    def _store(self, folder: Path, names: tuple[str, ...], quantize: Any) -> None:
        """quantize(tmp_folder) writes `names` there; sealed, then renamed into place."""
        with cache.building(folder.parent) as tmp:
            with _quiet():
                quantize(tmp)
            (tmp / "calibration.json").write_text(
                json.dumps({"texts": len(self.calibration), "sha256": self.calibration.sha256})
            )
            cache.seal(tmp, *names)
            BUILT["count"] += 1
            self.reused = False
            cache.place(tmp, folder)


class StaticOnnxBackend(_Static):
    """ONNX Runtime on a graph quantized by quantize_static: QDQ int8 on the MatMul weights
    (per output channel, symmetric) and their inputs (uint8, ranges from calibration)."""

    def _load_or_build(self, layers: str, attentions: bool) -> Any:
        engine = quantizer("onnx")
        reduce_range = engine["reduce_range"]
        folder = self._folder(layers, attentions, engine)
        names = ("model.int8.onnx",)
        session = self._cached(folder, names, self._open)
        if session is not None:
            return session
        src = self._source(layers, attentions)
        self._store(folder, names, lambda tmp: self._quantize(src, tmp / names[0], reduce_range))
        return self._open(folder / names[0])

    def _quantize(self, src: Path, dst: Path, reduce_range: bool) -> None:
        from onnxruntime.quantization import (
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )
        from onnxruntime.quantization.shape_inference import quant_pre_process

        with tempfile.TemporaryDirectory(prefix=".typed-", dir=dst.parent) as work:
            # subtle: the quantizer quantizes a MatMul's input only where it knows the input is
            # float, and ONNX's own shape inference types no output of the fused contrib ops
            # (Attention, SkipLayerNormalization, BiasGelu): without the symbolic shape
            # inference here, only the weights would be int8 (measured: as slow as fp32)
            typed = Path(work) / "typed.onnx"
            quant_pre_process(str(src), str(typed), skip_optimization=True, skip_onnx_shape=True)
            quantize_static(
                str(typed),
                str(dst),
                _Reader(self.calibration),
                nodes_to_exclude=_after_activation(typed),
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=["MatMul"],
                per_channel=True,
                reduce_range=reduce_range,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
                extra_options={"MatMulConstBOnly": True, "WeightSymmetric": True},
            )


def _after_activation(path: Path) -> list[str]:
    """The MatMuls whose input is a GELU's output (the feed-forward output projections): they
    stay fp32. That input's few huge channels take one per-tensor int8 scale too far: on
    all-MiniLM-L6-v2, cosine to fp32 0.945 mean / 0.904 min with them quantized, 0.994 /
    0.989 without (onnxruntime has no SmoothQuant of its own to tame them)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    made_by = {out: node.op_type for node in graph.node for out in node.output}
    gelu = ("BiasGelu", "FastGelu", "Gelu")
    return [n.name for n in graph.node if n.op_type == "MatMul" and made_by.get(n.input[0]) in gelu]


class _Reader:
    """onnxruntime's CalibrationDataReader over the calibration feeds (get_next, then None)."""

    def __init__(self, calibration: Calibration) -> None:
        self._feeds: Iterator[dict[str, np.ndarray]] = iter(calibration.feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


class StaticOpenVinoBackend(_Static, OpenVinoBackend):
    """OpenVINO on an IR quantized by NNCF (ModelType.TRANSFORMER: the attention softmax path
    and LayerNorms kept out of int8; fast bias correction; no SmoothQuant, see _quantize),
    compiled as the fp32 backend compiles its graph; only the graph file differs."""

    def __init__(self, exact: OpenVinoBackend, calibration: Calibration) -> None:
        try:
            import nncf  # noqa: F401
        except ImportError:
            raise ExtraMissingError("openvino", "nncf", "calibrated int8 on OpenVINO") from None
        super().__init__(exact, calibration)  # _Static's, then OpenVinoBackend's

    def _graph(self, layers: str, attentions: bool) -> Path:
        folder = self._folder(layers, attentions, quantizer("openvino"))
        names = ("model.xml", "model.bin")
        path = self._cached(folder, names, _readable)
        if path is not None:
            return Path(path)
        src = self._source(layers, attentions)
        self._store(folder, names, lambda tmp: self._quantize(src, tmp))
        return folder / names[0]

    def _quantize(self, src: Path, out: Path) -> None:
        import openvino as ov

        nncf = _nncf()

        from nncf.quantization.advanced_parameters import (
            AdvancedQuantizationParameters,
            AdvancedSmoothQuantParameters,
        )

        model = ov.Core().read_model(str(src))
        # SmoothQuant off: with it (NNCF's default, alpha 0.95) all-MiniLM-L6-v2 calibrated on
        # STS-B captions measured cosine 0.991 mean / 0.796 min on STS-B's forum and news
        # sentences, and without it 0.993 / 0.984 (0.993 / 0.985 calibrated on all genres): a
        # sample that misses some of the corpus should not cost that much where the gate,
        # which sees only the sample, cannot tell
        off = AdvancedSmoothQuantParameters(matmul=-1)
        quantized = nncf.quantize(
            model,
            nncf.Dataset(list(self.calibration.feeds)),
            model_type=nncf.ModelType.TRANSFORMER,
            subset_size=len(self.calibration),
            advanced_parameters=AdvancedQuantizationParameters(smooth_quant_alphas=off),
        )
        ov.save_model(quantized, str(out / "model.xml"), compress_to_fp16=False)


def quantizer(backend: str) -> dict[str, Any]:
    """What makes a static int8 graph from the fp32 one, besides the sample and SCHEME: the
    quantizer and its version and, for onnxruntime, whether weights are 7-bit (on a CPU
    without VNNI, 7-bit weights keep the u8 x s8 products from saturating: onnxruntime's
    advice). Part of the graph's cache key, and of a corpus job's fingerprint."""
    if backend == "openvino":
        try:
            import nncf
            import openvino
        except ImportError:
            raise ExtraMissingError("openvino", "nncf", "calibrated int8 on OpenVINO") from None
        return {"nncf": nncf.__version__, "openvino": openvino.__version__}
    try:
        import onnxruntime
    except ImportError:
        raise ExtraMissingError("onnx", "onnxruntime", "backend='onnx'") from None
    return {"onnxruntime": onnxruntime.__version__, "reduce_range": not int8_flags()}


def static_backend(exact: Backend, calibration: Calibration) -> OnnxBackend:
    """The static int8 backend of the same kind as `exact` (an fp32 onnx or openvino one)."""
    if isinstance(exact, OpenVinoBackend):
        return StaticOpenVinoBackend(exact, calibration)
    if isinstance(exact, OnnxBackend):
        return StaticOnnxBackend(exact, calibration)
    raise TypeError(f"static int8 quantizes an onnx or openvino backend, not {exact.name!r}")


def _nncf() -> Any:
    """nncf with its usage telemetry switched off: bertex sends nothing anywhere (nncf would
    post an event per quantize call to Google Analytics unless a consent file says no)."""
    import nncf
    from nncf.telemetry import decorator, wrapper

    decorator.telemetry = wrapper.telemetry = wrapper.NNCFTelemetryStub()  # type: ignore[misc]
    return nncf


def _readable(path: Path) -> Path:
    """Reads the IR once (a truncated or corrupt file fails here, not at compile time)."""
    import openvino as ov

    ov.Core().read_model(str(path))
    return path


@contextmanager
def _quiet() -> Iterator[None]:
    """The quantizers' progress bars and advice go to stderr, never to stdout (which may
    carry the vectors), and their INFO logging is held back."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    out = sys.stdout
    sys.stdout = sys.stderr
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        sys.stdout = out
        logging.disable(previous)


def int8_identity(backend: str, calibrated: bool) -> dict[str, Any]:
    """What decides int8 vectors besides the model, the options and the calibration sample:
    the quantizer (or int8 runtime) and its version, the static recipe's SCHEME, this CPU's
    int8 instructions (they choose onnxruntime's 7-bit weights and the int8 kernels) and, on
    OpenVINO, the precision its ops left out of int8 run in (bf16 where the CPU has it).
    Known before any model loads: a corpus job's fingerprint holds it, so a resume on another
    CPU or after an upgrade is refused instead of mixing vectors of two int8 graphs.

    >>> sorted(int8_identity("onnx", calibrated=False))
    ['cpu_int8', 'method', 'onnxruntime']
    """
    if calibrated:
        engine = quantizer(backend)
        identity = {"method": "static", **engine, "scheme": SCHEME, "cpu_int8": int8_flags()}
        if backend == "openvino":  # its ops left out of int8 run in bf16 where that is native
            identity["other_ops"] = hint("int8")
        return identity
    module = "ctranslate2" if backend == "ctranslate2" else "onnxruntime"
    try:
        version = importlib.import_module(module).__version__
    except ImportError:
        extra = "ctranslate2" if backend == "ctranslate2" else "onnx"
        raise ExtraMissingError(extra, module, f"backend={backend!r}") from None
    return {"method": "dynamic", module: version, "cpu_int8": int8_flags()}
