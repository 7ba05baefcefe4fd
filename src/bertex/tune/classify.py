"""`bertex tune classify`: the encoder and a sequence-classification head trained end to end.

Single-label (softmax, cross-entropy), multi-label (a sigmoid per label, binary
cross-entropy: transformers' problem_type "multi_label_classification") and the pair form
(two text columns as one [CLS] a [SEP] b [SEP] input: NLI, paraphrase, relevance; such a
model is a cross-encoder). Accuracy and macro-F1 on dev after every epoch; the best epoch by
macro-F1 is kept. The output is a transformers AutoModelForSequenceClassification folder
with id2label in its config.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from . import classify_data as cd
from . import task_models as tm
from .options import opt
from .task import Base, Metrics, Step, TaskData, register
from .task_metrics import classify_scores, multilabel_scores

INPUTS = ("input_ids", "attention_mask", "token_type_ids", "labels")


@dataclass(frozen=True, kw_only=True)
class ClassifyOptions:
    text_column: str = opt("text", "the column holding the text")
    pair_column: str | None = opt(None, "a second text column: the pair form (a cross-encoder)")
    label_column: str = opt("label", "the column holding the label (or a list of labels)")
    multi_label: bool = opt(
        False, "several labels per text (implied when the label cells are lists)"
    )
    label_sep: str = opt(";", "with --multi-label: splits a label cell written as text")
    test: str | None = opt(None, "a held-out file scored once with the kept weights")


@register
class ClassifyTask(tm.TaskModelTask):
    name = "classify"
    summary = "text (or text-pair) classification, single- or multi-label, trained end to end"
    Options = ClassifyOptions
    head = "AutoModelForSequenceClassification"
    inputs = INPUTS
    labels: list[str]  # in the head's id order (read() sets them)

    def read(self, base: Base) -> TaskData:
        t = self.task_opts
        cols = cd.ClassifyColumns(
            t.text_column, t.label_column, t.pair_column, True if t.multi_label else None,
            t.label_sep,
        )  # fmt: skip
        train = cd.read_classify(self.opts.train, cols)
        known = cd.check_train(train)
        others = {}
        for role, path in (("dev", self.opts.dev), ("test", t.test)):
            if path:
                others[role] = cd.read_classify(path, cols)
                cd.check_dev(others[role], known, train)
        self.base, self.multi = base, train.multi_label
        self.labels = tm.label_order(base.config, known)
        self.collator = self.make_collator(base.tokenizer)
        enc = cd.encode_classify(base.tokenizer, train, self.labels, base.max_length)
        dev = others.get("dev")
        dev_rows = self._encode(dev) if dev is not None else None
        rows, dev_rows, source = tm.split(self.opts, enc.features, dev_rows, "rows")
        self.test = others.get("test")
        notes = [self._said(train, enc.truncated)]
        return TaskData(rows, dev_rows, tm.files(self.opts, t.test), tuple(notes), source)

    def _encode(self, ex: cd.ClassifyExamples) -> list[dict[str, Any]]:
        return cd.encode_classify(
            self.base.tokenizer, ex, self.labels, self.base.max_length
        ).features

    def _said(self, train: cd.ClassifyExamples, truncated: int) -> str:
        counts = {y: 0 for y in self.labels}
        for ys in train.labels:
            for y in ys:
                counts[y] += 1
        kind = "multi-label" if self.multi else "single-label"
        form = ", text pairs (a cross-encoder)" if train.pairs is not None else ""
        shown = ", ".join(f"{y} {n}" for y, n in list(counts.items())[:12])
        more = f" (+{len(counts) - 12} more)" if len(counts) > 12 else ""
        cut = f"; {truncated} over {self.base.max_length} tokens, truncated" if truncated else ""
        return f"{kind}{form}: {len(self.labels)} labels ({shown}{more}){cut}"

    def head_config(self) -> dict[str, Any]:
        kind = "multi_label_classification" if self.multi else "single_label_classification"
        return {"problem_type": kind}

    def collate(self, rows: Sequence[dict[str, Any]], step: Step | None = None) -> dict[str, Any]:
        batch = super().collate(rows, step)  # (B, T) each; labels (B,) | (B, L)
        if self.multi:
            batch["labels"] = batch["labels"].float()
        return batch

    def evaluate(self, model: torch.nn.Module, rows: Sequence[dict[str, Any]]) -> Metrics:
        return Metrics(self.score(model, rows), "macro_f1")

    def score(self, model: torch.nn.Module, rows: Sequence[dict[str, Any]]) -> dict[str, float]:
        """Accuracy and macro-F1 (multi-label: subset accuracy, micro- and macro-F1)."""
        logits = np.concatenate(
            [out.logits.float().cpu().numpy() for _, out in tm.batches(model, rows, self.collate)]
        )  # (N, L)
        gold = np.array([r["labels"] for r in rows])  # (N,) | (N, L)
        if self.multi:
            return multilabel_scores(gold, logits)
        return classify_scores(gold, logits.argmax(axis=1))

    def test_score(self, model: torch.nn.Module) -> dict[str, float]:
        assert self.test is not None
        return self.score(model, self._encode(self.test))

    def facts(self) -> dict[str, Any]:
        return {
            "labels": self.labels,
            "multi_label": self.multi,
            "pair_form": self.task_opts.pair_column is not None,
        }
