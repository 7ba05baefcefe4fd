"""Tiny random-weight task folders in the public Hugging Face format (what a fine-tuned model
downloaded from a hub looks like), built with transformers from a tiny BERT's tokenizer.

The heads' weights are scaled up so that random predictions vary from token to token (a
near-uniform head would give one label everywhere and test little).

Also what the task tests (tag, classify, answer) share: `run` (the CLI's exit status, usage
errors included) and the `refused` fixture (bad inputs are one line, exit status 2)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
TOKENIZER_FILES = (
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)


def _config(src: Path, **kwargs):
    from transformers import BertConfig

    cfg = BertConfig.from_pretrained(str(src))
    for k, v in kwargs.items():
        setattr(cfg, k, v)
    return cfg


def build(src: Path, out: Path, kind: str, seed: int = 0, scale: float = 30.0, **cfg) -> Path:
    """kind: "tag" | "classify" | "qa"; `src` a tiny BERT folder whose tokenizer is reused."""
    from transformers import (
        BertForQuestionAnswering,
        BertForSequenceClassification,
        BertForTokenClassification,
    )

    cls = {
        "tag": BertForTokenClassification,
        "classify": BertForSequenceClassification,
        "qa": BertForQuestionAnswering,
    }[kind]
    if kind == "tag" and "id2label" not in cfg:
        cfg["id2label"] = dict(enumerate(NER_LABELS))
    if "id2label" in cfg:
        cfg["label2id"] = {v: k for k, v in cfg["id2label"].items()}
        cfg["num_labels"] = len(cfg["id2label"])
    elif "num_labels" in cfg:
        n = cfg["num_labels"]
        cfg["id2label"] = {i: f"LABEL_{i}" for i in range(n)}
        cfg["label2id"] = {f"LABEL_{i}": i for i in range(n)}
    torch.manual_seed(seed)
    model = cls(_config(src, **cfg)).eval()
    head = model.qa_outputs if kind == "qa" else model.classifier
    with torch.no_grad():
        head.weight.mul_(scale)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    for name in TOKENIZER_FILES:
        if (src / name).exists():
            shutil.copy(src / name, out / name)
    return out


def _once(models_dir: Path, name: str, src: Path, kind: str, **kwargs) -> Path:
    out = models_dir / name
    return out if (out / "config.json").exists() else build(src, out, kind, **kwargs)


@pytest.fixture(scope="session")
def tag_dir(models_dir: Path, bert_dir: Path) -> Path:
    """A public-format NER folder: BertForTokenClassification, real BIO id2label."""
    return _once(models_dir, "task-tag", bert_dir, "tag")


@pytest.fixture(scope="session")
def qa_dir(models_dir: Path, bert_dir: Path) -> Path:
    return _once(models_dir, "task-qa", bert_dir, "qa", scale=5.0)


@pytest.fixture(scope="session")
def classify_dir(models_dir: Path, bert_dir: Path) -> Path:
    labels = {0: "negative", 1: "neutral", 2: "positive"}
    return _once(
        models_dir, "task-classify", bert_dir, "classify", seed=1, id2label=labels, scale=300.0
    )


@pytest.fixture(scope="session")
def multilabel_dir(models_dir: Path, bert_dir: Path) -> Path:
    labels = {0: "sports", 1: "music", 2: "animals", 3: "food"}
    return _once(
        models_dir, "task-multilabel", bert_dir, "classify", seed=2, id2label=labels,
        problem_type="multi_label_classification", scale=300.0,
    )  # fmt: skip


@pytest.fixture(scope="session")
def cross_encoder_dir(models_dir: Path, bert_dir: Path) -> Path:
    """A one-output sequence classifier read on (query, document) pairs: a cross-encoder."""
    return _once(models_dir, "task-rerank", bert_dir, "classify", seed=3, num_labels=1, scale=300.0)


def run(argv: list[str]) -> int:
    """main()'s exit status, also when argparse exits (a usage error)."""
    from bertex.cli.main import main

    try:
        return main(argv)
    except SystemExit as e:
        return int(e.code or 0)


@pytest.fixture
def refused(capsys: pytest.CaptureFixture[str]) -> Callable[[dict[str, tuple[list, str]]], None]:
    """refused({case: (argv, message)}): each command exits 2 with one line on stderr that
    holds the message, and no traceback."""

    def check(cases: dict[str, tuple[list, str]]) -> None:
        for name, (argv, message) in cases.items():
            assert run(argv) == 2, name
            err = capsys.readouterr().err
            assert message in err, (name, err)
            assert err.count("\n") == 1 and "Traceback" not in err, name

    return check
