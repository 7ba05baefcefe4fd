"""Every level, pooling and layer option, checked against numbers computed from transformers'
own hidden states (not against bertex itself)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bertex
from conftest import reference

TOL = 1e-5
TEXT = "Unbelievably, the child is riding a horse."


@pytest.fixture(scope="module")
def ref(bert_dir):
    inputs, out = reference(bert_dir, TEXT, attentions=True)
    hs = torch.stack(out.hidden_states)[:, 0].numpy()  # (L+1, T, H)
    return inputs, out, hs


def test_token_level_with_and_without_special_tokens(tiny_bert, ref):
    inputs, out, hs = ref
    r = tiny_bert.embed(TEXT, level="token")
    assert r.tokens[0] == "[CLS]" and r.tokens[-1] == "[SEP]"
    assert r.special_mask.tolist() == [True] + [False] * (len(r.tokens) - 2) + [True]
    no_special = tiny_bert.embed(TEXT, level="token", special_tokens=False)
    assert "[CLS]" not in no_special.tokens and "[SEP]" not in no_special.tokens
    assert np.abs(no_special.vectors - hs[-1][1:-1]).max() <= TOL
    for tok, (s, e) in zip(no_special.tokens, no_special.offsets.tolist()):
        assert tok.removeprefix("##") == TEXT[s:e].lower()


@pytest.mark.parametrize(
    "layers,combine",
    [
        (0, "concat"),
        (-1, "concat"),
        (1, "mean"),
        ([-2, -1], "concat"),
        ([-2, -1], "mean"),
        ([0, 1, 2], "sum"),
        ("all", "stack"),
        ([2, 0], "stack"),
    ],
)
def test_layers_and_combine(tiny_bert, ref, layers, combine):
    _, _, hs = ref
    n = hs.shape[0]
    idx = list(range(n)) if layers == "all" else ([layers] if isinstance(layers, int) else layers)
    picked = hs[[i % n for i in idx]]  # (K, T, H)
    want = {
        "concat": np.concatenate(list(picked), axis=-1),
        "mean": picked.mean(0),
        "sum": picked.sum(0),
        "stack": picked,
    }[combine]
    if len(idx) == 1 and combine != "stack":
        want = picked[0]
    r = tiny_bert.embed(TEXT, level="token", layers=layers, combine=combine)
    assert r.vectors.shape == want.shape
    assert np.abs(r.vectors - want).max() <= TOL
    assert r.meta.layers == tuple(i % n for i in idx)


def test_layer_zero_is_the_embedding_output_not_the_first_transformer_layer(tiny_bert, bert_dir):
    from transformers import AutoModel, AutoTokenizer

    tok, model = (
        AutoTokenizer.from_pretrained(str(bert_dir)),
        AutoModel.from_pretrained(str(bert_dir)),
    )
    inputs = tok(TEXT, return_tensors="pt")
    with torch.no_grad():
        emb = model.embeddings(
            input_ids=inputs["input_ids"], token_type_ids=inputs["token_type_ids"]
        )
    r = tiny_bert.embed(TEXT, level="token", layers=0)
    assert np.abs(r.vectors - emb[0].numpy()).max() <= TOL


def test_layer_out_of_range_names_the_valid_range(tiny_bert):
    with pytest.raises(bertex.OptionError, match=r"-3\.\.2"):
        tiny_bert.embed(TEXT, level="token", layers=3)
    with pytest.raises(bertex.OptionError):
        tiny_bert.embed(TEXT, level="token", layers=-4)


def test_hidden_states_level_returns_every_layer(tiny_bert, ref):
    _, _, hs = ref
    r = tiny_bert.embed(TEXT, level="hidden_states")
    assert r.vectors.shape == hs.shape and np.abs(r.vectors - hs).max() <= TOL
    with pytest.raises(bertex.OptionError):
        tiny_bert.embed(TEXT, level="hidden_states", layers=1)


def test_attentions_equal_eager_transformers(tiny_bert, ref):
    _, out, _ = ref
    r = tiny_bert.embed(TEXT, level="token", attentions=True)
    want = torch.stack(out.attentions)[:, 0].numpy()  # (layers, heads, T, T)
    assert r.attentions.shape == want.shape
    assert np.abs(r.attentions - want).max() <= TOL
    assert np.allclose(r.attentions.sum(-1), 1.0, atol=1e-5)
    # the model goes back to SDPA afterwards; vectors unchanged
    again = tiny_bert.embed(TEXT, level="token")
    assert tiny_bert.backend.model.config._attn_implementation == "sdpa"
    assert np.abs(again.vectors - r.vectors).max() <= TOL
    dropped = tiny_bert.embed(TEXT, level="token", attentions=True, special_tokens=False)
    n = len(dropped.tokens)
    assert dropped.attentions.shape[-2:] == (n, n)


def test_attentions_only_with_token_level(tiny_bert):
    with pytest.raises(bertex.OptionError, match="attentions"):
        tiny_bert.embed(TEXT, level="sentence", attentions=True)


@pytest.mark.parametrize(
    "pooling", ["cls", "mean", "max", "mean_sqrt_len", "first_last_avg", "pooler"]
)
def test_sentence_poolings(tiny_bert, ref, pooling):
    _, out, hs = ref
    last = hs[-1]  # (T, H)
    want = {
        "cls": last[0],
        "mean": last.mean(0),
        "max": last.max(0),
        "mean_sqrt_len": last.sum(0) / np.sqrt(len(last)),
        "first_last_avg": ((hs[1] + hs[-1]) / 2).mean(0),
        "pooler": out.pooler_output[0].numpy(),
    }[pooling]
    with pytest.warns(bertex.WeakPoolingWarning) if pooling in ("cls", "pooler") else _nothing():
        s = tiny_bert.embed(TEXT, level="sentence", pooling=pooling)
    assert s.vectors.shape == (1, 32) and s.meta.pooling == pooling
    assert s.meta.pooling_source == "requested"
    assert np.abs(s.vector - want).max() <= TOL


def test_sentence_default_is_mean_of_last_layer_and_says_so(tiny_bert, ref):
    _, _, hs = ref
    s = tiny_bert.embed([TEXT, TEXT], level="sentence")
    assert s.meta.pooling == "mean" and "default" in s.meta.pooling_source
    assert s.meta.normalize is False
    assert np.abs(s.vectors - hs[-1].mean(0)).max() <= TOL


def test_sentence_pooling_over_chosen_layers(tiny_bert, ref):
    _, _, hs = ref
    s = tiny_bert.embed(TEXT, level="sentence", layers=[-2, -1], combine="mean", pooling="mean")
    assert np.abs(s.vector - ((hs[-2] + hs[-1]) / 2).mean(0)).max() <= TOL
    stacked = tiny_bert.embed(TEXT, level="sentence", layers=[1, 2], combine="stack")
    assert stacked.vectors.shape == (1, 2, 32)


def test_sentence_mean_without_special_tokens(tiny_bert, ref):
    _, _, hs = ref
    s = tiny_bert.embed(TEXT, level="sentence", special_tokens=False)
    assert np.abs(s.vector - hs[-1][1:-1].mean(0)).max() <= TOL


def test_pooler_refused_where_there_is_no_pooler(tiny_distilbert):
    with pytest.raises(bertex.OptionError, match="no trained pooler"):
        tiny_distilbert.embed(TEXT, level="sentence", pooling="pooler")


def test_first_last_avg_fixes_its_layers(tiny_bert):
    with pytest.raises(bertex.OptionError, match="first_last_avg"):
        tiny_bert.embed(TEXT, level="sentence", pooling="first_last_avg", layers=-1)


def test_pooling_only_for_sentence_level(tiny_bert):
    with pytest.raises(bertex.OptionError, match="sentence"):
        tiny_bert.embed(TEXT, level="token", pooling="mean")


@pytest.mark.parametrize("subword", ["first", "last", "mean", "max"])
def test_word_level_merges_subwords(tiny_bert, ref, subword):
    _, _, hs = ref
    tokens = tiny_bert.embed(TEXT, level="token")
    words = tiny_bert.embed(TEXT, level="word", subword=subword)
    assert words.words == ("Unbelievably", ",", "the", "child", "is", "riding", "a", "horse", ".")
    for w, (s, e), (lo, hi) in zip(words.words, words.offsets.tolist(), words.token_spans.tolist()):
        assert TEXT[s:e] == w
        part = hs[-1][lo:hi]
        want = {"first": part[0], "last": part[-1], "mean": part.mean(0), "max": part.max(0)}[
            subword
        ]
        j = words.words.index(w)
        assert np.abs(words.vectors[j] - want).max() <= TOL
    assert any(hi - lo > 1 for lo, hi in words.token_spans.tolist())  # a real split word
    assert tokens.word_ids.max() + 1 == len(words.words)


def test_pre_split_words(tiny_bert, tiny_roberta):
    words = ["Unbelievably", "the", "children", "ride"]
    for model in (tiny_bert, tiny_roberta):
        w = model.embed(words, level="word", is_split_into_words=True)
        assert w.words == tuple(words)
        assert w.text == "Unbelievably the children ride"
        assert [w.text[s:e] for s, e in w.offsets.tolist()] == words
        batch = model.embed([words, ["a", "horse"]], level="word", is_split_into_words=True)
        assert [b.words for b in batch] == [tuple(words), ("a", "horse")]


def test_normalize_and_float16(tiny_bert):
    r = tiny_bert.embed(TEXT, level="token", normalize=True, dtype="float16")
    assert r.vectors.dtype == np.float16
    assert np.allclose(np.linalg.norm(r.vectors.astype(np.float32), axis=-1), 1.0, atol=2e-3)
    s = tiny_bert.embed(TEXT, level="sentence", normalize=True)
    assert abs(np.linalg.norm(s.vector) - 1.0) < 1e-6 and s.meta.normalize


def test_list_input_returns_one_result_per_text(tiny_bert):
    rs = tiny_bert.embed(["a horse", "the child is riding"], level="token")
    assert isinstance(rs, list) and [len(r.tokens) for r in rs] == [r.vectors.shape[0] for r in rs]
    s = tiny_bert.embed(["a", "b"], level="sentence")
    assert s.vectors.shape == (2, 32) and s.vectors.dtype == np.float32


def test_metadata_records_how_a_result_was_made(tiny_bert, bert_dir):
    r = tiny_bert.embed(TEXT, level="word", layers=[-2, -1], combine="mean", subword="max")
    m = r.meta
    assert m.model == str(bert_dir) and len(m.weights_sha256) == 64
    assert (m.level, m.layers, m.combine, m.subword) == ("word", (1, 2), "mean", "max")
    assert (m.long, m.backend, m.bertex_version) == ("window", "torch", bertex.__version__)
    assert m.max_length == 64 and m.dtype == "float32"


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False
