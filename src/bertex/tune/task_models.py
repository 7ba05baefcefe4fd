"""What the three task-head tasks (classify, tag, qa) share on top of the tune machinery:
a transformers AutoModelFor* built from the base checkpoint with the labels in its config,
the dev split (a --dev file, else a held-out slice), batched prediction for evaluation, the
optional --test score with the kept weights, and the standard Hugging Face folder they save.
`TaskModelTask` is the base class the three subclass: build, collate, loss, save and describe
are written once there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch

from ..errors import BrokenModelError
from .data import hold_out
from .runtime import evaluating, to_device
from .task import Base, Step, Task, TaskData

EVAL_BATCH = 32  # rows per forward pass when scoring dev and test rows


def label_order(config: Any, labels: Sequence[str]) -> list[str]:
    """The base model's own label ids when it already has a head for exactly these labels
    (continued fine-tuning keeps its head), else the labels as given.

    >>> class C: label2id = {"B-PER": 1, "O": 0}
    >>> label_order(C(), ["B-PER", "O"]), label_order(C(), ["O", "B-LOC"])
    (['O', 'B-PER'], ['O', 'B-LOC'])
    """
    own = getattr(config, "label2id", None) or {}
    if set(own) == set(labels):
        return sorted(labels, key=lambda y: own[y])
    return list(labels)


def auto_model(auto_class: str, base: Base, labels: Sequence[str] | None, **config: Any) -> Any:
    """transformers' `auto_class` (e.g. "AutoModelForTokenClassification") from the base
    checkpoint's weights; a new head (seeded by the trainer) with id2label/label2id in its
    config, so pipelines and `bertex predict` read the labels back."""
    import transformers

    from ..models.hf import quiet_transformers

    quiet_transformers()  # the "newly initialized: classifier.weight" notice is expected
    kwargs: dict[str, Any] = dict(config)
    if labels is not None:
        kwargs |= {
            "num_labels": len(labels),
            "id2label": dict(enumerate(labels)),
            "label2id": {y: i for i, y in enumerate(labels)},
        }
    try:
        return getattr(transformers, auto_class).from_pretrained(
            str(base.folder), dtype=torch.float32, ignore_mismatched_sizes=True, **kwargs
        )
    except (OSError, ValueError, KeyError) as e:
        raise BrokenModelError(
            base.folder, f"cannot make a {auto_class} of it ({type(e).__name__}: {e})"
        ) from None


def split(opts: Any, train: Sequence[Any], dev: Sequence[Any] | None, unit: str) -> tuple:
    """(train, dev, dev_source): the --dev rows, or a held-out slice of --train (said)."""
    if dev is not None:
        return list(train), list(dev), f"{opts.dev} ({len(dev)} {unit})"
    kept, held = hold_out(list(train), opts.dev_fraction, opts.seed)
    source = (
        f"no --dev: a held-out slice of --train ({len(held)} {unit}, {opts.dev_fraction:.0%}, "
        f"seed {opts.seed}), not trained on"
    )
    return kept, held, source


def files(opts: Any, test: str | None) -> dict[str, Path]:
    """The data files hashed into training.json, by role."""
    out = {"train": Path(opts.train)}
    if opts.dev:
        out["dev"] = Path(opts.dev)
    if test:
        out["test"] = Path(test)
    return out


def batches(
    model: torch.nn.Module,
    rows: Sequence[Any],
    collate: Callable[[Sequence[Any]], dict[str, Any]],
) -> Iterator[tuple[Sequence[Any], Any]]:
    """(rows, model output) per chunk of EVAL_BATCH rows, in order; the caller holds the
    model in eval mode under no_grad (the trainer's evaluate does, and so does `scored`)."""
    device = next(model.parameters()).device
    for i in range(0, len(rows), EVAL_BATCH):
        chunk = rows[i : i + EVAL_BATCH]
        batch = to_device(collate(chunk), device)
        yield chunk, model(**batch)


def scored(model: torch.nn.Module, score: Callable[[], dict[str, float]]) -> dict[str, float]:
    """`score()` with the model in eval mode under no_grad (a --test score after training)."""
    with evaluating(model):
        return score()


def strip(rows: Sequence[dict[str, Any]], keep: Sequence[str]) -> list[dict[str, Any]]:
    """Only the model's inputs and labels of each row (the collator pads every key)."""
    return [{k: r[k] for k in keep if k in r} for r in rows]


def with_test(
    record: dict[str, Any], path: str | None, scores: dict[str, float] | None
) -> dict[str, Any]:
    """A task's training.json facts, plus the --test figures when there were any."""
    if scores is None:
        return record
    return {**record, "test": {"path": path, "metrics": scores}}


def save_folder(model: Any, base: Base, folder: Path) -> None:
    """config.json (with the labels), model.safetensors and the tokenizer files."""
    from ..models.hf import quiet_transformers

    quiet_transformers()
    model.save_pretrained(str(folder), safe_serialization=True)
    base.tokenizer.save_pretrained(str(folder))


class TaskModelTask(Task):
    """A task whose model is a transformers `head` class (AutoModelFor*) over the encoder.

    A subclass sets `head`, `inputs` and `collator_class`; its read() sets `self.labels`
    (None: a head without labels, as QA's) and `self.collator` (`self.make_collator(tok)`);
    it implements evaluate, `test_score` (the --test figures with the kept weights) and
    `facts` (its own training.json fields)."""

    head: ClassVar[str] = ""  # e.g. "AutoModelForTokenClassification"
    inputs: ClassVar[tuple[str, ...]] = ()  # the row keys a batch is made of
    collator_class: ClassVar[str] = "DataCollatorWithPadding"  # a transformers collator
    labels: list[str] | None = None
    collator: Any = None
    test_scores: dict[str, float] | None = None

    def make_collator(self, tokenizer: Any) -> Any:
        import transformers

        return getattr(transformers, self.collator_class)(tokenizer)

    def head_config(self) -> dict[str, Any]:
        """More config.json fields for the new head (classify: its problem_type)."""
        return {}

    def build(self, base: Base, data: TaskData) -> torch.nn.Module:
        return auto_model(self.head, base, self.labels, **self.head_config())

    def collate(self, rows: Sequence[dict[str, Any]], step: Step | None = None) -> dict[str, Any]:
        return dict(self.collator(strip(rows, self.inputs)))  # (B, T) each, padded

    def loss(self, model: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        return model(**batch).loss

    def test_score(self, model: torch.nn.Module) -> dict[str, float]:
        """The --test file's figures (called in eval mode under no_grad)."""
        raise NotImplementedError

    def save(self, model: torch.nn.Module, base: Base, folder: Path) -> None:
        if self.task_opts.test:
            self.test_scores = scored(model, lambda: self.test_score(model))
        save_folder(model, base, folder)

    def facts(self) -> dict[str, Any]:
        """The task's own training.json fields, after "head"."""
        return {}

    def describe(self) -> dict[str, Any]:
        out = {"head": self.head, **self.facts()}
        return with_test(out, self.task_opts.test, self.test_scores)
