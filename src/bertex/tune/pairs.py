"""`bertex tune pairs`: sentence-pair training of the pooled embedding.

Scored pairs (text_a, text_b, score) train with CoSENT (or --loss cosine); unscored
(anchor, positive[, negative]) with in-batch negatives (MultipleNegativesRanking), or its
gradient-cached form (--loss cached-mnrl) so that a large batch fits in memory. The model's
own pooling and normalization are kept, and written as sentence-transformers modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import DataFileError, OptionError
from .data import hold_out
from .encoder import Encoder, count_truncated, tokenize
from .options import check_choices, opt
from .sentence import (
    LOSSES,
    EncoderTask,
    Pair,
    evaluate_pairs,
    pair_loss,
    read_pairs,
    st_loss,
)
from .task import Base, Metrics, Step, TaskData, register


@dataclass(frozen=True, kw_only=True)
class PairsOptions:
    loss: str = opt(
        "auto",
        "auto: cosent for scored pairs, mnrl (in-batch negatives) for unscored ones; "
        "cached-mnrl = mnrl in mini-batches (large batches in little memory)",
        choices=LOSSES,
    )
    score_range: str = opt("auto", "LO,HI of the scores (auto: 0,1 or 0,5 or -1,1 as found)")
    mini_batch: int = opt(32, "cached-mnrl: rows per forward pass")

    def __post_init__(self) -> None:
        check_choices(self)
        if self.mini_batch < 1:
            raise OptionError("mini_batch", self.mini_batch, ["an integer >= 1"])


@register
class PairsTask(EncoderTask):
    name = "pairs"
    summary = "sentence pairs: scored (CoSENT) or anchor/positive (in-batch negatives)"
    Options = PairsOptions

    def read(self, base: Base) -> TaskData:
        from pathlib import Path

        train, said = read_pairs(self.opts.train, self.task_opts.score_range)
        notes = [said]
        files = {"train": Path(self.opts.train)}
        self.scored = train[0].score is not None
        self.loss_name = self.loss_label = self._loss_name()
        if self.opts.dev:
            dev, dev_said = read_pairs(self.opts.dev, self.task_opts.score_range)
            files["dev"] = Path(self.opts.dev)
            notes.append(dev_said)
            source = f"{self.opts.dev} ({len(dev)} pairs)"
        else:
            train, dev = hold_out(train, self.opts.dev_fraction, self.opts.seed)
            source = (
                f"no --dev: a held-out slice of --train ({len(dev)} rows, "
                f"{self.opts.dev_fraction:.0%}, seed {self.opts.seed}), not trained on"
            )
        if len(dev) < 3:
            raise DataFileError(
                files.get("dev", files["train"]),
                None,
                f"{len(dev)} dev rows; the dev score needs at least 3",
            )
        cut = count_truncated(base, [t for r in train for t in (r.a, r.b)])
        if cut:
            notes.append(f"{cut} training texts are over {base.max_length} tokens: truncated")
        return TaskData(train, dev, files, tuple(notes), source)

    def _loss_name(self) -> str:
        name = self.task_opts.loss
        if name == "auto":
            return "cosent" if self.scored else "mnrl"
        if self.scored != (name in ("cosent", "cosine")):
            need = "cosent or cosine" if self.scored else "mnrl or cached-mnrl"
            have = "scored pairs" if self.scored else "unscored pairs"
            raise OptionError(
                "loss",
                name,
                [n for n in LOSSES if n == "auto" or n in need],
                f"the data are {have}",
            )
        return name

    def collate(self, rows: Sequence[Pair], step: Step) -> dict[str, Any]:
        columns = [[r.a for r in rows], [r.b for r in rows]]
        if rows[0].negative is not None:
            columns.append([r.negative or "" for r in rows])
        features = [tokenize(self.base, texts) for texts in columns]
        if self.scored:
            labels = torch.tensor([r.score for r in rows], dtype=torch.float32)  # (B,)
        else:
            labels = torch.zeros(len(rows))  # MNRL's targets are the positions
        return {"features": features, "labels": labels}

    _loss: Any = None
    _loss_model: Any = None

    def loss(self, model: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        if self._loss is None or self._loss_model is not model:
            world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
            self._loss = st_loss(self.loss_name, model, self.task_opts.mini_batch, world)
            self._loss_model = model
        return pair_loss(self._loss, model, batch["features"], batch["labels"])

    def evaluate(self, model: torch.nn.Module, rows: Sequence[Pair]) -> Metrics:
        assert isinstance(model, Encoder)
        return evaluate_pairs(model, self.base, rows)
