"""Data for `bertex tune classify`: texts (or text pairs) with one label or a set of labels.

Forms, all from a table with named columns (CSV/TSV, JSONL, Parquet; see tables.py):
  single text   text,label
  pair          text,text_pair,label   (NLI, paraphrase, relevance: the model is a cross-encoder)
  multi-label   the label cell is a list (a JSON or Parquet list) or, with multi_label=True, a
                string split on label_sep ("sports;politics"); an empty list is allowed there

The label set is the training file's, sorted; a dev file naming any other label is refused
(naming those labels and the known ones), since the head has no output for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DataFileError
from . import tables


@dataclass(frozen=True)
class ClassifyColumns:
    """Where the data is and how labels are written."""

    text: str = "text"
    label: str = "label"
    pair: str | None = None  # the second text's column (pair form)
    multi_label: bool | None = None  # None: multi-label when a label cell is a list
    label_sep: str = ";"  # splits a string label cell when multi_label=True


@dataclass(frozen=True)
class ClassifyExamples:
    path: str
    texts: tuple[str, ...]
    pairs: tuple[str, ...] | None  # the second texts of the pair form
    labels: tuple[tuple[str, ...], ...]  # per row; single-label rows hold exactly one
    multi_label: bool
    rows: tuple[int, ...]  # each example's row in its file

    def label_set(self) -> tuple[str, ...]:
        return tuple(sorted({y for ys in self.labels for y in ys}))


def read_classify(path: str | Path, cols: ClassifyColumns = ClassifyColumns()) -> ClassifyExamples:
    """Read and check one classification file."""
    path = Path(path)
    names = [cols.text, *([cols.pair] if cols.pair else []), cols.label]
    hint = "choose with --text-column, --pair-column, --label-column"
    texts: list[str] = []
    pairs: list[str] = []
    labels: list[tuple[str, ...]] = []
    rows: list[int] = []
    listed = False
    for n, rec in tables.records(path, names, hint):
        texts.append(_text(path, n, cols.text, rec[cols.text]))
        if cols.pair:
            pairs.append(_text(path, n, cols.pair, rec[cols.pair]))
        ys, is_list = _labels(path, n, rec[cols.label], cols)
        listed |= is_list
        labels.append(ys)
        rows.append(n)
    multi = cols.multi_label if cols.multi_label is not None else listed
    if not multi:
        for n, ys in zip(rows, labels):
            if len(ys) != 1:
                raise DataFileError(
                    path, n, f"{len(ys)} labels in a single-label file (use --multi-label)"
                )
    second = tuple(pairs) if cols.pair else None
    return ClassifyExamples(str(path), tuple(texts), second, tuple(labels), multi, tuple(rows))


def check_train(ex: ClassifyExamples) -> tuple[str, ...]:
    """The label set of a training file; a classifier needs two labels (one for multi-label)."""
    labels = ex.label_set()
    if len(labels) < (1 if ex.multi_label else 2):
        found = f"only the label {labels[0]!r}" if labels else "no labels"
        raise DataFileError(ex.path, None, f"{found}; a classifier needs at least two")
    return labels


def check_dev(dev: ClassifyExamples, known: Sequence[str], train: ClassifyExamples) -> None:
    """Refuse a dev file with labels the training file lacks, or of the other kind."""
    if dev.multi_label != train.multi_label:
        kind = {True: "multi-label", False: "single-label"}
        raise DataFileError(
            dev.path,
            None,
            f"a {kind[dev.multi_label]} file, but the training file is {kind[train.multi_label]}",
        )
    if (dev.pairs is None) != (train.pairs is None):
        raise DataFileError(dev.path, None, "pair form must match the training file's")
    tables.check_known(dev.path, dev.rows, dev.labels, known, "label")


def _text(path: Path, n: int, column: str, value: Any) -> str:
    if not isinstance(value, str):
        raise DataFileError(path, n, f"column {column!r} holds a {type(value).__name__}, not text")
    if not value.strip():
        raise DataFileError(path, n, f"column {column!r} is empty")
    return value


def _labels(path: Path, n: int, value: Any, cols: ClassifyColumns) -> tuple[tuple[str, ...], bool]:
    """One cell -> (labels, whether the cell was a list)."""
    if isinstance(value, (list, tuple)):
        if cols.multi_label is False:
            raise DataFileError(path, n, "a list of labels in a file read as single-label")
        ys = [_label(path, n, v) for v in value]
        return tuple(sorted(set(ys))), True
    if cols.multi_label and isinstance(value, str):  # "a;b"; an empty cell: no labels
        return tuple(sorted({s.strip() for s in value.split(cols.label_sep) if s.strip()})), False
    if isinstance(value, (dict, float)) or value is None:
        kind = "a number with a fraction" if isinstance(value, float) else type(value).__name__
        raise DataFileError(path, n, f"the label is {kind}; labels are names or integers")
    return (_label(path, n, value),), False


def _label(path: Path, n: int, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataFileError(path, n, f"the label {value!r} is not a name or an integer")
    label = str(value).strip()
    if not label:
        raise DataFileError(path, n, "empty label")
    return label


@dataclass(frozen=True)
class Encoded:
    """Token ids and labels per example, unpadded (the collator pads each batch)."""

    features: list[dict[str, Any]]  # input_ids, attention_mask[, token_type_ids], labels
    truncated: int  # examples cut at max_length (said, never silent)


def encode_classify(
    tokenizer: Any, ex: ClassifyExamples, labels: Sequence[str], max_length: int
) -> Encoded:
    """Tokenize (pairs as one [CLS] a [SEP] b [SEP] input) and attach label ids: an int for
    single-label, a multi-hot float list (BCE targets) for multi-label."""
    index = {y: i for i, y in enumerate(labels)}
    second = list(ex.pairs) if ex.pairs is not None else None
    full = tokenizer(list(ex.texts), second, truncation=False, verbose=False)["input_ids"]
    enc = tokenizer(list(ex.texts), second, truncation=True, max_length=max_length)
    feats = []
    for i, ys in enumerate(ex.labels):
        f = {k: enc[k][i] for k in enc.keys()}
        if ex.multi_label:
            hot = [0.0] * len(labels)
            for y in ys:
                hot[index[y]] = 1.0
            f["labels"] = hot
        else:
            f["labels"] = index[ys[0]]
        feats.append(f)
    return Encoded(feats, sum(len(ids) > max_length for ids in full))
