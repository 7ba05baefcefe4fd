"""Tuning that changes the encoder: `bertex.tune(TASK, ...)` and `bertex tune TASK`.

The shared machinery (one module each): options.py (TuneOptions, the knobs every task takes),
data.py (tables and text, column checks, SHA-256, the held-out slice), encoder.py (the base
checkpoint; the sentence Encoder), runtime.py (device, bf16 autocast, DDP), trainer.py (the
one loop), checkpoint.py (resumable state, written then renamed), progress.py, output.py
(training.json, model card, plot, --out checks) and run.py (check everything, train, publish).
A task is one small module on it: pairs.py, simcse.py (and mlm, classify, tag, qa).

The task contract (task.py)
---------------------------
A task subclasses `task.Task`, names itself, declares its own options as a frozen keyword-only
dataclass of `options.opt(...)` fields (the CLI makes flags of them), and implements:

    read(base) -> TaskData       check --train/--dev; one-line DataFileError per bad input;
                                 no --dev: data.hold_out(...) and say so in dev_source
    build(base, data) -> Module  the trainable model from the base checkpoint
    collate(rows, step) -> dict  rows -> a batch of CPU tensors; randomness from step.rng
    loss(model, batch) -> Tensor scalar; `model` may be DDP-wrapped: call it, don't unwrap
    evaluate(model, rows) -> Metrics   dev figures + the primary one (greater_is_better)
    save(model, base, folder)    the HF folder's files (config, weights, tokenizer, extras)
    describe() -> dict           optional: facts for training.json and the model card

The trainer owns everything else: seeding, data order, batching per process, gradient
accumulation, AdamW + linear warm-up/decay, clipping, bf16 autocast, the device, DDP,
progress, checkpoints and resume, the per-epoch evaluation, the best epoch, training.json,
the model card, the plot and the write-then-rename of --out. Register the task with
`@task.register` and name its module in this file with `task.register_lazy(name, module, summary)`
(so `bertex tune --help` lists it without importing torch); the CLI (cli/tune.py) then makes
`bertex tune NAME` from the class's `summary` and the two options dataclasses.

A worked example: a classifier over the base encoder's [CLS] vector, in ~40 lines::

    @dataclass(frozen=True, kw_only=True)
    class ClassifyOptions:
        text_column: str = opt("text", "the column holding the text")

    @register
    class Classify(Task):
        name, summary, Options = "classify", "text classification", ClassifyOptions

        def read(self, base):
            table = data.read_table(self.opts.train, ("text", "label"))
            text, label = data.pick_columns(table, [("text",), ("label",)])
            rows = [(data.text_of(table, n, r, text), data.text_of(table, n, r, label))
                    for n, r in table.rows]
            train, dev = data.hold_out(rows, self.opts.dev_fraction, self.opts.seed)
            self.labels = sorted({y for _, y in rows})
            return TaskData(train, dev, {"train": Path(self.opts.train)},
                            dev_source=f"held-out slice ({len(dev)} rows)")

        def build(self, base, data):
            from transformers import AutoModelForSequenceClassification
            self.tok = base.tokenizer
            return AutoModelForSequenceClassification.from_pretrained(
                str(base.folder), num_labels=len(self.labels))

        def collate(self, rows, step):
            batch = dict(self.tok([t for t, _ in rows], padding=True, truncation=True,
                                  return_tensors="pt"))
            batch["labels"] = torch.tensor([self.labels.index(y) for _, y in rows])
            return batch

        def loss(self, model, batch):
            return model(**batch).loss

        def evaluate(self, model, rows):
            batch = to_device(self.collate(rows, None), next(model.parameters()).device)
            hits = (model(**batch).logits.argmax(-1) == batch["labels"]).float()
            return Metrics({"accuracy": float(hits.mean())}, "accuracy")

        def save(self, model, base, folder):
            model.save_pretrained(folder)
            base.tokenizer.save_pretrained(folder)

In Python: `bertex.tune("classify", train="t.csv", out="m", epochs=2)`; on the command line:
`bertex tune classify --train t.csv --out m --epochs 2`; both return/print what training.json
says. Nothing here imports an adapter (cli, server).
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from .task import register_lazy

if TYPE_CHECKING:
    from .run import TuneResult

# each task's module registers its class on import; name them here (one line each)
register_lazy(
    "pairs",
    "bertex.tune.pairs",
    "sentence pairs: scored (CoSENT) or anchor/positive (in-batch negatives)",
)
register_lazy(
    "simcse", "bertex.tune.simcse", "unsupervised SimCSE on plain text (one sentence a line)"
)
register_lazy(
    "mlm",
    "bertex.tune.mlm",
    "continued masked-LM pre-training on plain text (domain adaptation); whole-word masking",
)
register_lazy(
    "classify",
    "bertex.tune.classify",
    "text (or text-pair) classification, single- or multi-label, trained end to end",
)
register_lazy(
    "tag",
    "bertex.tune.tag",
    "token classification (NER, POS) from CoNLL or span JSONL, trained end to end",
)
register_lazy(
    "qa",
    "bertex.tune.qa",
    "extractive question answering from SQuAD-format JSON (v2.0 no-answers too)",
)


def tune(task: str, **options: Any) -> TuneResult:
    """Tune the encoder: `bertex.tune("pairs", train="pairs.csv", out="tuned", epochs=3)`.

    The options are those of `bertex tune TASK --help` (underscores for dashes). Bad input
    raises a one-line bertex error before anything trains; the same call after a kill resumes.
    Returns a TuneResult: `.out` (the folder), `.record` (its training.json), `.best`."""
    from .run import tune as _tune

    return _tune(task, **options)


class _CallablePackage(types.ModuleType):
    """`bertex.tune(...)` is this package called: the function above. The package stays a
    package, so `import bertex.tune.pairs as p` and `from bertex.tune import task` work."""

    def __call__(self, task: str, **options: Any) -> TuneResult:
        return tune(task, **options)


sys.modules[__name__].__class__ = _CallablePackage

__all__ = ["tune"]
