"""The CTranslate2 backend: the model converted once to a CTranslate2 encoder, cached on disk,
run in float32 or int8 (int8_float32: int8 weights, activations quantized per row at run time).

CTranslate2 returns the last layer and the pooler output only: a request for other layers or
for attention maps is refused with the backends that can serve it. The cache key holds the
weights' hash, the CTranslate2 version and the compute type's source (always a float32
conversion: CTranslate2 quantizes at load time); a cached model whose files do not match their
seals is rebuilt, never trusted.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from .. import cache
from .._version import __version__
from ..errors import BertexWarning, ExportError, ExtraMissingError, OptionError
from ..types import Batch, ModelOutput
from . import Want, threads

COMPUTE_TYPES = {"fp32": "float32", "int8": "int8_float32"}
FILES = ("model.bin", "config.json", "vocabulary.json")
FULL_BACKENDS = ["torch", "onnx"]  # the backends that give every layer and the attention maps


def cache_root() -> Path:
    return cache.root() / "ctranslate2"


class CT2Backend:
    """CTranslate2 on the CPU: one Encoder with `workers` replicas.

    Why two batches at once are safe (audited for issue 32): Encoder.forward_batch is
    thread-safe by design; each call is queued to one of the `inter_threads` replicas, and a
    replica runs one batch at a time on its own `intra_threads` OpenMP threads, allocating
    for each batch's shape itself: two calls never share a replica's buffers, whatever their
    shapes. The GIL is released while a batch runs.
    """

    name = "ctranslate2"
    device = "cpu"

    def __init__(
        self,
        torch_model: Any,
        weights_sha256: str,
        accepts_token_types: bool,
        has_pooler: bool,
        precision: str = "fp32",
        cache: Path | None = None,
    ) -> None:
        try:
            import ctranslate2
        except ImportError:
            raise ExtraMissingError("ctranslate2", "ctranslate2", "backend='ctranslate2'") from None
        self.sha, self.precision = weights_sha256, precision
        self.accepts_token_types, self.has_pooler = accepts_token_types, has_pooler
        self.num_layers: int = torch_model.config.num_hidden_layers
        self.cache = cache or cache_root()
        self.workers, self.threads = threads.plan()
        folder = self._load_or_build(torch_model)
        # one encoder, `workers` replicas: concurrent forward_batch calls (the GIL released)
        # run in parallel, each replica on `threads` OpenMP threads
        self.encoder = ctranslate2.Encoder(
            str(folder),
            device="cpu",
            compute_type=COMPUTE_TYPES[precision],
            inter_threads=self.workers,
            intra_threads=self.threads,
        )

    # -- running ----------------------------------------------------------------------------

    def init_worker(self) -> None:
        """CTranslate2 sizes its own thread pools per replica: nothing to do per thread."""

    def forward(self, batch: Batch, want: Want) -> ModelOutput:
        check_want(want, self.num_layers)
        lengths = batch.attention_mask.sum(axis=1)  # (B,) right-padded rows
        ids = [row[:n].tolist() for row, n in zip(batch.input_ids, lengths)]
        types = None
        if self.accepts_token_types and batch.token_type_ids.any():
            types = [row[:n].tolist() for row, n in zip(batch.token_type_ids, lengths)]
        out = self.encoder.forward_batch(ids, token_type_ids=types)
        hidden = None
        if want.layers:
            last = np.asarray(out.last_hidden_state)  # (B, L', H), L' = longest real row
            b, width = batch.input_ids.shape
            full = np.zeros((b, width, last.shape[2]), dtype=np.float32)  # (B, L, H)
            n = min(width, last.shape[1])
            full[:, :n] = last[:, :n]
            full *= batch.attention_mask[..., None]  # padding rows: zeros, as the mask says
            hidden = np.repeat(full[:, :, None, :], len(want.layers), axis=2)  # (B, L, K, H)
        pooler = None
        if want.pooler:
            pooler = np.array(out.pooler_output, dtype=np.float32)  # (B, H)
        return ModelOutput(hidden, pooler, None)

    # -- conversion and cache ---------------------------------------------------------------

    def _load_or_build(self, torch_model: Any) -> Path:
        folder = self.cache / self._key()
        cache.check_private(folder, self.cache.parent)
        if folder.exists():
            if all(cache.intact(folder, f) for f in FILES):
                return folder
            warnings.warn(
                f"cached CTranslate2 model {folder}: it does not match the SHA-256 recorded at "
                "conversion; rebuilding it",
                BertexWarning,
                stacklevel=3,
            )
            shutil.rmtree(folder, ignore_errors=True)
        self._build(torch_model, folder)
        return folder

    def _key(self) -> str:
        import ctranslate2

        doc = {
            "weights": self.sha,
            "pooler": self.has_pooler,
            "ctranslate2": ctranslate2.__version__,
            "bertex": __version__,
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:24]

    def _build(self, torch_model: Any, folder: Path) -> None:
        """Converted in a build folder, sealed, renamed into place; when another process
        converting the same model renamed its copy there first, theirs is kept."""
        with cache.building(folder.parent) as tmp:
            convert(torch_model, tmp / "model")  # tmp/config: the converter's input
            cache.seal(tmp / "model", *FILES)
            cache.place(tmp / "model", folder)


def check_want(want: Want, num_layers: int) -> None:
    """CTranslate2 gives the last layer and the pooler only: anything else is refused."""
    if want.attentions:
        raise OptionError(
            "backend",
            "ctranslate2",
            FULL_BACKENDS,
            "attention maps need another backend (CTranslate2 returns the last layer only)",
        )
    if any(i != num_layers for i in want.layers):
        raise OptionError(
            "backend",
            "ctranslate2",
            FULL_BACKENDS,
            f"layers other than the last ({num_layers}) need another backend "
            "(CTranslate2 returns the last layer only)",
        )


def convert(torch_model: Any, out: Path) -> None:
    """CTranslate2's converter, fed the model bertex already loaded (so a checkpoint in any
    layout bertex reads converts the same way), always in float32: int8 is applied at load."""
    from ctranslate2.converters import TransformersConverter

    class FromLoaded(TransformersConverter):
        def load_model(self, model_class: Any, path: str, **kwargs: Any) -> Any:
            return _converter_view(torch_model)

        def load_tokenizer(self, tokenizer_class: Any, path: str, **kwargs: Any) -> Any:
            return _IdVocabulary(int(torch_model.config.vocab_size))

    src = out.parent / "config"
    torch_model.config.save_pretrained(src)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            FromLoaded(str(src)).convert(str(out), quantization="float32", force=True)
    except Exception as e:  # an architecture CTranslate2 cannot convert
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise ExportError(
            f"CTranslate2 cannot convert this model ({type(e).__name__}: {first}); "
            "use backend='torch' or backend='onnx'"
        ) from None


def _converter_view(model: Any) -> Any:
    """The model as the converter reads it, the model itself untouched: transformers 5 runs
    absolute positions only and may leave `position_embedding_type` out of the config (the
    converter asserts it), and a checkpoint without a pooler gets a stand-in (the converter
    reads model.pooler.dense; its output is never asked for: no pooling='pooler' there)."""
    import torch

    config = copy.copy(model.config)
    config.position_embedding_type = "absolute"
    pooler = getattr(model, "pooler", None)
    if pooler is None and hasattr(model, "encoder"):
        size = int(config.hidden_size)
        pooler = SimpleNamespace(dense=torch.nn.Linear(size, size))
    return _View(model, config=config, pooler=pooler)


class _View:
    """`model` with some attributes replaced."""

    def __init__(self, model: Any, **overrides: Any) -> None:
        self._model, self._overrides = model, overrides

    def __getattr__(self, name: str) -> Any:
        overrides = self.__dict__["_overrides"]
        return overrides[name] if name in overrides else getattr(self.__dict__["_model"], name)


class _IdVocabulary:
    """bertex passes token ids, never strings: the converted vocabulary only has to have the
    model's size, so each id stands for itself."""

    unk_token = "<0>"

    def __init__(self, size: int) -> None:
        self.size = size

    def get_vocab(self) -> dict[str, int]:
        return {f"<{i}>": i for i in range(self.size)}
