"""Backends run the model on a Batch. The contract is one method, `forward`.

Only the torch backend exists today; others plug in behind the same Protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..types import Batch, ModelOutput


@dataclass(frozen=True)
class Want:
    """What one forward pass must return. Nothing more is computed or copied."""

    layers: tuple[int, ...]  # absolute indices, 0 = embedding output; empty = none
    pooler: bool = False
    attentions: bool = False


class Backend(Protocol):
    name: str

    def forward(self, batch: Batch, want: Want) -> ModelOutput: ...
