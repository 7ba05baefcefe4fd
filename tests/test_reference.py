"""bertex's vectors equal Hugging Face transformers' hidden states (fp32, max abs diff <= 1e-5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bertex
from conftest import reference

TOL = 1e-5
TEXTS = [
    "A man with a hard hat is dancing.",
    "Unbelievably, the child is riding a horse!",
    "a",
]


def _check_all_layers(model: bertex.Model, folder, text: str, pair: str | None = None) -> None:
    inputs, out = reference(folder, text, pair)
    r = model.embed(text, pair, level="hidden_states")
    assert list(r.ids) == inputs["input_ids"][0].tolist()
    expected = torch.stack(out.hidden_states)[:, 0].numpy()  # (layers+1, T, H)
    assert r.vectors.shape == expected.shape
    assert np.abs(r.vectors - expected).max() <= TOL
    last = model.embed(text, pair, level="token")
    assert np.abs(last.vectors - out.last_hidden_state[0].numpy()).max() <= TOL


@pytest.mark.parametrize("text", TEXTS)
def test_tiny_bert_equals_transformers(tiny_bert, bert_dir, text):
    _check_all_layers(tiny_bert, bert_dir, text)


@pytest.mark.parametrize("text", TEXTS)
def test_tiny_roberta_equals_transformers(tiny_roberta, roberta_dir, text):
    _check_all_layers(tiny_roberta, roberta_dir, text)


@pytest.mark.parametrize("text", TEXTS)
def test_tiny_distilbert_equals_transformers(tiny_distilbert, distilbert_dir, text):
    _check_all_layers(tiny_distilbert, distilbert_dir, text)


def test_chinese_bert_equals_transformers(tiny_chinese, chinese_bert_dir):
    _check_all_layers(tiny_chinese, chinese_bert_dir, "你好，世界！")


@pytest.mark.parametrize(
    "folder_fixture,model_fixture", [("bert_dir", "tiny_bert"), ("roberta_dir", "tiny_roberta")]
)
def test_pairs_equal_transformers(request, folder_fixture, model_fixture):
    folder, model = request.getfixturevalue(folder_fixture), request.getfixturevalue(model_fixture)
    _check_all_layers(model, folder, "A man is dancing.", "A woman plays the guitar.")
    inputs, _ = reference(folder, "A man is dancing.", "A woman plays the guitar.")
    r = model.embed("A man is dancing.", "A woman plays the guitar.", level="token")
    if "token_type_ids" in inputs:
        assert r.type_ids.tolist() == inputs["token_type_ids"][0].tolist()
    assert set(r.sequence_ids.tolist()) == {-1, 0, 1}


@pytest.mark.slow
@pytest.mark.parametrize("text", TEXTS + ["你好，世界！"])
def test_default_model_equals_transformers(default_model, text):
    _check_all_layers(default_model, "all-MiniLM-L6-v2", text)


@pytest.mark.slow
def test_default_sentence_vectors_are_sentence_transformers_mean_normalized(default_model):
    """all-MiniLM-L6-v2's sentence-transformers recipe: masked mean of the last layer, then L2."""
    from transformers import AutoModel, AutoTokenizer

    folder = str(bertex.models.source.resolve("all-MiniLM-L6-v2").folder)
    tok, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
    texts = ["A man is playing a guitar.", "你好，世界！", "short", "The cat sat on the mat " * 5]
    batch = tok(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state  # (N, L, H)
    mask = batch["attention_mask"].unsqueeze(-1).float()  # (N, L, 1)
    mean = (hidden * mask).sum(1) / mask.sum(1)
    expected = torch.nn.functional.normalize(mean, dim=-1).numpy()
    got = default_model.embed(texts, level="sentence")
    assert got.meta.pooling == "mean" and got.meta.normalize is True
    assert got.meta.pooling_source == "sentence-transformers config"
    assert np.abs(got.vectors - expected).max() <= TOL
    assert np.allclose(np.linalg.norm(got.vectors, axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("folder_fixture", ["albert_dir", "electra_dir", "xlmr_dir"])
def test_other_families_equal_transformers(request, folder_fixture):
    """ALBERT and XLM-R (SentencePiece Unigram vocabularies) and ELECTRA, through AutoModel."""
    folder = request.getfixturevalue(folder_fixture)
    model = bertex.load(folder)
    assert model.info.model_type in ("albert", "electra", "xlm-roberta")
    for text in TEXTS[:2]:
        _check_all_layers(model, folder, text)
    _check_all_layers(model, folder, TEXTS[0], TEXTS[1])
    long = " ".join(TEXTS[:2] * 12)
    r = model.embed(long, level="token")
    assert r.windowed and r.vectors.shape[0] == len(model.tokenize(long).tokens)
    assert model.info.max_length == 64
