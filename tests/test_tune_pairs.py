"""bertex tune pairs / simcse on tiny random checkpoints: the output folder is a standard
Hugging Face folder that transformers, sentence-transformers and bertex load and agree on;
training.json says what was done; the CLI and Python forms are the same job."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import bertex
from bertex.cli.main import main

STSB = Path(__file__).resolve().parents[2] / "shared" / "data" / "stsb" / "stsb-en-dev.csv"


def stsb_rows(n: int, start: int = 0) -> list[list[str]]:
    with STSB.open(encoding="utf-8") as f:
        return list(csv.reader(f))[start : start + n]


def write_pairs(path: Path, rows: list[list[str]], header: tuple[str, ...] | None = None) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        if header:
            w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory, st_dir: Path) -> Path:
    """Two epochs of CoSENT from a CLS-pooling, normalizing sentence-transformers folder."""
    d = tmp_path_factory.mktemp("tuned")
    train = write_pairs(d / "train.csv", stsb_rows(48), ("sentence1", "sentence2", "score"))
    dev = write_pairs(d / "dev.csv", stsb_rows(24, start=100))
    r = bertex.tune(
        "pairs",
        model=str(st_dir),
        train=str(train),
        dev=str(dev),
        out=str(d / "out"),
        epochs=2,
        batch_size=8,
        lr=1e-3,
        quiet=True,
    )
    assert r.out == d / "out"
    return r.out


def test_output_is_a_standard_folder_that_everyone_loads_alike(tuned: Path, st_dir: Path) -> None:
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer

    names = {p.name for p in tuned.iterdir()}
    assert {"config.json", "model.safetensors", "modules.json", "training.json"} <= names
    assert {"README.md", "training.png", "sentence_bert_config.json", "1_Pooling"} <= names
    assert not tuned.with_name("out.tune-state").exists()  # the work folder is gone
    # the base's CLS pooling and normalization are kept
    pool = json.loads((tuned / "1_Pooling" / "config.json").read_text())
    assert pool["pooling_mode_cls_token"] and not pool["pooling_mode_mean_tokens"]
    assert any(
        m["type"].endswith("Normalize") for m in json.loads((tuned / "modules.json").read_text())
    )
    # the weights changed
    before = load_file(st_dir / "0_Transformer" / "model.safetensors")
    after = load_file(tuned / "model.safetensors")
    moved = max(float((after[k] - before[k]).abs().max()) for k in after if k in before)
    assert moved > 1e-4
    texts = ["A man is playing a guitar.", "A dog runs.", "Someone plays an instrument on stage."]
    ours = bertex.load(tuned).embed(texts).vectors
    theirs = SentenceTransformer(str(tuned), device="cpu").encode(texts)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    # transformers alone: CLS of the last layer, normalized, is the same vector
    tok = AutoTokenizer.from_pretrained(str(tuned))
    hf = AutoModel.from_pretrained(str(tuned)).eval()
    with torch.no_grad():
        cls = hf(**tok(texts, padding=True, return_tensors="pt")).last_hidden_state[:, 0]
    np.testing.assert_allclose(ours, torch.nn.functional.normalize(cls, dim=-1).numpy(), atol=1e-5)


def test_training_json_says_what_was_done(tuned: Path, st_dir: Path) -> None:
    from bertex.models.source import weights_sha256
    from bertex.tune.data import sha256

    rec = json.loads((tuned / "training.json").read_text())
    assert rec["task"] == "pairs" and rec["loss"] == "cosent"
    assert rec["bertex_version"] == bertex.__version__
    assert rec["base_model"]["sha256"] == weights_sha256(st_dir / "0_Transformer")
    assert rec["data"]["train"]["sha256"] == sha256(Path(rec["data"]["train"]["path"]))
    assert rec["data"]["dev"]["rows"] == 24 and rec["data"]["train"]["rows"] == 48
    assert [e["epoch"] for e in rec["epochs"]] == [1, 2]
    assert rec["steps"] == 12 and len(rec["step_losses"]) == 12
    assert all(-1 <= e["metrics"]["spearman"] <= 1 for e in rec["epochs"])
    scores = [e["metrics"]["spearman"] for e in rec["epochs"]]
    assert rec["kept_epoch"] == 1 + int(np.argmax(scores)) == rec["best_epoch"]
    assert rec["wall_seconds"] > 0 and rec["options"]["batch_size"] == 8


def test_the_same_command_again_is_a_no_op(tuned: Path, capsys: pytest.CaptureFixture) -> None:
    rec = json.loads((tuned / "training.json").read_text())
    stamp = (tuned / "model.safetensors").stat().st_mtime_ns
    keys = ("model", "train", "dev", "out", "epochs", "batch_size", "lr")
    r = bertex.tune("pairs", **{k: rec["options"][k] for k in keys}, quiet=True)
    assert r.already_done and (tuned / "model.safetensors").stat().st_mtime_ns == stamp


def test_cli_unscored_pairs_mnrl_and_no_dev(
    tmp_path: Path, bert_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    rows = [[a, b] for a, b, _ in stsb_rows(40)]
    train = write_pairs(tmp_path / "pairs.csv", rows, ("anchor", "positive"))
    out = tmp_path / "m"
    argv = ["tune", "pairs", "--model", str(bert_dir), "--train", str(train), "--out", str(out)]
    assert main([*argv, "--max-steps", "2", "--batch-size", "8", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "held-out slice of --train (4 rows" in err and "epoch 1/1: 2 steps" in err
    rec = json.loads((out / "training.json").read_text())
    assert rec["loss"] == "mnrl" and rec["epochs"][0]["primary"] == "mrr"
    assert "held-out" in rec["dev_source"] and rec["data"]["train"]["rows"] == 36
    # mean pooling (the plain BERT's bertex default), no Normalize module
    modules = json.loads((out / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[1] for m in modules] == ["Transformer", "Pooling"]
    info = bertex.load(out).info
    assert info.default_pooling == "mean" and not info.default_normalize


def test_simcse_before_and_after(tmp_path: Path, bert_dir: Path) -> None:
    text = tmp_path / "sentences.txt"
    text.write_text("\n".join(s for r in stsb_rows(40) for s in r[:2]) + "\n", encoding="utf-8")
    r = bertex.tune(
        "simcse", model=str(bert_dir), train=str(text), out=str(tmp_path / "s"),
        max_steps=3, batch_size=8, lr=1e-3, quiet=True,
    )  # fmt: skip
    assert r.record["loss"] == "mnrl (SimCSE)" and r.best["primary"] == "dev_loss"
    assert r.record["epochs"][0]["greater_is_better"] is False
    assert bertex.load(r.out).embed(["a dog"]).vectors.shape == (1, 32)


def test_overwrite_replaces_only_when_the_new_model_is_complete(
    tmp_path: Path, bert_dir: Path, tuned: Path
) -> None:
    out = tmp_path / "m"
    shutil.copytree(tuned, out)
    train = write_pairs(tmp_path / "t.csv", stsb_rows(30), ("sentence1", "sentence2", "score"))
    r = bertex.tune(
        "pairs", model=str(bert_dir), train=str(train), out=str(out), max_steps=1,
        batch_size=8, overwrite=True, quiet=True,
    )  # fmt: skip
    assert r.record["base_model"]["path"] == str(bert_dir)
    assert json.loads((out / "config.json").read_text())["hidden_size"] == 32
    assert not (tmp_path / "m.tune-state").exists()


@pytest.mark.parametrize(
    "mode, expected", [("cls", "cls"), ("mean_sqrt_len_tokens", "mean_sqrt_len")]
)
def test_sentence_transformers_6_pooling_config_is_read(
    mode: str, expected: str, st_dir: Path, tmp_path: Path
) -> None:
    """sentence-transformers >= 6 saves {"pooling_mode": "mean"}; a folder its trainer wrote
    loads in bertex with that pooling (and a mode bertex lacks is refused, named)."""
    from bertex.errors import BrokenModelError

    folder = tmp_path / "st6"
    shutil.copytree(st_dir, folder)
    cfg = folder / "1_Pooling" / "config.json"
    cfg.write_text(json.dumps({"embedding_dimension": 32, "pooling_mode": mode}))
    assert bertex.load(folder).info.default_pooling == expected
    cfg.write_text(json.dumps({"embedding_dimension": 32, "pooling_mode": "lasttoken"}))
    with pytest.raises(BrokenModelError, match="lasttoken"):
        bertex.load(folder)


def test_cached_mnrl_takes_the_steps_of_plain_mnrl(bert_dir: Path, tmp_path: Path) -> None:
    """The gradient-cached loss embeds the batch 4 rows at a time yet, without dropout, ends
    two steps where the plain in-batch-negatives loss does."""
    model = tmp_path / "bert"
    shutil.copytree(bert_dir, model)
    cfg = json.loads((model / "config.json").read_text())
    cfg.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (model / "config.json").write_text(json.dumps(cfg))
    train = write_pairs(tmp_path / "t.csv", [r[:2] for r in stsb_rows(40)], ("anchor", "positive"))
    common = dict(model=str(model), train=str(train), max_steps=2, batch_size=16, lr=1e-3)
    plain = bertex.tune(
        "pairs", **common, out=str(tmp_path / "a"), loss="mnrl", precision="fp32", quiet=True
    )
    cached = bertex.tune(
        "pairs", **common, out=str(tmp_path / "b"), loss="cached-mnrl", mini_batch=4,
        precision="fp32", quiet=True,
    )  # fmt: skip
    assert cached.record["loss"] == "cached-mnrl"
    a, b = load_file(plain.out / "model.safetensors"), load_file(cached.out / "model.safetensors")
    base = load_file(model / "model.safetensors")
    assert max(float((a[k] - base[k]).abs().max()) for k in a) > 1e-4
    # Adam's first steps move a weight by about lr * g / (|g| + eps): where |g| is near eps,
    # the float rounding of two summation orders moves that weight by a visible part of lr
    # (seen: 1.4e-5 at lr 1e-3 with the fused kernel), so the steps are compared as a whole
    step = torch.cat([(a[k] - base[k]).flatten() for k in a])  # (P,)
    apart = torch.cat([(a[k] - b[k]).flatten() for k in a])  # (P,)
    assert float(apart.norm() / step.norm()) < 1e-3
    assert float(apart.abs().max()) < 0.1 * 1e-3  # no weight a tenth of a step (lr) apart
