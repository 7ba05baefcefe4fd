"""Static views of what the model does with a text: attention maps as self-contained HTML or PNG.

The data builders (`attention_view`) return typed dataclasses; `html` and `png` render them.
Nothing here imports the CLI or the server.
"""

from __future__ import annotations

from .data import AttentionView, attention_view
from .layers import LayerView, layer_view

__all__ = ["AttentionView", "LayerView", "attention_view", "layer_view"]
