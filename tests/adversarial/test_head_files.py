"""Issue 30 cases 3, 4 and 5: head files that are readable safetensors but lie: labels that do
not match the coefficient rows, NaN/inf numbers or a zero scale, duplicate labels, an unknown
task. Each is refused whole at load with one line naming the file and what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

import bertex
from bertex.cli.main import main

from .test_io_attacks import one_line_error

D = 32  # the tiny BERT's hidden size


def write_head(path: Path, model: bertex.Model, **change) -> Path:
    """A classify head for `model`'s layer-1 mean vectors; `change` overrides any part."""
    rng = np.random.default_rng(0)
    parts = {
        "mean": np.zeros(D),
        "scale": np.ones(D),
        "coef": rng.normal(size=(3, D)),
        "intercept": np.zeros(3),
        "labels": ["neg", "neu", "pos"],
        "task": "classify",
    }
    parts.update(change)
    record = {
        "task": parts["task"],
        "model": str(model.info.path),
        "weights_sha256": model.weights_sha256,
        "layer": 1,
        "pooling": "mean",
        "subword": None,
        "max_length": 64,
        "labels": parts["labels"],
    }
    tensors = {k: np.asarray(parts[k], dtype=np.float32) for k in ("mean", "scale", "coef")}
    tensors["intercept"] = np.asarray(parts["intercept"], dtype=np.float32)
    meta = {"format": "bertex-head/1", "provenance": json.dumps(record)}
    save_file(tensors, str(path), metadata=meta)
    return path


def predict(bert_dir: Path, head: Path, tmp_path: Path, *extra: str) -> int:
    texts = tmp_path / "in.txt"
    texts.write_text("a good film\nan awful film\n", encoding="utf-8")
    return main(["predict", str(head), "--model", str(bert_dir), "--input", str(texts), *extra])


def strict_json(line: str):
    def refuse(name: str):
        raise ValueError(f"non-finite number {name} in JSON output: {line}")

    return json.loads(line, parse_constant=refuse)


BROKEN = [
    # case 3: labels vs coefficient rows
    ({"labels": ["neg", "pos"]}, "2 labels but 3 coefficient rows"),
    ({"labels": ["a", "b", "c", "d"]}, "4 labels but 3 coefficient rows"),
    ({"intercept": np.zeros(2)}, "3 labels but 3 coefficient rows and 2 intercepts"),
    ({"coef": np.ones((3, D + 1))}, "coefficients are 33 wide, the scaler 32"),
    # case 4: numbers that are not numbers
    ({"coef": np.full((3, D), np.nan)}, "tensor 'coef' holds nan at flat index 0"),
    ({"intercept": [0.0, np.inf, 0.0]}, "tensor 'intercept' holds inf at flat index 1"),
    ({"mean": np.r_[np.zeros(D - 1), -np.inf]}, "tensor 'mean' holds -inf at flat index 31"),
    ({"scale": np.r_[np.ones(5), 0.0, np.ones(D - 6)]}, "tensor 'scale' is 0 at index 5"),
    # case 5: labels that overwrite each other, a task no one knows
    ({"labels": ["pos", "neg", "pos"]}, "label 'pos' appears more than once"),
    ({"labels": ["", "neg", "pos"]}, "labels must be non-empty strings"),
    ({"task": "summarize"}, "task 'summarize' is not one bertex knows (valid: classify, tag)"),
]


@pytest.mark.parametrize(
    "change, why", BROKEN, ids=[w.split(" ")[0] + str(i) for i, (_, w) in enumerate(BROKEN)]
)
def test_cases_3_4_5_broken_head_is_refused_at_load(
    tiny_bert, bert_dir, tmp_path, capsys, change, why
):
    """Before the fix: a broadcast ValueError traceback (3), exit 0 with bare NaN in the output
    and every input given the first label (4), or silently accepted (5)."""
    head = write_head(tmp_path / "bad.bertex", tiny_bert, **change)
    assert predict(bert_dir, head, tmp_path) == 2
    out, err = capsys.readouterr()
    line = one_line_error(err)
    assert str(head) in line and why in line, line
    assert out == ""
    with pytest.raises(bertex.HeadError, match="retrain the head"):
        bertex.heads.load(head, tiny_bert)


@pytest.mark.parametrize("rows", [1, 3])
@pytest.mark.parametrize("big", [3e38, -3e38])
def test_extreme_finite_weights_give_valid_json(tiny_bert, bert_dir, tmp_path, capsys, rows, big):
    """Weights at float32's limit and a scale at its smallest: exp() overflows in the naive
    softmax and the output held NaN; in log space every probability is a finite number."""
    labels = ["neg", "pos"] if rows == 1 else ["neg", "neu", "pos"]
    coef = np.full((rows, D), big)
    coef[0, ::2] = -big
    head = write_head(
        tmp_path / "big.bertex",
        tiny_bert,
        coef=coef,
        intercept=np.full(rows, big),
        scale=np.full(D, 1e-45),
        labels=labels,
    )
    for extra in ([], ["--labels", labels[0]], ["--labels", ",".join(labels[1:])]):
        assert predict(bert_dir, head, tmp_path, *extra) == 0
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == 2
        for line in lines:
            probs = strict_json(line)["prediction"]["probabilities"]
            assert abs(sum(probs.values()) - 1) < 1e-9 and all(0 <= p <= 1 for p in probs.values())
