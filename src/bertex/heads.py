"""Trained heads: a linear classifier (sentence labels) or tagger (BIO word tags) on one layer.

A head file is one safetensors file: the tensors (scaler mean and scale, coefficients,
intercept) and, in its string metadata, a JSON record of the labels and the provenance of the
features (model name and weights SHA-256, layer, pooling or sub-word merge, max length).
Not pickle: unpickling runs whatever code the file names, so a head from an untrusted source
could run anything; safetensors holds numbers only and JSON holds data only (skops would work
too, with one more dependency and an allow-list of types to keep).

    head = bertex.heads.load("head.bertex")
    head.predict(["a fine film"])  # [Prediction(label='pos', probabilities={...})]
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from ._version import __version__
from .api import Model
from .errors import HeadError, OptionError
from .tasks import spans
from .tasks.classify import Prediction
from .tasks.spans import Entity
from .types import TokenEmbedding, WordEmbedding

FORMAT = "bertex-head/1"


@dataclass(frozen=True)
class Provenance:
    """What the features were: a head only fits vectors made exactly this way."""

    task: str  # "classify" | "tag"
    model: str
    weights_sha256: str
    layer: int  # absolute index, 0 = embedding output
    pooling: str | None  # classify
    subword: str | None  # tag
    max_length: int
    labels: tuple[str, ...]
    bertex_version: str = __version__
    held_out: dict[str, Any] | None = None  # the score on the held-out split (bertex.holdout)


__all__ = ["Entity", "Head", "Prediction", "Provenance", "load"]


@dataclass(frozen=True)
class Head:
    """A fitted linear head: standardise (x - mean) / scale, then softmax(x W^T + b)."""

    provenance: Provenance
    mean: np.ndarray  # (D,)
    scale: np.ndarray  # (D,)
    coef: np.ndarray  # (C, D); (1, D) for two classes (a logistic)
    intercept: np.ndarray  # (C,) or (1,)
    model: Model | None = None

    def log_probabilities(self, x: np.ndarray) -> np.ndarray:
        """Features (N, D) -> log class probabilities (N, C) in the order of provenance.labels,
        in float64 and in log space: finite for any finite head and features (a head with
        extreme weights gives probabilities of exactly 0 and 1, never NaN)."""
        x64 = np.asarray(x, dtype=np.float64)
        std = (x64 - self.mean) / self.scale  # (N, D)
        # einsum, not BLAS: each row's answer is the same whatever else is in the batch
        z = np.einsum("nd,cd->nc", std, self.coef) + self.intercept  # (N, C) or (N, 1)
        if z.shape[1] == 1:  # binary: sklearn keeps one row of weights for the second class
            z = np.concatenate([np.zeros_like(z), z], axis=1)  # softmax([0, z]) = [1-p, p]
        return z - _logsumexp(z)  # (N, C)

    def probabilities(self, x: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
        """Features (N, D) -> class probabilities (N, C); `keep` (C,) of bools renormalises
        over those classes alone (the others get 0)."""
        lp = self.log_probabilities(x)  # (N, C)
        if keep is not None:
            lp = np.where(keep, lp, -np.inf)
        e = np.exp(lp - lp.max(axis=1, keepdims=True))  # (N, C); the largest is exactly 1
        return e / e.sum(axis=1, keepdims=True)  # sums to 1 even where log space lost digits

    def bind(self, model: Model) -> Head:
        """This head with `model` to make features; refuses another model's weights."""
        p = self.provenance
        if model.weights_sha256 != p.weights_sha256:
            raise HeadError(
                f"this head was trained on {p.model} (weights sha256 {p.weights_sha256[:12]}...) "
                f"but the loaded model is {model.info.name} (sha256 "
                f"{model.weights_sha256[:12]}...): its features mean something else; load "
                f"{p.model!r} or train a head for this model"
            )
        return Head(p, self.mean, self.scale, self.coef, self.intercept, model)

    def _model(self) -> Model:
        if self.model is None:
            raise HeadError(
                "this head has no model bound: use heads.load(path) or head.bind(model)"
            )
        return self.model

    @property
    def task(self) -> str:
        return self.provenance.task

    def predict(
        self, texts: list[str], labels: list[str] | None = None, aggregation: str | None = None
    ) -> list[Any]:
        """classify: one Prediction per text; tag: a list of Entity per text.

        `labels` restricts a classifier's answer to some of its classes (others get 0).
        `aggregation` (tag): None labels the word vectors the head was trained on (sub-words
        merged by its `subword` rule); "first" | "average" | "max" | "simple" label each
        sub-token and aggregate the probabilities as transformers' pipeline does.
        """
        if self.provenance.task == "tag":
            if aggregation is not None:
                spans.check_aggregation(aggregation)
            return [self._tag(t, aggregation) for t in texts]
        if aggregation is not None:
            raise OptionError(
                "aggregation", aggregation, [None], "aggregation is for tag heads; this is a "
                "classify head",
            )  # fmt: skip
        keep = self._restrict(labels)
        p = self.provenance
        x = (
            self._model()
            .embed(
                texts, layers=p.layer, pooling=p.pooling, normalize=False, max_length=p.max_length
            )
            .vectors
        )  # (N, D)
        probs = self.probabilities(x, keep)  # (N, C)
        return [
            Prediction(p.labels[int(row.argmax())], dict(zip(p.labels, map(float, row))))
            for row in probs
        ]

    def _restrict(self, labels: list[str] | None) -> np.ndarray:
        known = self.provenance.labels
        if labels is None:
            return np.ones(len(known), dtype=bool)
        if not labels:  # no label left to choose: every probability would be 0/0 (NaN)
            raise OptionError("labels", [], known, "restrict to at least one")
        for label in labels:
            if label not in known:
                raise OptionError("labels", label, known, "this head knows only these labels")
        return np.array([lab in labels for lab in known], dtype=bool)

    def _tag(self, text: str, aggregation: str | None = None) -> list[Entity]:
        p = self.provenance
        if aggregation is not None:
            return self._tag_tokens(text, aggregation)
        r = cast(
            WordEmbedding,
            self._model().embed(
                text, level="word", layers=p.layer, subword=p.subword, max_length=p.max_length
            ),
        )  # vectors (W, D), offsets (W, 2)
        if len(r.words) == 0:
            return []
        probs = self.probabilities(r.vectors)  # (W, C)
        best = probs.argmax(axis=1)
        tags = [p.labels[i] for i in best]
        scores = probs[np.arange(len(best)), best]
        return spans.entities(text, tags, list(scores), [tuple(o) for o in r.offsets])

    def _tag_tokens(self, text: str, aggregation: str) -> list[Entity]:
        p = self.provenance
        r = cast(
            TokenEmbedding,
            self._model().embed(text, level="token", layers=p.layer, max_length=p.max_length),
        )  # vectors (T, D), offsets (T, 2), word_ids (T,) -1 for special tokens
        keep = ~r.special_mask  # (T,)
        if not keep.any():
            return []
        probs = self.probabilities(r.vectors[keep])  # (T', C)
        labels, scores, ranges = spans.words(probs, r.word_ids[keep].tolist(), aggregation)
        offsets = r.offsets[keep]
        where = [(int(offsets[a][0]), int(offsets[b - 1][1])) for a, b in ranges]
        return spans.entities(text, [p.labels[i] for i in labels], list(scores), where)

    def save(self, path: str | Path) -> None:
        from safetensors.numpy import save_file

        tensors = {
            "mean": self.mean,
            "scale": self.scale,
            "coef": self.coef,
            "intercept": self.intercept,
        }
        meta = {"format": FORMAT, "provenance": json.dumps(asdict(self.provenance))}
        save_file(
            {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()},
            str(path),
            metadata=meta,
        )


