"""The base checkpoint, and the sentence encoder that pairs and simcse train.

`Encoder` is the transformer plus the pooling and normalization the model's configuration
says, as one torch module: called on a feature dict it returns {"sentence_embedding": (B, H)},
the interface sentence-transformers' losses call, so their losses (CoSENT, CachedMNRL...) run
on it unchanged. It is saved as a Hugging Face folder plus sentence-transformers' module files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import BrokenModelError, OptionError
from .options import TuneOptions
from .task import Base

POOLINGS = ("mean", "cls", "max", "mean_sqrt_len")
ST_KEYS = {
    "mean": "pooling_mode_mean_tokens",
    "cls": "pooling_mode_cls_token",
    "max": "pooling_mode_max_tokens",
    "mean_sqrt_len": "pooling_mode_mean_sqrt_len_tokens",
}


def load_base(opts: TuneOptions) -> Base:
    """Resolve and check --model the way every bertex command does (one-line errors)."""
    from ..models.hf import load_tokenizer, quiet_transformers
    from ..models.source import check_folder, max_length, resolve, weights_sha256

    quiet_transformers()
    src = resolve(opts.model)
    check_folder(src.folder)
    tok, _ = load_tokenizer(src.folder)
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(src.folder))
    limit = max_length(src, config, tok)
    if opts.max_length > limit:
        raise OptionError(
            "max_length", opts.max_length, [f"1..{limit}"], f"the model takes {limit} tokens"
        )
    return Base(
        name=opts.model,
        source=src,
        tokenizer=tok,
        config=config,
        sha256=weights_sha256(src.folder),
        max_length=opts.max_length or limit,
        pooling=src.st_pooling or "mean",
        normalize=src.st_normalize,
    )


def pool(tokens: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """(B, T, H) token states and (B, T) attention mask -> (B, H), padding excluded."""
    if how == "cls":
        return tokens[:, 0]
    m = mask.unsqueeze(-1).to(tokens.dtype)  # (B, T, 1)
    if how == "max":
        return tokens.masked_fill(m == 0, torch.finfo(tokens.dtype).min).max(dim=1).values
    total = (tokens * m).sum(dim=1)  # (B, H)
    count = m.sum(dim=1).clamp(min=1e-9)  # (B, 1)
    return total / (count.sqrt() if how == "mean_sqrt_len" else count)


class Encoder(nn.Module):
    """transformer -> pooling -> (normalize): features -> {"sentence_embedding": (B, H)}."""

    def __init__(self, transformer: nn.Module, pooling: str, normalize: bool) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise OptionError("pooling", pooling, POOLINGS)
        self.transformer: Any = transformer  # a transformers PreTrainedModel
        self.pooling, self.normalize = pooling, normalize

    @classmethod
    def from_base(cls, base: Base) -> Encoder:
        from transformers import AutoModel

        try:
            model = AutoModel.from_pretrained(str(base.folder), dtype=torch.float32)
        except Exception as e:
            raise BrokenModelError(base.folder, f"the weights cannot be loaded ({e})") from None
        return cls(model, base.pooling, base.normalize)

    def forward(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        inputs = {k: v for k, v in features.items() if k in _MODEL_INPUTS}
        tokens = self.transformer(**inputs).last_hidden_state  # (B, T, H)
        vec = pool(tokens, features["attention_mask"], self.pooling)  # (B, H)
        if self.normalize:
            vec = nn.functional.normalize(vec.float(), dim=-1)
        return {"sentence_embedding": vec.float()}

    def save(self, base: Base, folder: Path) -> None:
        """HF folder (config, model.safetensors, tokenizer) + sentence-transformers modules."""
        from ..models.hf import quiet_transformers

        quiet_transformers()  # no "Writing model shards" bar
        self.transformer.save_pretrained(str(folder), safe_serialization=True)
        base.tokenizer.save_pretrained(str(folder))
        write_st_modules(folder, self.pooling, self.normalize, base.max_length, _width(self))


_MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _width(enc: Encoder) -> int:
    return int(enc.transformer.config.hidden_size)


def write_st_modules(
    folder: Path, pooling: str, normalize: bool, max_length: int, width: int
) -> None:
    """modules.json, 1_Pooling/config.json, 2_Normalize/ and sentence_bert_config.json, so
    sentence-transformers (and bertex) read the same pooling, normalization and length."""
    modules: list[dict[str, Any]] = [
        _module(0, "", "Transformer"),
        _module(1, "1_Pooling", "Pooling"),
    ]
    (folder / "1_Pooling").mkdir(exist_ok=True)
    pool_cfg = {"word_embedding_dimension": width, "include_prompt": True}
    pool_cfg.update({key: mode == pooling for mode, key in ST_KEYS.items()})
    _write_json(folder / "1_Pooling" / "config.json", pool_cfg)
    if normalize:
        modules.append(_module(2, "2_Normalize", "Normalize"))
        (folder / "2_Normalize").mkdir(exist_ok=True)
    _write_json(folder / "modules.json", modules)
    _write_json(
        folder / "sentence_bert_config.json", {"max_seq_length": max_length, "do_lower_case": False}
    )


def _module(idx: int, path: str, kind: str) -> dict[str, Any]:
    return {
        "idx": idx,
        "name": str(idx),
        "path": path,
        "type": f"sentence_transformers.models.{kind}",
    }


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")


def tokenize(base: Base, texts: list[str]) -> dict[str, torch.Tensor]:
    """Texts -> padded features (B, T), truncated to the job's max length (counted, said by
    the task when it reads the data)."""
    return dict(
        base.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=base.max_length,
            return_tensors="pt",
        )
    )


def count_truncated(base: Base, texts: list[str]) -> int:
    """How many texts are longer than the job's max length (they are truncated in training)."""
    lengths = base.tokenizer(texts, add_special_tokens=True, return_length=True)["length"]
    return sum(n > base.max_length for n in lengths)
