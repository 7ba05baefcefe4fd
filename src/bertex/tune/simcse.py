"""`bertex tune simcse`: unsupervised SimCSE (Gao et al., 2021) on plain text, one sentence a
line: each sentence is its own positive under two dropout masks, the rest of the batch are
the negatives (MultipleNegativesRanking, temperature 0.05).

Dev: scored pairs (--dev, Spearman), else a held-out slice of the sentences scored by the same
objective (the loss under fixed dropout masks; lower is better).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import OptionError
from .data import hold_out, read_lines
from .encoder import Encoder, count_truncated, tokenize
from .options import opt
from .sentence import EncoderTask, evaluate_pairs, pair_loss, read_pairs, st_loss
from .task import Base, Metrics, Step, TaskData, register


@dataclass(frozen=True, kw_only=True)
class SimcseOptions:
    score_range: str = opt("auto", "LO,HI of the --dev scores (auto: 0,1 or 0,5 or -1,1)")
    temperature: float = opt(0.05, "softmax temperature of the contrastive loss")

    def __post_init__(self) -> None:
        if not 0 < self.temperature <= 1:
            raise OptionError("temperature", self.temperature, ["a number in (0, 1]"])


@register
class SimcseTask(EncoderTask):
    name = "simcse"
    summary = "unsupervised SimCSE on plain text (one sentence a line), dropout as augmentation"
    Options = SimcseOptions
    loss_label = "mnrl (SimCSE)"

    def read(self, base: Base) -> TaskData:
        sentences = list(read_lines(self.opts.train))
        files = {"train": Path(self.opts.train)}
        notes = [f"{files['train'].name}: {len(sentences)} sentences"]
        if self.opts.dev:
            dev: list[Any] = list(read_pairs(self.opts.dev, self.task_opts.score_range)[0])
            files["dev"] = Path(self.opts.dev)
            source = f"{self.opts.dev} ({len(dev)} pairs)"
        else:
            sentences, dev = hold_out(sentences, self.opts.dev_fraction, self.opts.seed)
            source = (
                f"no --dev: a held-out slice of --train ({len(dev)} sentences, seed "
                f"{self.opts.seed}) scored by the SimCSE loss (lower is better)"
            )
        cut = count_truncated(base, sentences)
        if cut:
            notes.append(f"{cut} training sentences are over {base.max_length} tokens: truncated")
        return TaskData(sentences, dev, files, tuple(notes), source)

    def collate(self, rows: Sequence[str], step: Step) -> dict[str, Any]:
        features = tokenize(self.base, list(rows))
        return {"features": [features, features], "labels": torch.zeros(len(rows))}

    def loss(self, model: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        if getattr(self, "_loss", None) is None:
            self._loss = st_loss("mnrl", None, 0, 1)
            self._loss.scale = 1.0 / self.task_opts.temperature
        return pair_loss(self._loss, model, batch["features"], batch["labels"])

    def evaluate(self, model: torch.nn.Module, rows: Sequence[Any]) -> Metrics:
        assert isinstance(model, Encoder)
        if rows and not isinstance(rows[0], str):
            return evaluate_pairs(model, self.base, rows)
        return Metrics({"dev_loss": self._held_out_loss(model, rows)}, "dev_loss", False)

    def _held_out_loss(self, model: Encoder, rows: Sequence[str], batch: int = 64) -> float:
        """The SimCSE loss on held-out sentences, dropout on under a fixed seed (so every
        epoch is scored with the same masks), the RNG of training left untouched."""
        total, n = 0.0, 0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.opts.seed)
            model.train()
            try:
                for s in range(0, len(rows), batch):
                    chunk = self.collate(rows[s : s + batch], Step(0, 0, torch.Generator()))
                    device = next(model.parameters()).device
                    feats = [{k: v.to(device) for k, v in f.items()} for f in chunk["features"]]
                    total += float(
                        self.loss(model, {"features": feats, "labels": chunk["labels"]})
                    ) * len(chunk["labels"])
                    n += len(chunk["labels"])
            finally:
                model.eval()
        return total / max(n, 1)
