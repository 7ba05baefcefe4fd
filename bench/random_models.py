"""Seeded random-weight BERT checkpoints with the default model's tokenizer, for the benches
whose model must be a given size (bert-base's configuration, a 1-layer toy) rather than real."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any


def bert_base(folder: Path) -> Path:
    """bert-base-uncased's configuration with seeded random weights and MiniLM's vocabulary
    (the same 30,522 uncased WordPiece vocabulary), saved once."""
    from transformers import BertConfig

    if not (folder / "config.json").exists():
        random_bert(folder, BertConfig())
    return folder


def random_bert(folder: Path, config: Any, tokenizer: Path | None = None) -> Path:
    """A BertModel of `config` with seeded random weights and the tokenizer files of
    `tokenizer` (a folder; the default model's when None)."""
    import torch
    from transformers import BertModel

    import bertex

    src = tokenizer or Path(bertex.models.source.resolve("all-MiniLM-L6-v2").folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(src / name, folder / name)
    torch.manual_seed(0)
    BertModel(config).eval().save_pretrained(str(folder))
    return folder
