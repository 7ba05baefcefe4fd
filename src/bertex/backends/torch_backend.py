"""The PyTorch backend: a Hugging Face AutoModel in eval mode, no gradients; fp32, or bf16
autocast where the CPU has native bf16 (outputs are returned as float32 either way)."""

from __future__ import annotations

import copy
import threading
from typing import Any

import numpy as np
import torch

from ..types import Batch, ModelOutput
from . import Want, threads


def to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """A host array (B, L) as a tensor on `device`. On CUDA the copy goes through pinned
    (page-locked) memory and is asynchronous, so this thread goes on to launch the kernels
    while the transfer runs, and the other worker prepares the next batch meanwhile (the read
    of the output waits for both). On the CPU the tensor shares the array's memory.

    >>> to_device(np.array([[1, 2]]), torch.device("cpu")).tolist()
    [[1, 2]]
    """
    tensor = torch.from_numpy(array)
    if device.type != "cuda":
        return tensor
    # pin_memory() allocates from torch's caching host allocator, which keeps the block until
    # the copy that reads it has finished: the non-blocking copy cannot read freed memory
    return tensor.pin_memory().to(device, non_blocking=True)


class TorchBackend:
    """A Hugging Face model in eval mode, shared by the worker threads.

    Why two batches at once are safe (audited for issue 32): a forward under inference_mode
    reads the weights and writes only tensors of its own, sized by its own batch (no cached
    per-shape state across calls; SDPA picks its kernel per call). On the CPU each worker
    thread has its own intra-op thread count (init_worker) and its own OpenMP team; on CUDA
    both threads queue kernels on the device's default stream, which runs them in order, and
    the caching allocator is thread-safe. The one shared thing that changes, the eager-
    attention twin for attention maps, is made once under a lock (_module).
    """

    name = "torch"

    def __init__(
        self, model: Any, accepts_token_types: bool, precision: str = "fp32", device: str = "cpu"
    ) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()  # dropout off: vectors are deterministic
        self.precision = precision
        self.accepts_token_types = accepts_token_types
        self.num_layers: int = model.config.num_hidden_layers
        self._attn = getattr(model.config, "_attn_implementation", "sdpa")
        self._eager: Any = None  # the eager-attention twin, made on the first attention call
        self._twin_lock = threading.Lock()
        self.workers, self.threads = threads.plan()
        if self.device.type != "cpu":
            self.workers = threads.gpu_workers()

    def init_worker(self) -> None:
        """Run in each worker thread: torch's thread count is per calling thread, so this
        leaves the caller's own setting alone."""
        torch.set_num_threads(self.threads)

    def forward(self, batch: Batch, want: Want) -> ModelOutput:
        arrays = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        if self.accepts_token_types:
            arrays["token_type_ids"] = batch.token_type_ids
        inputs = {k: to_device(v, self.device) for k, v in arrays.items()}  # (B, L)
        all_layers = any(i != self.num_layers for i in want.layers)
        half = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
        autocast = torch.autocast(self.device.type, dtype=half, enabled=half is not None)
        with torch.inference_mode(), autocast:
            out = self._module(want.attentions)(
                **inputs,
                output_hidden_states=all_layers,
                output_attentions=want.attentions,
                return_dict=True,
            )
        hidden = None
        if want.layers:
            states = out.hidden_states if all_layers else {self.num_layers: out.last_hidden_state}
            # K x (B, L, H) -> (B, L, K, H); one layer is a view (no copy of the batch)
            picked = [states[i] for i in want.layers]
            joined = picked[0].unsqueeze(2) if len(picked) == 1 else torch.stack(picked, dim=2)
            hidden = joined.float().cpu().numpy()
        pooler = None
        if want.pooler:
            pooler = out.pooler_output.float().cpu().numpy()  # (B, H)
        attentions = None
        if want.attentions:
            # layers x (B, heads, L, L) -> (B, layers, heads, L, L)
            attentions = torch.stack(out.attentions, dim=1).float().cpu().numpy()
        return ModelOutput(hidden, pooler, attentions)

    def _module(self, attentions: bool) -> Any:
        """SDPA cannot return attention maps, and switching a shared model's attention
        implementation races with other threads' calls (measured: wrong vectors in 6 of 115
        concurrent calls). So maps come from a twin of the model made once, with eager
        attention, that shares every weight tensor (no second copy of the weights)."""
        if not attentions or self._attn == "eager":
            return self.model
        with self._twin_lock:
            if self._eager is None:
                shared = {id(t): t for t in [*self.model.parameters(), *self.model.buffers()]}
                twin = copy.deepcopy(self.model, memo=dict(shared))
                twin.set_attn_implementation("eager")
                self._eager = twin.eval()
            return self._eager
