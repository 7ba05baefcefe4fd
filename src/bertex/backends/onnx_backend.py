"""The ONNX Runtime backend: the model exported once per set of outputs, cached on disk, and
optionally quantized to int8 (dynamic, per-channel).

Graphs are exported with the outputs a request needs, and no more: the last layer (+ pooler),
every hidden state, or the attention maps too. The cache key holds the weights' hash, the
outputs, the precision and the versions of onnxruntime, torch and transformers; a cached graph
that fails to load is rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .. import cache
from .._version import __version__
from ..errors import BertexWarning, ExportError, ExtraMissingError
from ..types import Batch, ModelOutput
from . import Want, threads

OPSET = 18
CHECK_TOLERANCE = 1e-3  # a built graph further than this from torch is refused
FUSION = 2  # bump when the graph optimization changes: old cached graphs are not reused


def cache_root() -> Path:
    return cache.root() / "onnx"


class OnnxBackend:
    """ONNX Runtime on the CPU: one InferenceSession per set of outputs, shared by the workers.
    Two batches at once are safe (issue 32's audit): InferenceSession.run is thread-safe and
    keeps no per-request input state (each run binds its own feeds and outputs; the per-shape
    memory-pattern cache is guarded inside ONNX Runtime); the session is built once, under a
    lock; bench/soak/backend_soak.py runs thousands of random shapes on two workers."""

    name = "onnx"
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
            import onnxruntime  # noqa: F401
        except ImportError:
            raise ExtraMissingError("onnx", "onnxruntime", "backend='onnx'") from None
        self.torch_model = torch_model.eval()
        self.sha, self.precision = weights_sha256, precision
        self.exported = precision  # the graph file: model.{exported}.onnx
        self.accepts_token_types, self.has_pooler = accepts_token_types, has_pooler
        self.num_layers: int = torch_model.config.num_hidden_layers
        self.cache = cache or cache_root()
        self._sessions: dict[tuple[str, bool], Any] = {}
        self._lock = threading.Lock()
        self.workers, self.threads = threads.plan()  # one session, shared by the workers

    # -- running ----------------------------------------------------------------------------

    def init_worker(self) -> None:
        """ONNX Runtime sizes its own thread pools per session: nothing to do per thread."""

    def forward(self, batch: Batch, want: Want) -> ModelOutput:
        layers = "all" if any(i != self.num_layers for i in want.layers) else "last"
        session = self._session(layers, want.attentions)
        feeds = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        if self.accepts_token_types:
            feeds["token_type_ids"] = batch.token_type_ids
        outs = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
        hidden = None
        if want.layers:
            states = outs["hidden"]  # (K_exported, B, L, H)
            index = list(want.layers) if layers == "all" else [0] * len(want.layers)
            hidden = np.ascontiguousarray(states[index].transpose(1, 2, 0, 3))  # (B, L, K, H)
        pooler = outs.get("pooler") if want.pooler else None
        attentions = outs.get("attentions") if want.attentions else None  # (B, layers, h, L, L)
        return ModelOutput(hidden, pooler, attentions)

    def _session(self, layers: str, attentions: bool) -> Any:
        key = (layers, attentions)
        with self._lock:  # workers share one session per graph; only one of them builds it
            if key not in self._sessions:
                self._sessions[key] = self._load_or_build(layers, attentions)
            return self._sessions[key]

    def _load_or_build(self, layers: str, attentions: bool) -> Any:
        import onnxruntime as ort

        folder = self.cache / self._key(layers, attentions)
        cache.check_private(folder, self.cache.parent)
        path = folder / f"model.{self.exported}.onnx"
        session = cache.reopen(folder, [path.name], self._open, "ONNX graph", "at export")
        if session is not None:
            return session
        fp32 = folder / "model.fp32.onnx"
        if self.exported == "int8" and cache.intact(folder, fp32.name):  # quantize the export
            tmp = folder / ".model.int8.onnx.tmp"
            quantize(fp32, tmp)
            os.replace(tmp, path)
            cache.seal(folder, path.name)
        else:
            self._build(folder, layers, attentions)
        del ort
        return self._open(path)

    def _open(self, path: Path) -> Any:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = self.threads
        opts.log_severity_level = 3
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def _key(self, layers: str, attentions: bool) -> str:
        import onnxruntime
        import torch
        import transformers

        doc = {
            "weights": self.sha,
            "fusion": FUSION,
            "layers": layers,
            "attentions": attentions,
            "pooler": self.has_pooler,
            "types": self.accepts_token_types,
            "opset": OPSET,
            "ort": onnxruntime.__version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "bertex": __version__,
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:24]

    # -- export and quantization -------------------------------------------------------------

    def _build(self, folder: Path, layers: str, attentions: bool) -> None:
        with cache.building(folder.parent) as tmp:
            fp32 = tmp / "model.fp32.onnx"
            record = self._export_checked(fp32, layers, attentions)
            (tmp / "export.json").write_text(json.dumps(record, indent=2))
            if self.exported == "int8":
                quantize(fp32, tmp / "model.int8.onnx")
            cache.seal(tmp, *(p.name for p in tmp.glob("model.*.onnx")))
            cache.place(tmp, folder)

    def _export_checked(self, path: Path, layers: str, attentions: bool) -> dict[str, Any]:
        """Export, fuse, and keep the first graph that agrees with torch on a padded probe.

        The TorchScript exporter on eager attention gives the graph onnxruntime fuses furthest
        (one Attention op per layer: measured +7% fp32, +24% int8 on MiniLM); the dynamo
        exporter is the fallback, then the unfused dynamo graph. A graph that disagrees with
        torch (an exporter or fusion that mis-handles a family) is never kept.
        """
        config = self.torch_model.config
        tried = []
        for exporter, fused in (("torchscript", True), ("dynamo", True), ("dynamo", False)):
            try:
                self._export(path, layers, attentions, exporter)
                if fused:
                    fuse(path, config)
                diff = self._disagreement(path, layers, attentions)
            except Exception as e:  # an exporter that cannot handle this model: try the next
                first = (str(e).strip().splitlines() or [""])[0][:200]
                tried.append(f"{exporter}{'+fused' if fused else ''}: {type(e).__name__}: {first}")
                continue
            if diff <= CHECK_TOLERANCE:
                return {
                    "exporter": exporter,
                    "fused": fused,
                    "max_abs_diff": diff,
                    "refused": tried,
                }
            tried.append(f"{exporter}{'+fused' if fused else ''}: max abs diff {diff:.2g}")
        raise ExportError(
            "no ONNX export of this model agrees with torch ("
            + "; ".join(tried)
            + "); use backend='torch'"
        )

    def _disagreement(self, path: Path, layers: str, attentions: bool) -> float:
        """Max abs difference to torch, over every output, on a padded probe batch."""
        import torch

        feeds, lengths = _probe(self.torch_model.config, self.accepts_token_types)
        session = self._open(path)
        got = session.run(None, feeds)
        wrapper = _Outputs(
            self.torch_model, layers == "all", self.has_pooler, attentions, self.accepts_token_types
        )
        with _eager(self.torch_model), torch.no_grad():
            want = [t.numpy() for t in wrapper(*(torch.from_numpy(v) for v in feeds.values()))]
        names = [o.name for o in session.get_outputs()]
        diff = 0.0
        for name, x, y in zip(names, got, want):
            for b, n in enumerate(lengths):  # real tokens only: padding rows are free to differ
                if name == "hidden":  # (K, B, L, H)
                    d = x[:, b, :n] - y[:, b, :n]
                elif name == "attentions":  # (B, layers, heads, L, L)
                    d = x[b, :, :, :n, :n] - y[b, :, :, :n, :n]
                else:  # pooler (B, H)
                    d = x[b] - y[b]
                diff = max(diff, float(np.abs(d).max()))
        return diff

    def _export(self, path: Path, layers: str, attentions: bool, exporter: str) -> None:
        import torch

        model = self.torch_model
        wrapper = _Outputs(
            model, layers == "all", self.has_pooler, attentions, self.accepts_token_types
        )
        feeds, _ = _probe(model.config, self.accepts_token_types, sizes=(8, 5))
        args = tuple(torch.from_numpy(v) for v in feeds.values())
        names = list(feeds)
        outputs = (
            ["hidden"]
            + (["pooler"] if self.has_pooler else [])
            + (["attentions"] if attentions else [])
        )
        with _eager(model), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if exporter == "torchscript":
                axes = {n: {0: "batch", 1: "seq"} for n in names}
                torch.onnx.export(
                    wrapper,
                    args,
                    str(path),
                    dynamo=False,
                    opset_version=OPSET,
                    input_names=names,
                    output_names=outputs,
                    dynamic_axes=axes,
                )
                return
            batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq", max=4096)
            program = torch.onnx.export(
                wrapper,
                args,
                dynamo=True,
                opset_version=OPSET,
                input_names=names,
                output_names=outputs,
                verbose=False,
                dynamic_shapes={n: {0: batch, 1: seq} for n in names},
            )
            assert program is not None  # dynamo=True always returns the program
            program.save(str(path))


@contextmanager
def _eager(model: Any) -> Iterator[None]:
    """Eager attention for a while: the pattern onnxruntime fuses, the one that yields the
    maps, and (measured) equal to sdpa within 1e-6. Leaves the model in eval mode: the
    TorchScript exporter leaves it in training mode, with dropout on."""
    previous = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        yield
    finally:
        model.set_attn_implementation(previous)
        model.eval()


def _probe(
    config: Any, types: bool, sizes: tuple[int, ...] = (13, 4, 9)
) -> tuple[dict[str, np.ndarray], list[int]]:
    """A right-padded batch of random ids with the given lengths (the first the longest), so
    that no exporter can treat the attention mask as all ones or the length as fixed."""
    rng = np.random.default_rng(0)
    width, n = max(sizes), len(sizes)
    low = 5 if config.vocab_size > 10 else 0  # keep clear of the special ids at the start
    ids = rng.integers(low, config.vocab_size, size=(n, width), dtype=np.int64)  # (B, L)
    mask = (np.arange(width)[None, :] < np.asarray(sizes)[:, None]).astype(np.int64)  # (B, L)
    pad = getattr(config, "pad_token_id", None) or 0
    ids[mask == 0] = pad
    feeds = {"input_ids": ids, "attention_mask": mask}
    if types:
        kinds = max(1, int(getattr(config, "type_vocab_size", 1) or 1))
        t = np.zeros_like(ids)
        if kinds > 1:
            t[0, sizes[0] // 2 : sizes[0]] = 1  # a pair in the first row
        feeds["token_type_ids"] = t
    return feeds, list(sizes)


def fuse(path: Path, config: Any) -> None:
    """onnxruntime's transformer optimizer: fuses bias+GELU and residual+LayerNorm (measured
    ~9% faster for MiniLM on CPU, results equal to 1e-7). A graph it cannot fuse is kept."""
    try:
        from onnxruntime.transformers import optimizer

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = optimizer.optimize_model(
                str(path),
                model_type="bert",
                num_heads=int(config.num_attention_heads),
                hidden_size=int(config.hidden_size),
                opt_level=1,
            )
        tmp = path.with_name(path.name + ".fused")
        model.save_model_to_file(str(tmp))
        os.replace(tmp, path)
    except Exception as e:  # an architecture whose patterns the optimizer does not know
        warnings.warn(
            f"ONNX graph optimization skipped ({type(e).__name__}: {e})",
            BertexWarning,
            stacklevel=2,
        )


def quantize(src: Path, dst: Path) -> None:
    """Dynamic int8 quantization of the MatMul weights, per output channel: per-tensor scales
    (the onnxruntime default) lose too much for embeddings."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)  # its advice to "pre-process" the graph, once per build
    try:
        quantize_dynamic(
            str(src),
            str(dst),
            per_channel=True,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Attention"],
            extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        logging.disable(previous)


class _Outputs:
    """Wraps the model so the exported graph returns exactly the asked-for tensors."""

    def __new__(
        cls, model: Any, all_layers: bool, pooler: bool, attentions: bool, types: bool
    ) -> Any:
        import torch

        class Wrapper(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, input_ids, attention_mask, token_type_ids=None):  # noqa: ANN001
                kwargs = {"token_type_ids": token_type_ids} if types else {}
                out = self.model(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    output_hidden_states=all_layers,
                    output_attentions=attentions,
                    return_dict=True,
                    **kwargs,
                )
                hidden = (
                    torch.stack(out.hidden_states)
                    if all_layers
                    else out.last_hidden_state.unsqueeze(0)
                )  # (K, B, L, H)
                result = [hidden]
                if pooler:
                    result.append(out.pooler_output)  # (B, H)
                if attentions:
                    result.append(torch.stack(out.attentions, dim=1))  # (B, layers, h, L, L)
                return tuple(result)

        return Wrapper()
