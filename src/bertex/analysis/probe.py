"""Linear probes per layer: sentence labels (pooled vectors) and token tags (word vectors).

Features of every layer come from one forward pass per batch (layers.py); a scikit-learn
LogisticRegression is fitted per layer. Two references make the curve readable: a majority
class baseline, and a control model (the same architecture, weights re-initialised under a
fixed seed) whose curve shows what pretraining adds over a random projection of the tokens.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..api import Model
from ..errors import DataFileError, ExtraMissingError
from ..tasks import spans as bio
from . import data
from .layers import default_pooling, sentence_features, word_features


@dataclass(frozen=True)
class ProbeOptions:
    folds: int = 5  # k of k-fold CV when no test file is given
    seed: int = 0
    control: bool = True  # also probe a re-initialised copy of the model
    batch_size: int = 64
    max_iter: int = 500
    # progress(stage, total) -> advance(n): called as each stage starts (the CLI draws a bar)
    progress: Callable[[str, int], Callable[[int], None]] | None = None

    def stage(self, label: str, total: int) -> Callable[[int], None]:
        """Report that a stage of `total` steps starts; returns the function to advance it."""
        return self.progress(label, total) if self.progress else _no_progress


def _no_progress(n: int) -> None:
    return None


@dataclass(frozen=True)
class ProbeReport:
    """Scores per layer: curves[name][k] for layer k (0 = embedding output)."""

    task: str  # "labels" | "tags"
    model: str
    weights_sha256: str
    layers: tuple[int, ...]
    curves: dict[str, list[float]]
    notes: tuple[str, ...] = ()
    counts: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "model": self.model,
            "weights_sha256": self.weights_sha256,
            "layers": list(self.layers),
            "curves": {k: [round(v, 4) for v in vs] for k, vs in self.curves.items()},
            "counts": self.counts,
            "notes": list(self.notes),
        }


def _sklearn() -> Any:
    try:
        from sklearn import linear_model, metrics, model_selection, pipeline, preprocessing  # type: ignore[import-untyped]
    except ImportError as e:  # pragma: no cover - the extra installs it
        raise ExtraMissingError("analysis", "scikit-learn", "bertex probe") from e
    return linear_model, metrics, model_selection, pipeline, preprocessing


def classifier(max_iter: int = 500, seed: int = 0) -> Any:
    """The probe: standardised features, then a multinomial logistic regression."""
    lm, _, _, pipe, pre = _sklearn()
    return pipe.make_pipeline(
        pre.StandardScaler(), lm.LogisticRegression(max_iter=max_iter, random_state=seed)
    )


def control_model(model: Model, seed: int = 0) -> Model:
    """A fresh copy of the model with every weight re-initialised by the model's own
    `_init_weights` under `seed`: the architecture and tokenizer without the pretraining."""
    import torch

    from ..loader import load

    copy = load(model.info.path)  # a new Model: the caller's weights stay untouched
    module = copy.backend.model  # type: ignore[attr-defined]
    # subtle: transformers (>= 5) marks every loaded tensor `_is_hf_initialized`, and its init
    # functions then leave the tensor as loaded: clear the mark or nothing is re-initialised.
    for t in [*module.parameters(), *module.buffers()]:
        if getattr(t, "_is_hf_initialized", False):
            t._is_hf_initialized = False
    torch.manual_seed(seed)
    with torch.no_grad():
        module.apply(module._init_weights)
    return copy


def _folds(labels: Sequence[str], rows: Sequence[int], k: int, path: object) -> None:
    """k-fold CV needs k examples of every class; name the class and its rows otherwise."""
    count = Counter(labels)
    for label, n in sorted(count.items(), key=lambda kv: kv[1]):
        if n < k:
            where = [r for r, lab in zip(rows, labels) if lab == label][:5]
            raise DataFileError(
                path,
                where[0] if where else None,
                f"class {label!r} has {n} example(s) (rows {where}); {k}-fold CV needs at "
                f"least {k} per class: add examples, lower --folds, or give --test",
            )


def _scores(y: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    _, metrics, *_ = _sklearn()
    acc = float(metrics.accuracy_score(y, pred))
    return acc, float(metrics.f1_score(y, pred, average="macro", zero_division=0))


def _predict_per_layer(
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray | None,
    groups: np.ndarray | None,
    opts: ProbeOptions,
    name: str = "model",
) -> list[np.ndarray]:
    """Per layer k of x (N, K, H): predictions for the test rows (or out-of-fold for all)."""
    _, _, ms, *_ = _sklearn()
    out = []
    advance = opts.stage(f"fitting a probe per layer ({name})", x.shape[1])
    for k in range(x.shape[1]):
        clf = classifier(opts.max_iter, opts.seed)
        if x_test is not None:
            out.append(clf.fit(x[:, k], y).predict(x_test[:, k]))
        else:
            cv = (
                ms.StratifiedKFold(opts.folds, shuffle=True, random_state=opts.seed)
                if groups is None
                else ms.GroupKFold(opts.folds)  # whole sentences stay on one side of a split
            )
            out.append(ms.cross_val_predict(clf, x[:, k], y, cv=cv, groups=groups))
        advance(1)
    return out


def probe_labels(
    model: Model,
    path: str,
    test: str | None = None,
    pooling: str | None = None,
    limit: int | None = None,
    opts: ProbeOptions = ProbeOptions(),
) -> ProbeReport:
    """Accuracy and macro-F1 per layer of a probe on pooled sentence vectors."""
    train = data.read_labelled(path, limit=limit)
    held = data.read_labelled(test) if test else None
    if held is None:
        _folds(train.labels, train.rows, opts.folds, path)
    pooling = pooling or default_pooling(model)
    y = np.asarray(train.labels)
    y_eval = np.asarray(held.labels) if held else y
    majority = Counter(train.labels).most_common(1)[0][0]
    curves: dict[str, list[float]] = {}
    models = [("model", model)] + (
        [("control", control_model(model, opts.seed))] if opts.control else []
    )
    for name, m in models:
        n = len(train.texts) + (len(held.texts) if held else 0)
        opts.stage(f"embedding {n} texts, every layer ({name})", n)
        x = sentence_features(m, train.texts, [pooling], opts.batch_size)[pooling]  # (N, K, H)
        xt = sentence_features(m, held.texts, [pooling], opts.batch_size)[pooling] if held else None
        preds = _predict_per_layer(x, y, xt, None, opts, name)
        scores = [_scores(y_eval, p) for p in preds]
        curves[f"{name} accuracy"] = [a for a, _ in scores]
        curves[f"{name} macro-F1"] = [f for _, f in scores]
    base = _scores(y_eval, np.full(len(y_eval), majority))
    n_layers = model.info.num_layers + 1
    curves["majority baseline accuracy"] = [base[0]] * n_layers
    curves["majority baseline macro-F1"] = [base[1]] * n_layers
    how = f"test file {test}" if held else f"{opts.folds}-fold CV"
    notes = (
        (
            f"{len(train.texts)} texts, {len(set(train.labels))} classes, pooling={pooling}, "
            f"{how}; majority class {majority!r}"
        ),
    )
    counts = {
        "texts": len(train.texts),
        "classes": sorted(set(train.labels)),
        "pooling": pooling,
        "evaluation": how,
    }
    return ProbeReport(
        "labels",
        model.info.name,
        model.weights_sha256,
        tuple(range(n_layers)),
        curves,
        notes,
        counts,
    )


def probe_tags(
    model: Model,
    path: str,
    test: str | None = None,
    limit: int | None = None,
    opts: ProbeOptions = ProbeOptions(),
) -> ProbeReport:
    """Token accuracy and entity F1 per layer of a probe on word vectors (sub-words merged)."""
    train = data.read_conll(path, limit)
    held = data.read_conll(test) if test else None
    y = np.asarray([t for s in train.tags for t in s])
    groups = None if held else np.repeat(np.arange(len(train.tags)), [len(s) for s in train.tags])
    gold = held.tags if held else train.tags
    curves: dict[str, list[float]] = {}
    models = [("model", model)] + (
        [("control", control_model(model, opts.seed))] if opts.control else []
    )
    feats = None
    for name, m in models:
        n = len(train.words) + (len(held.words) if held else 0)
        advance = opts.stage(f"embedding {n} sentences, every layer ({name})", n)
        feats = word_features(m, train.words, batch_size=opts.batch_size, on_batch=advance)
        xt = (
            word_features(m, held.words, batch_size=opts.batch_size, on_batch=advance).vectors
            if held
            else None
        )
        preds = _predict_per_layer(feats.vectors, y, xt, groups, opts, name)
        flat_gold = np.asarray([t for s in gold for t in s])
        curves[f"{name} token accuracy"] = [float((p == flat_gold).mean()) for p in preds]
        curves[f"{name} entity F1"] = [bio.entity_f1(gold, _unflat(p, gold)) for p in preds]
    majority = Counter(y.tolist()).most_common(1)[0][0]
    n_layers = model.info.num_layers + 1
    flat = [t for s in gold for t in s]
    curves["majority baseline token accuracy"] = [flat.count(majority) / len(flat)] * n_layers
    curves["majority baseline entity F1"] = [
        bio.entity_f1(gold, [[majority] * len(s) for s in gold])
    ] * n_layers
    assert feats is not None
    bad = bio.bad_transitions(train.tags) + (bio.bad_transitions(held.tags) if held else 0)
    n_words = len(y)
    how = f"test file {test}" if held else f"{opts.folds}-fold CV over sentences"
    notes = (
        f"{len(train.words)} sentences, {n_words} words, {len(set(y.tolist()))} tags, {how}",
        (
            f"{feats.n_split} of {n_words} words were split into {feats.n_subwords_of_split} "
            f"sub-words (merged: {feats.subword}); "
            f"{feats.n_dropped} words had no token (zero vector)"
        ),
        f"{bad} I- tags without a B- before them (counted as entity starts, as seqeval does)",
    )
    counts = {
        "sentences": len(train.words),
        "words": n_words,
        "split_words": feats.n_split,
        "subwords_of_split_words": feats.n_subwords_of_split,
        "subword": feats.subword,
        "words_without_tokens": feats.n_dropped,
        "bad_bio_transitions": bad,
        "evaluation": how,
    }
    return ProbeReport(
        "tags", model.info.name, model.weights_sha256, tuple(range(n_layers)), curves, notes, counts
    )


def _unflat(flat: np.ndarray, like: Sequence[Sequence[str]]) -> list[list[str]]:
    """Flat per-word predictions -> one list per sentence, shaped like `like`."""
    out, i = [], 0
    for s in like:
        out.append(flat[i : i + len(s)].tolist())
        i += len(s)
    return out
