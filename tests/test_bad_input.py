"""Hostile inputs: each gets a defined behaviour and a message that says what to do."""

from __future__ import annotations

import numpy as np
import pytest

import bertex


@pytest.mark.parametrize(
    "text,why", [("", "empty"), ("   \t\n", "whitespace"), ("\u0000\u0001\u200b", "no tokens")]
)
def test_nothing_to_embed_is_an_error_naming_the_index(tiny_bert, text, why):
    with pytest.raises(bertex.EmptyInputError, match=why) as e:
        tiny_bert.embed(["a horse", text], level="sentence")
    assert e.value.index == 1 and str(e.value).startswith("input 1:")


def test_control_characters_and_nul_are_dropped_with_offsets_intact(tiny_bert):
    clean = tiny_bert.embed("a man is dancing", level="token")
    dirty = tiny_bert.embed("a\u0000 man\u0007 is dancing", level="token")
    assert dirty.tokens == clean.tokens
    assert np.abs(dirty.vectors - clean.vectors).max() <= 1e-5
    assert dirty.offsets[2].tolist() == [3, 6]  # "man" in the original string


def test_lone_surrogate_is_refused_with_position(tiny_bert):
    with pytest.raises(bertex.InvalidTextError, match=r"U\+D800 at character 3") as e:
        tiny_bert.embed(["ok", "abc\ud800def"], level="token")
    assert e.value.index == 1


def test_invalid_utf8_bytes_are_refused_with_position(tiny_bert):
    with pytest.raises(bertex.InvalidTextError, match="invalid UTF-8 at byte 2"):
        tiny_bert.embed([b"ab\xff"], level="sentence")
    assert tiny_bert.embed([b"a horse"], level="sentence").vectors.shape == (1, 32)


@pytest.mark.parametrize("value,name", [(3, "int"), (None, "NoneType"), (["a"], "list")])
def test_non_string_element_names_index_and_type(tiny_bert, value, name):
    with pytest.raises(bertex.InvalidTextError, match=f"input 2: expected a string, got {name}"):
        tiny_bert.embed(["a", "b", value], level="sentence")


def test_empty_list_and_mismatched_pairs(tiny_bert):
    with pytest.raises(bertex.InvalidTextError, match="empty"):
        tiny_bert.embed([], level="sentence")
    with pytest.raises(bertex.InvalidTextError, match="2 texts but 1 text_pair"):
        tiny_bert.embed(["a", "b"], ["c"], level="sentence")


def test_emoji_mixed_scripts_and_rtl_are_embedded(tiny_bert, tiny_roberta):
    texts = ["I love it 🎉🎉", "English 中文 русский", "שלום עולם", "مرحبا بالعالم"]
    for model in (tiny_bert, tiny_roberta):
        s = model.embed(texts, level="sentence")
        assert s.vectors.shape == (4, 32) and np.isfinite(s.vectors).all()
    # byte-level BPE has no unknown token: nothing is lost
    r = tiny_roberta.embed("🎉", level="token", special_tokens=False)
    assert r.report.unk_count == 0 and len(r.tokens) >= 1


@pytest.mark.parametrize(
    "option,value",
    [("level", "paragraph"), ("pooling", "average"), ("long", "split"), ("combine", "avg")],
)
def test_unknown_option_value_is_an_error_listing_valid_ones(tiny_bert, option, value):
    with pytest.raises(bertex.OptionError, match="choose one of"):
        tiny_bert.embed("a", **{option: value})


def test_errors_share_one_root(tiny_bert):
    for call in (
        lambda: tiny_bert.embed(""),
        lambda: tiny_bert.embed("a", level="x"),
        lambda: bertex.load("/no/such/folder"),
    ):
        with pytest.raises(bertex.BertexError):
            call()