def load(path: str | Path, model: Model | None = None) -> Head:
    """Read a head file and bind it to `model` (None: load the model the head names); a
    model with other weights is refused."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in ("mean", "scale", "coef", "intercept")}
        if meta.get("format") != FORMAT:
            raise HeadError(
                f"{path}: not a bertex head (format {meta.get('format')!r}, expected {FORMAT!r})"
            )
        record = json.loads(meta["provenance"])
        record["labels"] = tuple(record["labels"])
        prov = Provenance(**record)
    except (SafetensorError, OSError, KeyError, TypeError, ValueError) as e:
        raise HeadError(f"{path}: not a readable bertex head ({type(e).__name__}: {e})") from e
    check(path, prov, tensors)
    as64 = {k: v.astype(np.float64) for k, v in tensors.items()}
    head = Head(prov, as64["mean"], as64["scale"], as64["coef"], as64["intercept"])
    if model is None:
        from .loader import load as load_model

        model = load_model(prov.model)
    return head.bind(model)


TASKS = ("classify", "tag")


def check(path: str | Path, prov: Provenance, t: dict[str, np.ndarray]) -> None:
    """A head file whole, before it is used: the task known, labels unique and one per
    coefficient row, shapes that agree, every number finite and no zero scale. A head that
    fails any of these would answer every input with one label, or write NaN into JSON."""

    def bad(why: str) -> HeadError:
        return HeadError(f"{path}: {why}; retrain the head (bertex train) or use another file")

    if prov.task not in TASKS:
        raise bad(f"task {prov.task!r} is not one bertex knows (valid: {', '.join(TASKS)})")
    labels = prov.labels
    if not all(isinstance(x, str) and x for x in labels):
        raise bad("its labels must be non-empty strings")
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise bad(f"label {dup[0]!r} appears more than once (labels {list(labels)})")
    mean, scale, coef, icpt = t["mean"], t["scale"], t["coef"], t["intercept"]
    if mean.ndim != 1 or scale.shape != mean.shape or coef.ndim != 2 or icpt.ndim != 1:
        raise bad("tensor shapes are not mean (D,), scale (D,), coef (C, D), intercept (C,)")
    if coef.shape[1] != mean.shape[0]:
        raise bad(f"coefficients are {coef.shape[1]} wide, the scaler {mean.shape[0]}")
    rows = 2 if coef.shape[0] == 1 else coef.shape[0]  # one row: a logistic over two labels
    if icpt.shape[0] != coef.shape[0] or len(labels) != rows or rows < 2:
        raise bad(
            f"{len(labels)} labels but {coef.shape[0]} coefficient rows and "
            f"{icpt.shape[0]} intercepts (C labels need C rows, or 1 row for 2 labels)"
        )
    for name, v in t.items():
        if not np.isfinite(v).all():
            where = int(np.flatnonzero(~np.isfinite(v.ravel()))[0])
            raise bad(f"tensor {name!r} holds {v.ravel()[where]} at flat index {where}")
    if (scale == 0).any():
        raise bad(f"tensor 'scale' is 0 at index {int(np.flatnonzero(scale == 0)[0])}")


def _logsumexp(z: np.ndarray) -> np.ndarray:
    """log(sum(exp(z))) over the last axis, kept for broadcasting: (N, C) -> (N, 1)."""
    top = z.max(axis=1, keepdims=True)  # (N, 1); finite while one entry is
    return top + np.log(np.exp(z - top).sum(axis=1, keepdims=True))
