"""Fit a head on one layer's features and keep what made them (bertex.heads.Provenance)."""

from __future__ import annotations

from typing import cast

import numpy as np

from ..api import Model
from ..errors import OptionError
from ..heads import Head, Provenance
from ..types import WordEmbedding
from . import data
from .probe import classifier


def _layer(model: Model, layer: int) -> int:
    n = model.info.num_layers
    if not -(n + 1) <= layer <= n:
        raise OptionError("layer", layer, [f"{-(n + 1)}..{n}"], f"{model.info.name} has {n} layers")
    return layer % (n + 1)


def _fit(x: np.ndarray, y: list[str], prov: Provenance, max_iter: int) -> Head:
    """x (N, D), y (N,) -> a Head holding the scaler and the logistic regression."""
    clf = classifier(max_iter).fit(x, np.asarray(y))
    scaler, lr = clf[0], clf[-1]
    labels = tuple(str(c) for c in lr.classes_)
    prov = Provenance(**{**prov.__dict__, "labels": labels})
    return Head(prov, scaler.mean_, scaler.scale_, lr.coef_, lr.intercept_)


def train_classify(
    model: Model, path: str, layer: int = -1, pooling: str | None = None, max_iter: int = 500
) -> Head:
    """A sentence classifier on `layer` pooled by `pooling` (None: the model's own)."""
    rows = data.read_labelled(path)
    k = _layer(model, layer)
    res = model.embed(list(rows.texts), layers=k, pooling=pooling, normalize=False)
    prov = Provenance(
        "classify",
        model.info.name,
        model.weights_sha256,
        k,
        res.meta.pooling,
        None,
        res.meta.max_length,
        (),
    )
    return _fit(res.vectors, list(rows.labels), prov, max_iter)


def train_tag(model: Model, path: str, layer: int = -1, max_iter: int = 500) -> Head:
    """A BIO word tagger on `layer`'s word vectors (sub-words merged the library's way)."""
    rows = data.read_conll(path)
    k = _layer(model, layer)
    res = cast(
        list[WordEmbedding],
        model.embed(
            [list(w) for w in rows.words], level="word", is_split_into_words=True, layers=k
        ),
    )
    x = np.concatenate([r.vectors for r in res])  # (W_total, D)
    y = [t for s in rows.tags for t in s]
    if x.shape[0] != len(y):
        raise OptionError(
            "data",
            path,
            ["words that all have tokens"],
            f"{len(y) - x.shape[0]} words have no token for this tokenizer",
        )
    meta = res[0].meta
    prov = Provenance(
        "tag", model.info.name, model.weights_sha256, k, None, meta.subword, meta.max_length, ()
    )
    return _fit(x, y, prov, max_iter)
