"""The options every tuning task shares, and the helpers that turn an options dataclass into
command-line flags: the library, `bertex.tune(...)` and `bertex tune TASK` agree by construction.

A field's `metadata` carries its help line (and `choices` for a string field); the CLI reads
them from here, never from a copy.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import OptionError
from ..models.source import DEFAULT_MODEL

PRECISIONS = ("auto", "fp32", "bf16")
KEEP = ("best", "last")


def opt(default: Any, help: str, **meta: Any) -> Any:
    """A dataclass field with its CLI help (and `choices`) beside its default."""
    return field(default=default, metadata={"help": help, **meta})


@dataclass(frozen=True, kw_only=True)
class TuneOptions:
    """What every `bertex tune TASK` takes. Task-specific options live in the task's own
    dataclass (e.g. `pairs.PairsOptions`)."""

    train: str = opt("", "the training file (the task's help says its format)", required=True)
    out: str = opt("", "the model folder to write (a standard Hugging Face folder)", required=True)
    model: str = opt(DEFAULT_MODEL, "the base model: a folder, a hub id or the embedded default")
    dev: str | None = opt(
        None, "scored every epoch; without it a held-out slice of --train is (and it is said)"
    )
    epochs: int = opt(3, "passes over the training data")
    max_steps: int = opt(0, "stop after this many optimizer steps (0: --epochs decides)")
    batch_size: int = opt(16, "examples per step on each process")
    lr: float = opt(2e-5, "peak learning rate (AdamW), after warm-up, decaying linearly to 0")
    warmup: float = opt(0.1, "fraction of the steps spent warming the learning rate up")
    weight_decay: float = opt(0.01, "AdamW weight decay (not on biases and LayerNorm)")
    grad_accum: int = opt(1, "micro-batches whose gradients make one optimizer step")
    max_grad_norm: float = opt(1.0, "gradients clipped to this norm (as transformers' Trainer)")
    max_length: int = opt(0, "tokens per input (0: the model's own limit)")
    seed: int = opt(42, "one seed for the data order, dropout and the held-out slice")
    precision: str = opt(
        "auto",
        "auto: bf16 autocast where the CPU (or GPU) has bf16, else fp32; a resumed job keeps "
        "its checkpoint's",
        choices=PRECISIONS,
    )
    device: str = opt("auto", "cpu, cuda, cuda:N or auto (cuda when present)")
    dev_fraction: float = opt(0.1, "the held-out slice's share of --train when there is no --dev")
    save_steps: int = opt(50, "optimizer steps between resumable checkpoints (and every epoch)")
    keep: str = opt(
        "best", "which epoch's weights to write: best (dev score) or last", choices=KEEP
    )
    overwrite: bool = opt(False, "replace a --out that holds another job's model")
    quiet: bool = opt(False, "one line per epoch instead of a progress bar")

    def __post_init__(self) -> None:
        check_choices(self)
        for name in ("epochs", "batch_size", "grad_accum"):
            if getattr(self, name) < 1:
                raise OptionError(name, getattr(self, name), ["an integer >= 1"])
        for name in ("max_steps", "max_length", "save_steps"):
            if getattr(self, name) < 0:
                raise OptionError(name, getattr(self, name), ["0 or a positive integer"])
        if not 0 < self.lr < 1:
            raise OptionError("lr", self.lr, ["a number between 0 and 1, e.g. 2e-5"])
        if not 0 <= self.warmup < 1:
            raise OptionError("warmup", self.warmup, ["a fraction in [0, 1)"])
        if not 0 < self.dev_fraction < 1:
            raise OptionError("dev_fraction", self.dev_fraction, ["a fraction in (0, 1)"])
        if not self.train or not self.out:
            missing = "train" if not self.train else "out"
            raise OptionError(missing, "", ["a path"], f"{missing} is required")


def check_choices(opts: Any) -> None:
    """Refuse a string field outside its `choices`, naming the valid ones."""
    for f in fields(opts):
        valid = f.metadata.get("choices")
        if valid and getattr(opts, f.name) not in valid:
            raise OptionError(f.name, getattr(opts, f.name), valid)


# what does not change the weights a job ends with: not part of its fingerprint. The precision
# is not either (auto is bf16 on one machine, fp32 on another): a resume keeps the checkpoint's
# (runtime.resumed), and training.json records the one that ran
NOT_IN_FINGERPRINT = (
    "out", "overwrite", "quiet", "device", "precision", "save_steps", "model", "train", "dev",
)  # fmt: skip


def to_dict(*option_objects: Any) -> dict[str, Any]:
    """One flat dict of every field of the given option dataclasses."""
    out: dict[str, Any] = {}
    for o in option_objects:
        out.update(dataclasses.asdict(o))
    return out


def fingerprint(task: str, options: dict[str, Any], hashes: dict[str, str]) -> str:
    """A job's identity: the task, the options that change the weights and the SHA-256 of the
    data and base model. A resume or a re-run with the same fingerprint is the same job.

    >>> fingerprint("pairs", {"lr": 1e-5, "quiet": True}, {"train": "ab"})[:12]
    'b9d646a59e63'
    """
    kept = {k: v for k, v in sorted(options.items()) if k not in NOT_IN_FINGERPRINT}
    blob = json.dumps({"task": task, "options": kept, "hashes": hashes}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def split_kwargs(task_options: type, kwargs: dict[str, Any]) -> tuple[dict, dict]:
    """Python keyword arguments -> (TuneOptions kwargs, task option kwargs); an unknown name
    is refused with the valid ones."""
    common = {f.name for f in fields(TuneOptions)}
    own = {f.name for f in fields(task_options)}
    unknown = sorted(set(kwargs) - common - own)
    if unknown:
        raise OptionError(unknown[0], kwargs[unknown[0]], sorted(common | own), "unknown option")
    return (
        {k: v for k, v in kwargs.items() if k in common},
        {k: v for k, v in kwargs.items() if k in own},
    )
