"""Fit a head on one layer's features and keep what made them (bertex.heads.Provenance).

With `held_out` > 0 the rows are split by bertex.holdout's rule (a fixed-seed shuffle: the
same split `bertex tune`'s benchmark uses), the head is fit on the train part only and scored
on the held-out part: accuracy and macro-F1 (classify), entity precision/recall/F1 by the
BIO rules (tag, seqeval's default counting). The score is kept in the head's provenance.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

import numpy as np

from .. import holdout
from ..api import Model
from ..errors import OptionError
from ..heads import Head, Provenance
from ..tasks.spans import entity_scores
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
    if len(set(y)) < 2:
        raise OptionError(
            "data", f"one label ({y[0]!r})", ["rows of at least two labels"],
            "a head needs two labels or more in the rows it is fit on",
        )  # fmt: skip
    clf = classifier(max_iter).fit(x, np.asarray(y))
    scaler, lr = clf[0], clf[-1]
    labels = tuple(str(c) for c in lr.classes_)
    prov = Provenance(**{**prov.__dict__, "labels": labels})
    return Head(prov, scaler.mean_, scaler.scale_, lr.coef_, lr.intercept_)


def _parts(n: int, held_out: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and held-out rows; no held-out part for fewer than holdout.MIN_ROWS rows."""
    if held_out and n < holdout.MIN_ROWS:
        return np.arange(n), np.arange(0)
    return holdout.split(n, held_out, seed)


def _record(test: np.ndarray, train: np.ndarray, held_out: float, seed: int, **metrics: float):
    return {
        "rows": int(len(test)),
        "train_rows": int(len(train)),
        "fraction": held_out,
        "seed": seed,
        **{k: float(v) for k, v in metrics.items()},
    }


def train_classify(
    model: Model,
    path: str,
    layer: int = -1,
    pooling: str | None = None,
    max_iter: int = 500,
    held_out: float = 0.0,
    seed: int = holdout.SEED,
) -> Head:
    """A sentence classifier on `layer` pooled by `pooling` (None: the model's own)."""
    from sklearn.metrics import accuracy_score, f1_score

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
    y = np.asarray(rows.labels)
    train, test = _parts(len(y), held_out, seed)
    head = _fit(res.vectors[train], list(y[train]), prov, max_iter)
    if not len(test):
        return head
    probs = head.probabilities(res.vectors[test])  # (n, C)
    pred = np.asarray(head.provenance.labels)[probs.argmax(axis=1)]
    score = _record(
        test,
        train,
        held_out,
        seed,
        accuracy=accuracy_score(y[test], pred),
        macro_f1=f1_score(y[test], pred, average="macro", zero_division=0),
    )
    return replace(head, provenance=replace(head.provenance, held_out=score))


def train_tag(
    model: Model,
    path: str,
    layer: int = -1,
    max_iter: int = 500,
    held_out: float = 0.0,
    seed: int = holdout.SEED,
) -> Head:
    """A BIO word tagger on `layer`'s word vectors (sub-words merged the library's way)."""
    rows = data.read_conll(path)
    k = _layer(model, layer)
    res = cast(
        list[WordEmbedding],
        model.embed(
            [list(w) for w in rows.words], level="word", is_split_into_words=True, layers=k
        ),
    )
    tokens = sum(r.vectors.shape[0] for r in res)
    words = sum(len(s) for s in rows.tags)
    if tokens != words:
        raise OptionError(
            "data",
            path,
            ["words that all have tokens"],
            f"{words - tokens} words have no token for this tokenizer",
        )
    meta = res[0].meta
    prov = Provenance(
        "tag", model.info.name, model.weights_sha256, k, None, meta.subword, meta.max_length, ()
    )
    train, test = _parts(len(res), held_out, seed)
    x = np.concatenate([res[i].vectors for i in train])  # (W_train, D)
    y = [t for i in train for t in rows.tags[i]]
    head = _fit(x, y, prov, max_iter)
    if not len(test):
        return head
    labels = head.provenance.labels
    gold = [list(rows.tags[i]) for i in test]
    pred = [[labels[j] for j in head.probabilities(res[i].vectors).argmax(axis=1)] for i in test]
    p, r, f1 = entity_scores(gold, pred)
    score = _record(test, train, held_out, seed, entity_precision=p, entity_recall=r, entity_f1=f1)
    return replace(head, provenance=replace(head.provenance, held_out=score))


def describe_score(score: dict[str, Any] | None) -> str:
    """One line for `bertex train`'s output."""
    if not score:
        return "no held-out score (--held-out 0, or fewer than 10 rows): fit on every row"
    metrics = ", ".join(
        f"{k.replace('_', ' ')} {v:.4f}"
        for k, v in score.items()
        if k not in ("rows", "train_rows", "fraction", "seed")
    )
    return (
        f"held-out {metrics} ({score['rows']} rows held out of "
        f"{score['rows'] + score['train_rows']}: fraction {score['fraction']:g}, seed "
        f"{score['seed']}; the head is fit on the other {score['train_rows']})"
    )
