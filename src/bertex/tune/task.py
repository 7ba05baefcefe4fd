"""The contract a tuning task fulfils, the base model it starts from, and the registry.

A task is a small class over the shared trainer (see the package docstring for a worked
example): it reads and checks its data, builds its model from the base checkpoint, collates
rows into a batch, computes the loss of a batch, scores the dev rows, and saves its model
files. The trainer owns everything else: the loop, precision, devices, DDP, progress,
checkpoints, resume, per-epoch evaluation, the best epoch, training.json and the output folder.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import OptionError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from ..models.source import Source
    from .options import TuneOptions


@dataclass(frozen=True)
class Base:
    """The checkpoint a job starts from: its checked folder, tokenizer and what it says."""

    name: str  # as the user gave it
    source: Source  # folder, sentence-transformers pooling/normalize/max length
    tokenizer: Any  # a fast Hugging Face tokenizer (casing fixed as bertex loads it)
    config: Any  # the transformers config
    sha256: str  # of the weight files
    max_length: int  # tokens per input: --max-length, else the model's own limit
    pooling: str  # the sentence pooling the model's configuration says (mean when silent)
    normalize: bool  # whether its sentence vectors are L2-normalized

    @property
    def folder(self) -> Path:
        return self.source.folder


@dataclass(frozen=True)
class TaskData:
    """What `Task.read` returns: rows are whatever the task's collate and evaluate take."""

    train: Sequence[Any]
    dev: Sequence[Any]
    files: dict[str, Path]  # role -> file, hashed into training.json ("train", "dev")
    notes: tuple[str, ...] = ()  # said to the user and kept in training.json
    dev_source: str = "dev file"  # or "held-out slice of --train (N rows, seed S)"


@dataclass(frozen=True)
class Metrics:
    """A dev evaluation: every figure, and which one picks the best epoch."""

    values: dict[str, float]
    primary: str  # a key of values
    greater_is_better: bool = True

    @property
    def score(self) -> float:
        return self.values[self.primary]

    def better_than(self, other: Metrics | None) -> bool:
        if other is None or other.score != other.score:  # none yet, or NaN
            return True
        return self.score > other.score if self.greater_is_better else self.score < other.score


@dataclass
class Step:
    """What the trainer passes to `Task.collate` besides the rows: a generator seeded from
    (seed, epoch, step), so random masking gives the same batch after a resume."""

    epoch: int
    step: int
    rng: torch.Generator
    extras: dict[str, Any] = field(default_factory=dict)


class Task:
    """Subclass, set the class attributes, implement the six methods, then `register(cls)`.

    `Options` is a frozen keyword-only dataclass of the task's own options (fields made with
    `options.opt(default, help, choices=...)`): the CLI turns them into flags.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""  # the CLI help line
    Options: ClassVar[type] = object

    def __init__(self, opts: TuneOptions, task_opts: Any) -> None:
        self.opts, self.task_opts = opts, task_opts

    def read(self, base: Base) -> TaskData:
        """Read and check --train/--dev: a one-line DataFileError (file, row, reason) for every
        bad input, before anything trains. No dev file: take a held-out slice (data.hold_out)."""
        raise NotImplementedError

    def build(self, base: Base, data: TaskData) -> nn.Module:
        """The trainable model, from the base checkpoint (the trainer seeds torch first)."""
        raise NotImplementedError

    def collate(self, rows: Sequence[Any], step: Step) -> dict[str, Any]:
        """Rows -> one batch (tensors on CPU; the trainer moves every tensor to the device)."""
        raise NotImplementedError

    def loss(self, model: nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        """The scalar loss of one batch. `model` may be DDP-wrapped: call it, do not reach
        into it (gather in-batch negatives with trainer.gather_with_grad)."""
        raise NotImplementedError

    def evaluate(self, model: nn.Module, rows: Sequence[Any]) -> Metrics:
        """Score the dev rows (the trainer puts the model in eval mode under no_grad)."""
        raise NotImplementedError

    def save(self, model: nn.Module, base: Base, folder: Path) -> None:
        """Write the model's files into `folder` (a fresh temporary folder the trainer renames
        into place): config.json, model.safetensors, tokenizer files, anything else it needs."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Extra facts for training.json and the model card (the loss, the labels...)."""
        return {}


TASKS: dict[str, type[Task]] = {}
_LAZY: dict[str, tuple[str, str]] = {}  # task name -> (module registering it, summary)


def register(cls: type[Task]) -> type[Task]:
    """Class decorator: make a task known to bertex.tune and `bertex tune`."""
    TASKS[cls.name] = cls
    return cls


def register_lazy(name: str, module: str, summary: str) -> None:
    """Name a task (and its help line) before its module is imported: the module imports
    torch, and `bertex --help` should not wait for it."""
    _LAZY[name] = (module, summary)


def get(name: str) -> type[Task]:
    import importlib

    if name not in TASKS and name in _LAZY:
        importlib.import_module(_LAZY[name][0])
    if name not in TASKS:
        raise OptionError("task", name, sorted(set(TASKS) | set(_LAZY)))
    return TASKS[name]


def names() -> list[str]:
    return sorted(set(TASKS) | set(_LAZY))


def summary(name: str) -> str:
    """A task's help line, without importing its module when it is registered lazily."""
    return _LAZY[name][1] if name in _LAZY else TASKS[name].summary


Factory = Callable[..., Task]
