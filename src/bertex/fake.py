"""A bertex Model on the deterministic fake backend (backends/fake.py), built with the public
Model constructor: the engine, server, index and adapters tested in milliseconds.

>>> from bertex.fake import fake_model
>>> fake_model().embed(["a cat", "a dog"], level="sentence").vectors.shape
(2, 16)
"""

from __future__ import annotations

from typing import Any

from .api import Model
from .backends.fake import FakeBackend, fake_tokenizer
from .models import ModelInfo
from .tokenize import TextTokenizer


def fake_model(
    hidden_size: int = 16,
    num_layers: int = 2,
    max_length: int = 32,
    delay_s: float = 0.0,
    workers: int = 1,
    name: str = "fake-bert",
) -> Any:
    """A bertex Model on the fake backend (built with the public Model constructor)."""

    hf = fake_tokenizer(max_length)
    backend = FakeBackend(len(hf), hidden_size, num_layers, 2, max_length, delay_s, workers)
    info = ModelInfo(
        name=name,
        path=name,
        source="fake",
        architecture="FakeBert",
        model_type="bert",
        num_layers=num_layers,
        hidden_size=hidden_size,
        num_heads=2,
        vocab_size=len(hf),
        max_positions=max_length,
        max_length=max_length,
        lowercase=True,
        strip_accents=True,
        default_pooling="mean",
        pooling_source="bertex default (mean of the last layer)",
        default_normalize=False,
        has_pooler=True,
        tokenizer_fixes=(),
    )
    return Model(info, TextTokenizer(hf), backend, "0" * 64)
