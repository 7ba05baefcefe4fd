"""Backends run the model on a Batch: torch (exact), onnx (ONNX Runtime), openvino, fake
(tests).

The runner uses exactly what the Protocol declares, nothing reached through getattr.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..types import Batch, ModelOutput, Want

__all__ = ["Backend", "Want"]


class Backend(Protocol):
    name: str  # "torch", "onnx", "openvino", "fake"
    precision: str  # "fp32", "bf16", "int8": what actually runs
    workers: int  # batches run at once (threads); 1 runs them in the caller's thread
    device: Any  # where the model runs: "cpu" for CPU-only backends, else a torch.device

    def init_worker(self) -> None:
        """Run once in each worker thread before its first forward (e.g. set thread counts)."""

    def forward(self, batch: Batch, want: Want) -> ModelOutput:
        """One padded batch -> the outputs `want` names, float32 numpy arrays."""
