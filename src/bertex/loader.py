"""Assemble a ready Model: resolve the name, check the folder, load tokenizer and weights,
describe the model, and pick the backend."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .models.hf import (
    check_vocab,
    describe,
    fix_casing,
    load_tokenizer,
    load_torch_model,
    quiet_transformers,
)
from .models.source import DEFAULT_MODEL, check_folder, resolve, weights_sha256
from .tokenize import TextTokenizer

if TYPE_CHECKING:
    from .api import Model
    from .backends import Backend


def load(
    name_or_path: str | Path = DEFAULT_MODEL,
    *,
    backend: str = "torch",
    precision: str = "fp32",
    device: str = "cpu",
    forward_timeout: float | None = None,
    calibrate: Any = None,
    gate: tuple[float, float] | None = None,
) -> Model:
    """Load a model by folder, hub id, or the embedded default "all-MiniLM-L6-v2".

    backend="torch" (exact, default), "onnx" (ONNX Runtime, exported once and cached),
    "openvino" (OpenVINO on the same cached export) or "ctranslate2" (converted once and cached;
    the last layer and the pooler only); precision="fp32" (default), "bf16" (torch autocast or
    OpenVINO bf16 where the CPU has native bf16, else fp32 with a warning), "fp16" (CUDA
    autocast) or "int8" (onnx or ctranslate2, dynamic quantization);
    device="cpu" (default), "cuda", "cuda:N" or "auto" (CUDA when torch sees one);
    forward_timeout: seconds one wait for a forward pass may last before the call fails with
    ForwardTimeoutError (default: $BERTEX_FORWARD_TIMEOUT, else 20x the slowest pass seen and
    at least 60 s);
    calibrate: with precision="int8" on backend="openvino" or "onnx", static int8 calibrated on
    these texts (a list, or the path of a file of texts; at least 32 distinct ones): a quarter
    is held out, and unless the int8 vectors of those texts are within `gate` of fp32 (cosine
    mean, min; default (0.99, 0.97)) the fp32 model runs instead, with a PrecisionWarning.
    The record is `model.backend.quantization` and every result's `meta.quantization`.
    """
    from .api import Model
    from .backends.precision import choose, device_of
    from .config import forward_timeout as bound_of

    bound = bound_of(forward_timeout)  # checked here: a bad value fails before loading
    where = device_of(device)
    sample, thresholds = _calibration(backend, precision, calibrate, gate)
    effective = choose(backend, "fp32" if sample else precision, where)
    src = resolve(name_or_path)  # a TF folder's sizes are checked here, before torch loads
    quiet_transformers()
    check_folder(src.folder)
    hf_tok, fixes = load_tokenizer(src.folder)
    model, has_pooler = load_torch_model(src.folder)
    check_vocab(src.folder, hf_tok, model.config)
    info = describe(src, model, hf_tok, has_pooler, fixes)
    accepts_types = "token_type_ids" in hf_tok.model_input_names
    sha = weights_sha256(src.folder)
    engine = _backend(backend, model, sha, accepts_types, has_pooler, effective, where)

    def split_factory() -> TextTokenizer:
        if not _byte_level(hf_tok):
            return TextTokenizer(hf_tok)
        tok, _ = load_tokenizer(src.folder, split_words=True)
        fix_casing(tok)
        return TextTokenizer(tok)

    def made(engine: Backend) -> Model:
        return Model(info, TextTokenizer(hf_tok), engine, sha, split_factory, bound)

    if sample is None:
        return made(engine)
    from .backends.static_int8 import static_backend
    from .calibrate import gated

    return gated(made(engine), lambda data: static_backend(engine, data), made, sample, thresholds)


def _calibration(backend: str, precision: str, calibrate: Any, gate: Any) -> tuple[Any, Any]:
    """The checked calibration sample and gate, or (None, None): before anything loads."""
    if calibrate is None:
        if gate is not None:
            from .errors import OptionError

            raise OptionError("gate", gate, ["None (leave it out)"], "gate= comes with calibrate=")
        return None, None
    from .backends.precision import choose
    from .calibrate import GATE, check

    choose(backend, "fp32")  # an unknown backend name is refused as everywhere
    return check(backend, precision, calibrate, GATE if gate is None else gate)


def _backend(
    name: str,
    model: Any,
    sha: str,
    accepts_types: bool,
    has_pooler: bool,
    precision: str,
    device: str,
) -> Backend:
    if name == "onnx":
        from .backends.onnx_backend import OnnxBackend

        return OnnxBackend(model, sha, accepts_types, has_pooler, precision)
    if name == "openvino":
        from .backends.openvino_backend import OpenVinoBackend

        return OpenVinoBackend(model, sha, accepts_types, has_pooler, precision)
    if name == "ctranslate2":
        from .backends.ct2_backend import CT2Backend

        return CT2Backend(model, sha, accepts_types, has_pooler, precision)
    from .backends.torch_backend import TorchBackend

    return TorchBackend(model, accepts_types, precision, device)


def _byte_level(tok: Any) -> bool:
    pre = tok.backend_tokenizer.pre_tokenizer
    return pre is not None and "ByteLevel" in repr(pre)
