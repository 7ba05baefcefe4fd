"""The PyTorch backend: a Hugging Face AutoModel in eval mode, no gradients; fp32, or bf16
autocast where the CPU has native bf16 (outputs are returned as float32 either way)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from ..types import Batch, ModelOutput
from . import Want, threads


class TorchBackend:
    name = "torch"

    def __init__(self, model: Any, accepts_token_types: bool, precision: str = "fp32") -> None:
        self.model = model.eval()  # dropout off: vectors are deterministic
        self.precision = precision
        self.accepts_token_types = accepts_token_types
        self.num_layers: int = model.config.num_hidden_layers
        self._attn = getattr(model.config, "_attn_implementation", "sdpa")
        self.workers, self.threads = threads.plan()

    def init_worker(self) -> None:
        """Run in each worker thread: torch's thread count is per calling thread, so this
        leaves the caller's own setting alone."""
        torch.set_num_threads(self.threads)

    def forward(self, batch: Batch, want: Want) -> ModelOutput:
        inputs = {
            "input_ids": torch.from_numpy(batch.input_ids),  # (B, L)
            "attention_mask": torch.from_numpy(batch.attention_mask),  # (B, L)
        }
        if self.accepts_token_types:
            inputs["token_type_ids"] = torch.from_numpy(batch.token_type_ids)  # (B, L)
        all_layers = any(i != self.num_layers for i in want.layers)
        autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16")
        with torch.inference_mode(), autocast, self._attention_impl(want.attentions):
            out = self.model(
                **inputs,
                output_hidden_states=all_layers,
                output_attentions=want.attentions,
                return_dict=True,
            )
        hidden = None
        if want.layers:
            states = out.hidden_states if all_layers else {self.num_layers: out.last_hidden_state}
            # K x (B, L, H) -> (B, L, K, H)
            hidden = torch.stack([states[i] for i in want.layers], dim=2).float().numpy()
        pooler = None
        if want.pooler:
            pooler = out.pooler_output.float().numpy()  # (B, H)
        attentions = None
        if want.attentions:
            # layers x (B, heads, L, L) -> (B, layers, heads, L, L)
            attentions = torch.stack(out.attentions, dim=1).float().numpy()
        return ModelOutput(hidden, pooler, attentions)

    @contextmanager
    def _attention_impl(self, eager: bool) -> Iterator[None]:
        """SDPA cannot return attention maps: switch to eager for the calls that ask for them."""
        switch = eager and self._attn != "eager"
        if switch:
            self.model.set_attn_implementation("eager")
        try:
            yield
        finally:
            if switch:
                self.model.set_attn_implementation(self._attn)
