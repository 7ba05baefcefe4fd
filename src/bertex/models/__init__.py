"""Models: resolve a name to a folder (source.py), load Hugging Face folders (hf.py), and
build a ready Model from them (the loader lives in bertex.load)."""

from .hf import (
    ModelInfo,
    check_vocab,
    describe,
    fix_casing,
    load_tokenizer,
    load_torch_model,
    lowercases,
    quiet_transformers,
)
from .source import DEFAULT_MODEL, Source, check_folder, resolve, weights_sha256

__all__ = [
    "DEFAULT_MODEL",
    "ModelInfo",
    "Source",
    "check_folder",
    "check_vocab",
    "describe",
    "fix_casing",
    "load_tokenizer",
    "load_torch_model",
    "lowercases",
    "quiet_transformers",
    "resolve",
    "weights_sha256",
]
