"""Loading: local folders, sentence-transformers folders, the embedded default, hub ids, and
broken folders whose errors name the file and the problem."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import bertex


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "model"
    shutil.copytree(src, dst)
    return dst


def test_local_folder_info(tiny_bert, bert_dir):
    i = tiny_bert.info
    assert (i.model_type, i.num_layers, i.hidden_size, i.num_heads) == ("bert", 2, 32, 2)
    assert i.max_length == 64 and i.source == "local" and i.default_pooling == "mean"
    assert i.has_pooler and i.path == str(bert_dir)


def test_roberta_max_length_leaves_out_the_position_offset(tiny_roberta):
    assert tiny_roberta.info.max_positions == 66 and tiny_roberta.info.max_length == 64


def test_sentence_transformers_folder_sets_the_defaults(st_dir, tiny_bert):
    model = bertex.load(st_dir)
    i = model.info
    assert (i.default_pooling, i.default_normalize, i.max_length) == ("cls", True, 32)
    assert i.pooling_source == "sentence-transformers config"
    s = model.embed("a man is dancing", level="sentence")
    assert s.meta.pooling == "cls" and s.meta.normalize
    cls = tiny_bert.embed("a man is dancing", level="token").vectors[0]
    assert np.abs(s.vector - cls / np.linalg.norm(cls)).max() <= 1e-5
    # an explicit pooling is recorded as requested; normalization still follows the model's
    # own configuration (one rule: see test_request.py), unless normalize= is given
    mean = model.embed("a man is dancing", level="sentence", pooling="mean")
    assert mean.meta.pooling_source == "requested" and mean.meta.normalize
    assert mean.meta.normalize_source == "model config"
    assert np.allclose(np.linalg.norm(mean.vectors, axis=1), 1.0, atol=1e-5)
    raw = model.embed("a man is dancing", level="sentence", pooling="mean", normalize=False)
    assert raw.meta.normalize_source == "requested" and not raw.meta.normalize
    assert np.abs(raw.vector / np.linalg.norm(raw.vector) - mean.vector).max() <= 1e-5


@pytest.mark.slow
def test_embedded_default_model(default_model):
    i = default_model.info
    assert i.source == "embedded" and i.name == "all-MiniLM-L6-v2"
    assert (i.num_layers, i.hidden_size, i.max_length, i.default_pooling) == (6, 384, 256, "mean")
    assert i.default_normalize and i.lowercase
    assert default_model.embed(["a", "b"], level="sentence").vectors.shape == (2, 384)
    assert bertex.load("sentence-transformers/all-MiniLM-L6-v2").info.path == i.path


def test_hub_id_without_network_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(bertex.HubUnreachableError) as e:
        bertex.load("bert-base-uncased")
    msg = str(e.value)
    assert (
        "bert-base-uncased" in msg
        and "not reachable" in msg
        and "bertex.load('./" in msg
        and "--model ./bert-base-uncased" in msg
    )


def test_missing_path_is_not_found(tmp_path):
    with pytest.raises(bertex.ModelNotFoundError, match="no model folder"):
        bertex.load(tmp_path / "nope")
    with pytest.raises(bertex.ModelNotFoundError):
        bertex.load("./relative/missing")


def test_missing_config(bert_dir, tmp_path):
    folder = _copy(bert_dir, tmp_path)
    (folder / "config.json").unlink()
    with pytest.raises(bertex.BrokenModelError, match=r"config\.json: missing"):
        bertex.load(folder)


def test_invalid_json_config(bert_dir, tmp_path):
    folder = _copy(bert_dir, tmp_path)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(bertex.BrokenModelError, match=r"config\.json: is not valid JSON"):
        bertex.load(folder)


def test_wrong_architecture(bert_dir, tmp_path):
    folder = _copy(bert_dir, tmp_path)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["model_type"] = "gpt2"
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(bertex.BrokenModelError, match="'gpt2' is not a BERT-family") as e:
        bertex.load(folder)
    assert "roberta" in str(e.value)  # lists what is supported


def test_missing_vocab(bert_dir, tmp_path):
    folder = _copy(bert_dir, tmp_path)
    for name in ("vocab.txt", "tokenizer.json"):
        (folder / name).unlink()
    with pytest.raises(bertex.BrokenModelError, match="no tokenizer files"):
        bertex.load(folder)


def test_missing_weights(bert_dir, tmp_path):
    folder = _copy(bert_dir, tmp_path)
    (folder / "model.safetensors").unlink()
    with pytest.raises(bertex.BrokenModelError, match="no weights"):
        bertex.load(folder)


def test_truncated_weights(bert_dir, tmp_path):
    folder = _copy(bert_dir, tmp_path)
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(bertex.BrokenModelError, match=r"model\.safetensors: is truncated"):
        bertex.load(folder)


def test_weights_of_another_model(bert_dir, distilbert_dir, tmp_path):
    folder = _copy(bert_dir, tmp_path)
    shutil.copy(distilbert_dir / "model.safetensors", folder / "model.safetensors")
    with pytest.raises(bertex.BrokenModelError, match=r"model\.safetensors: ") as e:
        bertex.load(folder)
    assert "another model" in str(e.value) or "cannot be loaded" in str(e.value)


def test_vocabulary_larger_than_the_embedding_table(bert_dir, tmp_path):
    folder = _copy(bert_dir, tmp_path)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["vocab_size"] = 100
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(bertex.BrokenModelError):
        bertex.load(folder)


def test_a_file_instead_of_a_folder(bert_dir):
    with pytest.raises(bertex.BrokenModelError, match="is a file"):
        bertex.load(bert_dir / "config.json")


def test_broken_sentence_transformers_pooling(st_dir, tmp_path):
    folder = _copy(st_dir, tmp_path)
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": True})
    )
    with pytest.raises(bertex.BrokenModelError, match="exactly one pooling mode"):
        bertex.load(folder)


def test_weights_hash_is_stable_and_changes_with_weights(tiny_bert, tiny_distilbert, bert_dir):
    again = bertex.load(bert_dir)
    assert again.weights_sha256 == tiny_bert.weights_sha256 != tiny_distilbert.weights_sha256
