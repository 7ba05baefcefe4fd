"""The data behind the layer views: how token vectors move through the layers, and how two
sentences' similarity changes from layer to layer under each pooling."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import BertexWarning, EmptyInputError

# Poolings that exist at every layer (the pooler and first_last_avg do not).
LAYER_POOLINGS = ("cls", "mean", "max", "mean_sqrt_len")


@dataclass(frozen=True)
class LayerView:
    text: str
    tokens: tuple[str, ...]
    drift: np.ndarray  # (L+1, T) cosine of each token's vector at layer l to its layer-0 vector
    token_sim: np.ndarray  # (L+1, T, T) cosine between tokens at each layer
    pair: str | None
    sentence_sim: dict[str, list[float]]  # pooling -> (L+1,) cosine of the two texts per layer
    model: str

    def to_dict(self, decimals: int = 4) -> dict[str, Any]:
        return {
            "text": self.text,
            "tokens": list(self.tokens),
            "drift": np.round(self.drift.astype(np.float64), decimals).tolist(),
            "token_sim": np.round(self.token_sim.astype(np.float64), decimals).tolist(),
            "pair": self.pair,
            "sentence_sim": self.sentence_sim,
            "model": self.model,
        }


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def layer_view(model: Any, text: str, pair: str | None = None) -> LayerView:
    """One hidden_states pass for `text`; with `pair`, one stacked sentence pass per pooling."""
    for t in (text, pair):
        if t is not None and not t.strip():
            raise EmptyInputError("the text is empty: the layer view needs at least one token", 0)
    res = model.embed(text, level="hidden_states")
    h = _unit(np.asarray(res.vectors, dtype=np.float64))  # (L+1, T, H)
    drift = np.einsum("lth,th->lt", h, h[0])  # (L+1, T)
    token_sim = np.einsum("lth,luh->ltu", h, h)  # (L+1, T, T)
    return LayerView(
        text=text,
        tokens=tuple(res.tokens),
        drift=drift,
        token_sim=token_sim,
        pair=pair,
        sentence_sim={} if pair is None else sentence_similarity(model, text, pair),
        model=str(res.meta.model),
    )


def sentence_similarity(model: Any, a: str, b: str) -> dict[str, list[float]]:
    """pooling -> cosine of `a` and `b` at every layer (0 = the embeddings)."""
    out: dict[str, list[float]] = {}
    for pooling in LAYER_POOLINGS:
        with warnings.catch_warnings():  # a weak pooling is what this view compares
            warnings.simplefilter("ignore", BertexWarning)
            r = model.embed([a, b], layers="all", combine="stack", pooling=pooling)
        v = _unit(np.asarray(r.vectors, dtype=np.float64))  # (2, L+1, H)
        out[pooling] = np.einsum("lh,lh->l", v[0], v[1]).tolist()
    return out
