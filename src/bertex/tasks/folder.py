"""A model folder's own task head: find it in config.json's `architectures`, load it, run it.

Any Hugging Face folder whose architecture ends in ForSequenceClassification (a classifier;
with a pair of texts, a cross-encoder), ForTokenClassification (a tagger) or
ForQuestionAnswering (a reader) works: tuned by bertex or fine-tuned elsewhere. Labels come
from the folder's `id2label`. The head runs in torch (transformers' AutoModelFor* classes);
bertex's other backends serve the encoder alone.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BrokenModelError, InputError, NoTaskHeadError
from ..models import check_folder, load_tokenizer, quiet_transformers, resolve
from ..models.source import Source, max_length, weights_sha256

SUFFIXES = {
    "ForSequenceClassification": "classify",
    "ForTokenClassification": "tag",
    "ForQuestionAnswering": "qa",
}
AUTO = {
    "classify": "AutoModelForSequenceClassification",
    "tag": "AutoModelForTokenClassification",
    "qa": "AutoModelForQuestionAnswering",
}
WHAT = {
    "classify": "sequence-classification",
    "tag": "token-classification",
    "qa": "question-answering",
}
BATCH = 16  # inputs (or windows) per forward pass


def head_of(config: dict[str, Any]) -> tuple[str | None, str]:
    """config.json -> (task or None, the architecture it names).

    >>> head_of({"architectures": ["BertForTokenClassification"]})
    ('tag', 'BertForTokenClassification')
    >>> head_of({"architectures": ["BertModel"], "model_type": "bert"})
    (None, 'BertModel')
    """
    archs = config.get("architectures") or []
    for arch in archs:
        for suffix, task in SUFFIXES.items():
            if str(arch).endswith(suffix):
                return task, str(arch)
    return None, str(archs[0]) if archs else f"{config.get('model_type', '?')} (no architectures)"


USE = {
    "classify": "`bertex predict --model DIR` (a pair model: `bertex search --rerank DIR`)",
    "tag": "`bertex predict --model DIR`",
    "qa": "`bertex answer --model DIR`",
}


def no_head(name: str, arch: str, found: str | None = None, wanted: str | None = None) -> Exception:
    """The error for a folder without the head a command needs: what it has, what works."""
    if found is not None and wanted is not None:  # another task's head
        return NoTaskHeadError(
            f"{name}: config.json names {arch}, a {WHAT[found]} head; this needs a "
            f"{WHAT[wanted]} head. This folder works with {USE[found]}"
        )
    has = (
        "a masked-language-model head (`bertex fill` uses it)"
        if arch.endswith(("ForMaskedLM", "ForPreTraining"))
        else "an encoder without a task head"
    )
    need = (
        f"a {WHAT[wanted]} head"
        if wanted
        else "a sequence-classification, token-classification or question-answering head "
        "(config.json architectures ending in ForSequenceClassification, "
        "ForTokenClassification or ForQuestionAnswering)"
    )
    return NoTaskHeadError(
        f"{name}: config.json names {arch}, {has}; this needs {need}: fine-tune one "
        "(`bertex tune classify|tag|qa`) or use one fine-tuned elsewhere; or fit a frozen "
        "head on this encoder (`bertex train classify|tag --model M`, then `bertex predict "
        "HEAD --model M`)"
    )


@dataclass(frozen=True)
class Loaded:
    """What every task model holds: the folder, its tokenizer and the torch module."""

    name: str
    task: str
    architecture: str
    source: Source
    tokenizer: Any  # a fast tokenizer (offsets need one)
    module: Any  # AutoModelFor*, eval mode
    labels: tuple[str, ...]  # id2label in id order
    max_length: int
    weights_sha256: str
    # subtle: a fast tokenizer keeps its truncation and stride settings on the shared Rust
    # object and each call resets them, so two threads encoding at once (the server's routes)
    # get each other's windows; every encode holds this lock (the forward pass does not)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)


def read(name_or_path: str | Path, task: str | None = None) -> Loaded:
    """Resolve, check and load a task folder; `task` given: refuse any other head."""
    src = resolve(name_or_path)
    config = check_folder(src.folder)
    found, arch = head_of(config)
    if found is None or (task is not None and found != task):
        raise no_head(str(name_or_path), arch, found, task)
    quiet_transformers()
    tok, _ = load_tokenizer(src.folder)
    module = _module(src.folder, found)
    cfg = module.config
    labels = _labels(src.folder, cfg) if found != "qa" else ()
    return Loaded(
        str(name_or_path),
        found,
        arch,
        src,
        tok,
        module,
        labels,
        max_length(src, cfg, tok),
        weights_sha256(src.folder),
    )


def _labels(folder: Path, cfg: Any) -> tuple[str, ...]:
    """id2label in id order; ids with no label (a gap) make the folder broken, named."""
    n = int(cfg.num_labels)
    missing = [i for i in range(n) if i not in cfg.id2label]
    if missing:
        raise BrokenModelError(
            folder,
            f"config.json's id2label has no label for id {missing[0]} (the head has {n} "
            f"outputs; id2label's ids: {', '.join(map(str, sorted(cfg.id2label)))})",
        )
    return tuple(str(cfg.id2label[i]) for i in range(n))


def _module(folder: Path, task: str) -> Any:
    import transformers

    auto = getattr(transformers, AUTO[task])
    try:
        module, info = auto.from_pretrained(str(folder), output_loading_info=True, dtype="float32")
    except Exception as e:  # transformers raises many kinds here
        raise BrokenModelError(folder, f"the task model cannot be loaded ({e})") from None
    missing = list(info.get("missing_keys", ())) + list(info.get("mismatched_keys", ()))
    if missing:  # a head left at random initialisation would answer noise
        raise BrokenModelError(
            folder,
            f"{len(missing)} weights of its {WHAT[task]} head are missing or of the wrong shape "
            f"(e.g. {', '.join(map(str, missing[:3]))}): the folder is incomplete",
        )
    return module.eval()


class TaskModel:
    """Base of Classifier, Tagger and Reader: the loaded folder and one forward pass."""

    def __init__(self, loaded: Loaded) -> None:
        self.loaded = loaded

    @property
    def task(self) -> str:
        return self.loaded.task

    @property
    def labels(self) -> tuple[str, ...]:
        return self.loaded.labels

    @property
    def name(self) -> str:
        return self.loaded.name

    def __repr__(self) -> str:
        return f"<bertex.tasks.{type(self).__name__} {self.name!r} {self.loaded.architecture}>"

    def encode(self, *args: Any, **kwargs: Any) -> Any:
        """The tokenizer's call, one thread at a time (see Loaded.lock)."""
        with self.loaded.lock:
            return self.loaded.tokenizer(*args, **kwargs)

    def forward(self, enc: Any, rows: list[int]) -> dict[str, list[np.ndarray]]:
        """The head's outputs for the encoded rows `rows` (padded to the longest in each
        batch): per output name ("logits", "start_logits", ...), one array per row, in order
        (token outputs cut back to the row's own length)."""
        import torch

        names = [n for n in self.loaded.tokenizer.model_input_names if n in enc]
        outs: dict[str, list[np.ndarray]] = {}
        for batch in _chunks(rows, BATCH):
            feats = [{n: enc[n][i] for n in names} for i in batch]
            with self.loaded.lock:
                padded = self.loaded.tokenizer.pad(feats, return_tensors="pt")
            with torch.inference_mode():
                out = self.loaded.module(**{n: padded[n] for n in names})
            width = padded["input_ids"].shape[1]
            for key in ("logits", "start_logits", "end_logits"):
                value = getattr(out, key, None)
                if value is not None:  # (B, W, ...) or (B, C)
                    outs.setdefault(key, []).extend(_unpad(value.float().numpy(), width, feats))
        return outs


def _unpad(values: np.ndarray, width: int, feats: list[dict[str, Any]]) -> list[np.ndarray]:
    """Per-row arrays: token outputs (B, W, ...) cut back to each row's own length."""
    if values.ndim >= 2 and values.shape[1] == width:
        return [values[i, : len(f["input_ids"])] for i, f in enumerate(feats)]
    return list(values)


def _chunks(rows: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def check_texts(texts: Any, what: str = "input") -> list[str]:
    """A list of non-empty strings, or an InputError naming the first bad one."""
    if isinstance(texts, str):
        texts = [texts]
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise InputError(f"{what} is a {type(t).__name__}, not a string", i)
        if not t.strip():
            from ..errors import EmptyInputError

            raise EmptyInputError(f"the {what} is empty", i)
    return out
