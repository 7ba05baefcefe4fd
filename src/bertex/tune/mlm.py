"""`bertex tune mlm`: continued masked-LM pre-training on the user's own text (domain-adaptive
pre-training), a task on the shared trainer.

    --train corpus.txt (one document a line) -> documents held out for dev (or --dev)
    -> tokenized with word ids -> packed into full-length blocks -> each epoch a fresh masking
       per block (whole words, one unit per Han character, 80/10/10), seeded by
       (seed, epoch, block): a resumed run masks exactly as an uninterrupted one
    dev: masked-token accuracy and perplexity under one fixed masking, every epoch

A checkpoint without a masked-LM head (a sentence-transformers folder such as the default
model) gets one from its tied word embeddings (mlm_model.py), and the job says so. The output
is a Hugging Face masked-LM folder (AutoModelForMaskedLM and AutoModel load it) that keeps the
base's sentence-transformers pooling files and its pooler, so `bertex embed --model DIR` pools
as the base did and `bertex fill --model DIR` fills masks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import BrokenModelError, DataFileError, OptionError
from .data import hold_out, read_lines
from .masking import rng_for
from .mlm_data import DEV_EPOCH, MaskedBlocks, blocks_of, spec_of
from .mlm_model import SparseMLM, evaluate, load_for_mlm
from .options import opt
from .packing import Block, pad_batch
from .task import Base, Metrics, Step, Task, TaskData, register

Row = tuple[int, Block]  # (block index: the masks' seed, the block)


@dataclass(frozen=True, kw_only=True)
class MlmOptions:
    mask_probability: float = opt(0.15, "share of tokens predicted (whole words, 80/10/10)")

    def __post_init__(self) -> None:
        if not 0 < self.mask_probability < 1:
            raise OptionError("mask_probability", self.mask_probability, ["a fraction in (0, 1)"])


@register
class MlmTask(Task):
    name = "mlm"
    summary = (
        "continued masked-LM pre-training on plain text (one document a line): "
        "domain adaptation; whole-word masking"
    )
    Options = MlmOptions

    def read(self, base: Base) -> TaskData:
        self.base = base
        if base.tokenizer.mask_token_id is None:
            raise BrokenModelError(base.folder, "the tokenizer has no mask token to train with")
        docs = list(read_lines(self.opts.train))
        files = {"train": Path(self.opts.train)}
        if self.opts.dev:
            dev_docs = list(read_lines(self.opts.dev))
            files["dev"] = Path(self.opts.dev)
            source = f"{self.opts.dev} ({len(dev_docs)} documents)"
        else:
            if len(docs) < 2:
                raise DataFileError(
                    files["train"], None, "one document: give --dev, or more lines to hold out"
                )
            docs, dev_docs = hold_out(docs, self.opts.dev_fraction, self.opts.seed)
            source = (
                f"no --dev: a held-out slice of --train ({len(dev_docs)} documents, seed "
                f"{self.opts.seed}), masked once with a fixed seed"
            )
        tok, length = base.tokenizer, base.max_length
        train = list(enumerate(blocks_of(docs, tok, length)))
        dev = list(enumerate(blocks_of(dev_docs, tok, length)))
        self.model, self.head_note = load_for_mlm(base.folder)
        self.spec = spec_of(tok, int(self.model.config.vocab_size), self.task_opts.mask_probability)
        tokens = sum(len(b) for _, b in train)
        notes = [
            f"{files['train'].name}: {len(docs)} documents, {tokens} tokens in {len(train)} "
            f"blocks of {length}"
        ]
        if self.head_note:
            notes.append(self.head_note)
        return TaskData(train, dev, files, tuple(notes), source)

    def build(self, base: Base, data: TaskData) -> torch.nn.Module:
        return SparseMLM(self.model)

    def collate(self, rows: Sequence[Row], step: Step) -> dict[str, Any]:
        return self._batch(rows, step.epoch)

    def _batch(self, rows: Sequence[Row], epoch: int) -> dict[str, Any]:
        from .masking import mask

        masked = [
            mask(b.ids, b.words, self.spec, rng_for(self.opts.seed, epoch, i)) for i, b in rows
        ]
        ids, att, labels = pad_batch(masked, int(self.base.tokenizer.pad_token_id or 0), -100)
        return {  # (B, T) each
            "input_ids": torch.from_numpy(ids),
            "attention_mask": torch.from_numpy(att),
            "labels": torch.from_numpy(labels),
        }

    def loss(self, model: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        return model(**batch)[0]

    def evaluate(self, model: torch.nn.Module, rows: Sequence[Row]) -> Metrics:
        data = MaskedBlocks(
            [b for _, b in rows], self.spec, self.opts.seed, DEV_EPOCH,
            int(self.base.tokenizer.pad_token_id or 0),
        )  # fmt: skip
        score = evaluate(model, data, self.opts.batch_size, next(model.parameters()).device)
        return Metrics(
            {"accuracy": score.accuracy, "perplexity": score.perplexity, "loss": score.loss},
            "accuracy",
        )

    def save(self, model: torch.nn.Module, base: Base, folder: Path) -> None:
        from ..models.hf import quiet_transformers
        from .encoder import write_st_modules

        assert isinstance(model, SparseMLM)
        mlm = model.mlm
        quiet_transformers()
        mlm.save_pretrained(str(folder), safe_serialization=True)
        base.tokenizer.save_pretrained(str(folder))
        _keep_pooler(base.folder, folder, mlm.base_model_prefix)
        if base.source.st_pooling:  # a sentence-transformers base: its pooling stays
            hidden = int(mlm.config.hidden_size)
            write_st_modules(folder, base.pooling, base.normalize, base.max_length, hidden)

    def describe(self) -> dict[str, Any]:
        return {
            "objective": "masked-LM (whole-word masking, Han per character, 80/10/10)",
            "mask_probability": self.task_opts.mask_probability,
            "block_length": self.base.max_length,
            "head": self.head_note or "the checkpoint's own masked-LM head",
        }


def _keep_pooler(base: Path, folder: Path, prefix: str) -> None:
    """A masked-LM class has no pooler: copy the base's pooler weights into the output so
    AutoModel (and a [CLS]-pooler user) gets them back instead of random ones."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    src = base / "model.safetensors"
    if not src.exists():
        return
    with safe_open(str(src), "pt") as f:
        keys = [k for k in f.keys() if k.startswith(("pooler.", f"{prefix}.pooler."))]
        pooler = {k if k.startswith(prefix) else f"{prefix}.{k}": f.get_tensor(k) for k in keys}
    if not pooler:
        return
    out = folder / "model.safetensors"
    tensors = load_file(str(out))
    tensors.update(pooler)
    save_file(tensors, str(out), metadata={"format": "pt"})
