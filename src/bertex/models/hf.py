"""Load the tokenizer and the torch model from a checked folder, and describe them."""

from __future__ import annotations

import logging
import unicodedata
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import BrokenModelError, TokenizerFixWarning
from .source import Source, max_length
from .vocab import vocab_is_cased


@dataclass(frozen=True)
class ModelInfo:
    """What `bertex info` prints and every result's metadata draws on."""

    name: str
    path: str
    source: str
    architecture: str
    model_type: str
    num_layers: int
    hidden_size: int
    num_heads: int
    vocab_size: int
    max_positions: int
    max_length: int
    lowercase: bool
    strip_accents: bool
    default_pooling: str
    pooling_source: str
    default_normalize: bool
    has_pooler: bool
    tokenizer_fixes: tuple[str, ...]
    casing_source: str = "the tokenizer files"  # why lowercase is what it is
    word_split: str = ""  # how level="word" groups tokens into words (Han text included)
    origin: str | None = None  # a converted Google TF checkpoint: its folder and hash

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __call__(self) -> ModelInfo:
        """`model.info` is a value; `model.info()` gives the same value, for those who reach
        for a method (as `bertex info` on the command line suggests)."""
        return self


def quiet_transformers() -> None:
    """transformers' progress bars and advice are noise in a library's output."""
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    logging.getLogger("transformers").setLevel(logging.ERROR)


def load_tokenizer(folder: Path, split_words: bool = False) -> tuple[Any, tuple[str, ...]]:
    from transformers import AutoTokenizer

    kwargs: dict[str, Any] = {"add_prefix_space": True} if split_words else {}
    try:
        tok = AutoTokenizer.from_pretrained(str(folder), **kwargs)
    except Exception as e:  # transformers raises many kinds here
        raise BrokenModelError(
            folder, f"the tokenizer files cannot be loaded ({_short(e)})"
        ) from None
    if not getattr(tok, "is_fast", False):
        raise BrokenModelError(
            folder, "no fast tokenizer could be built (offsets need one); add tokenizer.json"
        )
    return tok, fix_casing(tok)


def fix_casing(tok: Any) -> tuple[str, ...]:
    """A cased vocabulary behind a lowercasing normalizer (a cased checkpoint saved without
    do_lower_case=False) would lowercase and strip accents the model was trained to see.
    Switch the normalizer off for those, warn, and return what was changed."""
    from tokenizers import normalizers

    backend = tok.backend_tokenizer
    norm = backend.normalizer
    if norm is None or norm.normalize_str("A") != "a" or not vocab_is_cased(tok.get_vocab()):
        return ()
    if not isinstance(norm, normalizers.BertNormalizer):
        return ()
    backend.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False
    )
    fix = (
        "the vocabulary is cased but the tokenizer lowercased: "
        "lowercasing and accent stripping turned off"
    )
    warnings.warn(f"{tok.name_or_path}: {fix}", TokenizerFixWarning, stacklevel=4)
    return (fix,)


def lowercases(tok: Any) -> tuple[bool, bool]:
    norm = tok.backend_tokenizer.normalizer
    if norm is None:
        return False, False
    strips = norm.normalize_str("é") != unicodedata.normalize("NFC", "é") and norm.normalize_str(
        "é"
    ) in ("e", "E")
    return norm.normalize_str("A") == "a", strips


def load_torch_model(folder: Path) -> tuple[Any, bool]:
    """AutoModel in eval mode; returns (model, has trained pooler weights)."""
    from transformers import AutoModel

    weights = _weights_file(folder)
    try:
        model, info = AutoModel.from_pretrained(
            str(folder), output_loading_info=True, attn_implementation="sdpa", dtype="float32"
        )
    except Exception as e:
        raise BrokenModelError(weights, f"the weights cannot be loaded ({_short(e)})") from None
    missing = sorted(k for k in info.get("missing_keys", ()) if not k.startswith("pooler."))
    if missing or info.get("mismatched_keys"):
        bad = missing or sorted(info["mismatched_keys"])
        raise BrokenModelError(
            weights,
            f"does not fit the {type(model).__name__} architecture of config.json: "
            f"{len(bad)} weights missing or of the wrong shape "
            f"(e.g. {', '.join(map(str, bad[:3]))})"
            "; the file belongs to another model or is incomplete",
        )
    has_pooler = getattr(model, "pooler", None) is not None and not any(
        k.startswith("pooler.") for k in info.get("missing_keys", ())
    )
    return model.eval(), has_pooler


def _weights_file(folder: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json"):
        if (folder / name).exists():
            return folder / name
    return folder


def _short(e: Exception) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:300]}"


def describe(
    src: Source, model: Any, tok: Any, has_pooler: bool, fixes: tuple[str, ...]
) -> ModelInfo:
    cfg = model.config
    lower, strip = lowercases(tok)
    pooling, pooling_source = (
        (src.st_pooling, "sentence-transformers config")
        if src.st_pooling
        else ("mean", "bertex default (mean of the last layer)")
    )
    return ModelInfo(
        name=src.name,
        path=str(src.folder),
        source=src.kind,
        architecture=(cfg.architectures or [type(model).__name__])[0],
        model_type=cfg.model_type,
        num_layers=int(cfg.num_hidden_layers),
        hidden_size=int(cfg.hidden_size),
        num_heads=int(cfg.num_attention_heads),
        vocab_size=int(cfg.vocab_size),
        max_positions=int(getattr(cfg, "max_position_embeddings", 0)),
        max_length=max_length(src, cfg, tok),
        lowercase=lower,
        strip_accents=strip,
        default_pooling=pooling,
        pooling_source=pooling_source,
        default_normalize=src.st_normalize,
        has_pooler=has_pooler,
        tokenizer_fixes=fixes,
        casing_source=src.casing_source or "the tokenizer files",
        word_split=word_split(tok),
        origin=src.origin,
    )


def word_split(tok: Any) -> str:
    """What a "word" is for level="word": BERT's normalizer puts spaces around every CJK
    character (handle_chinese_chars), so Han text becomes one word per character, as
    bert-base-chinese tokenizes it; other tokenizers keep a run of Han characters together."""
    norm = tok.backend_tokenizer.normalizer
    han_alone = norm is not None and norm.normalize_str("你好").split() == ["你", "好"]
    if han_alone:
        return "whitespace and punctuation; each Han (CJK) character is a word of its own"
    return "whitespace and punctuation; Han (CJK) text without spaces stays one word"


def check_vocab(folder: Path, tok: Any, config: Any) -> None:
    if len(tok) > int(config.vocab_size):
        raise BrokenModelError(
            folder,
            f"the tokenizer has {len(tok)} tokens but config.json's vocab_size is "
            f"{config.vocab_size}: the vocabulary belongs to another model",
        )
