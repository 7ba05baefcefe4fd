"""STS per layer x pooling: Spearman of cosine similarity against gold scores, one pass.

Spearman comes from scipy.stats.spearmanr (scipy arrives with the `analysis` extra, through
scikit-learn).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..api import Model
from ..errors import ExtraMissingError
from .data import Pairs
from .layers import POOLINGS, default_pooling, sentence_features


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho (ties get average ranks), via scipy."""
    try:
        from scipy.stats import spearmanr  # type: ignore[import-untyped]
    except ImportError as e:  # pragma: no cover - the extra installs it
        raise ExtraMissingError("analysis", "scipy", "bertex eval") from e
    if np.ptp(x) == 0 or np.ptp(y) == 0:  # constant: no ranking to correlate
        return float("nan")
    return float(spearmanr(x, y).statistic)


def row_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of (N, H) and (N, H) -> (N,)."""
    a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
    return (a * b).sum(axis=-1)


@dataclass(frozen=True)
class StsReport:
    """Spearman x 100 for every pooling (rows) and layer (columns, 0 = embedding output).

    A cell is NaN (null in JSON) when every pair has the same cosine: [CLS] at layer 0 is one
    fixed vector for every input, so its cosine is constant and has no rank correlation.
    """

    model: str
    weights_sha256: str
    poolings: tuple[str, ...]  # row names; the model's default is named "default (mean)"
    layers: tuple[int, ...]
    spearman: np.ndarray  # (P, L+1)
    n_pairs: int

    @property
    def best(self) -> tuple[str, int, float]:
        p, layer = np.unravel_index(int(np.nanargmax(self.spearman)), self.spearman.shape)
        return self.poolings[p], self.layers[layer], float(self.spearman[p, layer])

    def cell(self, pooling: str, layer: int) -> float:
        return float(self.spearman[self.poolings.index(pooling), self.layers.index(layer)])

    def to_dict(self) -> dict[str, Any]:
        pooling, layer, score = self.best
        return {
            "task": "sts",
            "metric": "spearman x 100 of cosine similarity",
            "model": self.model,
            "weights_sha256": self.weights_sha256,
            "n_pairs": self.n_pairs,
            "layers": list(self.layers),
            "poolings": list(self.poolings),
            "spearman": {
                p: [None if np.isnan(v) else round(float(v), 4) for v in row]
                for p, row in zip(self.poolings, self.spearman)
            },
            "best": {"pooling": pooling, "layer": layer, "spearman": round(score, 4)},
        }


def evaluate_sts(model: Model, pairs: Pairs, batch_size: int = 128) -> StsReport:
    """Every layer x every pooling from one forward pass per batch over the distinct texts."""
    own = default_pooling(model)
    poolings = list(POOLINGS) + ([own] if own not in POOLINGS else [])
    texts = sorted(set(pairs.a) | set(pairs.b))  # each distinct sentence embedded once
    where = {t: i for i, t in enumerate(texts)}
    feats = sentence_features(model, texts, poolings, batch_size)  # {p: (N, L+1, H)}
    ia = np.array([where[t] for t in pairs.a])
    ib = np.array([where[t] for t in pairs.b])
    gold = np.asarray(pairs.scores)
    n_layers = model.info.num_layers + 1
    grid = np.empty((len(poolings) + 1, n_layers))  # the last row: the model's default again
    for r, p in enumerate(poolings + [own]):
        f = feats[p]
        for k in range(n_layers):
            grid[r, k] = 100 * spearman(row_cosine(f[ia, k], f[ib, k]), gold)
    names = tuple(poolings) + (f"default ({own})",)
    return StsReport(
        model.info.name, model.weights_sha256, names, tuple(range(n_layers)), grid, len(gold)
    )
