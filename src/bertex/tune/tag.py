"""`bertex tune tag`: token classification (NER, POS, chunks) trained end to end.

From CoNLL files or JSONL with character spans (tag_data.py). A word's tag is learnt on its
first sub-token; the other sub-tokens are ignored by the loss (-100) and, when scoring, a
word takes its first sub-token's prediction, as transformers' run_ner does. Entity
precision/recall/F1 by seqeval's rules (and token accuracy) on dev after every epoch; the best
epoch by entity F1 is kept (token accuracy for tags that are not BIO, e.g. POS). The output is
an AutoModelForTokenClassification folder with id2label in its config.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from . import tag_data as td
from . import task_models as tm
from .options import opt
from .task import Base, Metrics, TaskData, register
from .task_metrics import is_bio, tag_scores

INPUTS = ("input_ids", "attention_mask", "token_type_ids", "labels")


@dataclass(frozen=True, kw_only=True)
class TagOptions:
    spans_field: str = opt("entities", "JSONL: the field holding each text's character spans")
    test: str | None = opt(None, "a held-out file scored once with the kept weights")


@register
class TagTask(tm.TaskModelTask):
    name = "tag"
    summary = "token classification (NER, POS) from CoNLL or span JSONL, trained end to end"
    Options = TagOptions
    head = "AutoModelForTokenClassification"
    inputs = INPUTS  # labels padded with -100
    collator_class = "DataCollatorForTokenClassification"
    labels: list[str]  # in the head's id order (read() sets them)

    def read(self, base: Base) -> TaskData:
        t = self.task_opts
        train = td.read_tags(self.opts.train, t.spans_field)
        others = {}
        for role, path in (("dev", self.opts.dev), ("test", t.test)):
            if path:
                others[role] = td.read_tags(path, t.spans_field)
                td.check_dev_tags(others[role], train.label_set())
        self.base, self.tok = base, word_tokenizer(base)
        self.labels = tm.label_order(base.config, train.label_set())
        self.collator = self.make_collator(self.tok)
        rows, notes = self._encode(train)
        dev = others.get("dev")
        dev_rows = self._encode(dev)[0] if dev is not None else None
        rows, dev_rows, source = tm.split(self.opts, rows, dev_rows, "sentences")
        self.test = others.get("test")
        kind = "entity tags" if is_bio(self.labels) else "tags (not BIO: token accuracy)"
        said = f"{len(train.words)} sentences, {sum(map(len, train.words))} words; "
        said += f"{len(self.labels)} {kind}: {', '.join(self.labels[:16])}"
        said += " ..." if len(self.labels) > 16 else ""
        files = tm.files(self.opts, t.test)
        return TaskData(rows, dev_rows, files, (said, *notes), source)

    def _encode(self, ex: td.TagExamples) -> tuple[list[dict[str, Any]], list[str]]:
        """Rows (model inputs + the word map and gold tags for scoring) and what to say."""
        enc = td.encode_tags(self.tok, ex, self.labels, self.base.max_length)
        rows = [
            {**f, "word_ids": w, "tags": tags}
            for f, w, tags in zip(enc.features, enc.word_ids, ex.tags)
        ]
        notes = []
        if enc.cut_words:
            notes.append(
                f"{ex.path}: {enc.cut_words} words past {self.base.max_length} tokens are not "
                "trained on (and are scored as O)"
            )
        if enc.empty_words:
            notes.append(f"{ex.path}: {enc.empty_words} words have no token (not trained on)")
        return rows, notes

    def evaluate(self, model: torch.nn.Module, rows: Sequence[dict[str, Any]]) -> Metrics:
        scores = self.score(model, rows)
        return Metrics(scores, "f1" if "f1" in scores else "token_accuracy")

    def score(self, model: torch.nn.Module, rows: Sequence[dict[str, Any]]) -> dict[str, float]:
        """Word tags from each word's first sub-token, scored against the gold tags."""
        gold, pred = [], []
        for chunk, out in tm.batches(model, rows, self.collate):
            ids = out.logits.argmax(dim=-1).cpu().tolist()  # (B, T)
            for r, p in zip(chunk, ids):
                gold.append(list(r["tags"]))
                pred.append(td.word_tags(p, r["word_ids"], len(r["tags"]), self.labels))
        return tag_scores(gold, pred)

    def test_score(self, model: torch.nn.Module) -> dict[str, float]:
        assert self.test is not None
        return self.score(model, self._encode(self.test)[0])

    def facts(self) -> dict[str, Any]:
        return {"labels": self.labels, "label_alignment": "first sub-token (the rest -100)"}


def word_tokenizer(base: Base) -> Any:
    """The base tokenizer, able to take pre-split words: byte-level BPE tokenizers (RoBERTa,
    GPT-2) need add_prefix_space=True for that, as transformers' run_ner loads them."""
    tok = base.tokenizer
    if getattr(tok, "add_prefix_space", None) is False:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(base.folder), add_prefix_space=True)
    return tok
