"""`bertex tune qa`: extractive question answering (SQuAD v1.1 / v2.0) trained end to end.

The model reads "[CLS] question [SEP] context window [SEP]" and learns the answer's first and
last token (qa_data.py: contexts longer than the window are split with a document stride;
a window without the answer points at [CLS]). Exact match and F1 on dev after every epoch
(the answer decoded over all windows of a question as transformers' run_qa does; with
unanswerable questions in the data, an empty answer wins when [CLS] scores higher); the best
epoch by F1 is kept. The output is an AutoModelForQuestionAnswering folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DataFileError, OptionError
from . import qa_data as qd
from . import task_models as tm
from .data import hold_out
from .options import opt
from .qa_decode import decode
from .task import Base, Metrics, TaskData, register
from .task_metrics import qa_scores

INPUTS = ("input_ids", "attention_mask", "token_type_ids", "start_positions", "end_positions")


@dataclass(frozen=True, kw_only=True)
class QAOptions:
    doc_stride: int = opt(128, "tokens shared by neighbouring windows of a long context")
    max_answer_tokens: int = opt(30, "the longest answer (in tokens) the decoding considers")
    n_best: int = opt(20, "start and end candidates per window the decoding tries")
    test: str | None = opt(None, "a held-out SQuAD file scored once with the kept weights")

    def __post_init__(self) -> None:
        for name in ("doc_stride", "max_answer_tokens", "n_best"):
            if getattr(self, name) < 1:
                raise OptionError(name, getattr(self, name), ["an integer >= 1"])


@register
class QATask(tm.TaskModelTask):
    name = "qa"
    summary = "extractive question answering from SQuAD-format JSON (v2.0 no-answers too)"
    Options = QAOptions
    head = "AutoModelForQuestionAnswering"
    inputs = INPUTS  # positions (B,)

    def read(self, base: Base) -> TaskData:
        t = self.task_opts
        train: Sequence[qd.QAExample] = qd.read_squad(self.opts.train)
        self.test_examples = qd.read_squad(t.test) if t.test else None
        if self.opts.dev:
            dev: Sequence[qd.QAExample] = qd.read_squad(self.opts.dev)
            source = f"{self.opts.dev} ({len(dev)} questions)"
        else:
            train, dev = _held_out(train, self.opts)
            source = (
                f"no --dev: a held-out slice of --train ({len(dev)} questions, "
                f"{self.opts.dev_fraction:.0%}, seed {self.opts.seed}), not trained on"
            )
        self.base, self.dev_examples = base, dev
        self.allow_null = any(not e.answers for e in (*train, *dev))
        self.collator = self.make_collator(base.tokenizer)
        rows = self._features(train, self.opts.train)
        dev_rows = self._features(dev, self.opts.dev or self.opts.train)
        if self.test_examples is not None:  # checked now: a bad question fails before training
            self._features(self.test_examples, str(t.test))
        unanswerable = sum(not e.answers for e in train)
        said = (
            f"{len(train)} questions ({unanswerable} with no answer), {len(rows)} windows of "
            f"{base.max_length} tokens (doc stride {t.doc_stride})"
        )
        return TaskData(rows, dev_rows, tm.files(self.opts, t.test), (said,), source)

    def _features(self, examples: Sequence[qd.QAExample], source: str) -> list[dict[str, Any]]:
        """Rows: the model inputs and labels, plus each window's example and offsets."""
        f = qd.qa_features(
            self.base.tokenizer, examples, self.base.max_length, self.task_opts.doc_stride, source
        )
        return [
            {**feat, "example": k, "offsets": offs}
            for feat, k, offs in zip(f.features, f.example, f.offsets)
        ]

    def evaluate(self, model: torch.nn.Module, rows: Sequence[dict[str, Any]]) -> Metrics:
        return Metrics(self.score(model, rows, self.dev_examples), "f1")

    def score(
        self, model: torch.nn.Module, rows: Sequence[dict[str, Any]], examples: Sequence[Any]
    ) -> dict[str, float]:
        """Exact match and F1 of the decoded answers against every gold answer."""
        width = max(len(r["input_ids"]) for r in rows)
        start = np.full((len(rows), width), -1e4, dtype=np.float32)  # (F, T)
        end = np.full((len(rows), width), -1e4, dtype=np.float32)
        i = 0
        for chunk, out in tm.batches(model, rows, self.collate):
            s, e = out.start_logits.float().cpu().numpy(), out.end_logits.float().cpu().numpy()
            for j, r in enumerate(chunk):  # (B, T_batch) -> each window's own length
                n = len(r["input_ids"])
                start[i, :n], end[i, :n] = s[j, :n], e[j, :n]
                i += 1
        feats = qd.QAFeatures(
            list(rows), [r["example"] for r in rows], [r["offsets"] for r in rows], 0
        )
        t = self.task_opts
        got = decode(start, end, feats, examples, self.allow_null, t.n_best, t.max_answer_tokens)
        gold = {e.id: [a.text for a in e.answers] for e in examples}
        return qa_scores(gold, {e.id: d.text for e, d in zip(examples, got)})

    def test_score(self, model: torch.nn.Module) -> dict[str, float]:
        ex = self.test_examples
        assert ex is not None
        return self.score(model, self._features(ex, str(self.task_opts.test)), ex)

    def facts(self) -> dict[str, Any]:
        return {"doc_stride": self.task_opts.doc_stride, "no_answer_questions": self.allow_null}


def _held_out(train: Sequence[qd.QAExample], opts: Any) -> tuple[list, list]:
    """Questions held out whole (never a window of a question on both sides)."""
    if len(train) < 2:
        raise DataFileError(
            Path(opts.train), None, "1 question; it cannot also give a held-out dev slice"
        )
    return hold_out(list(train), opts.dev_fraction, opts.seed)
