"""Tokens, ids, offsets, word ids, special tokens, [UNK] accounting and casing."""

from __future__ import annotations

import numpy as np
import pytest

import bertex

SEED = "你好，世界！"


@pytest.mark.slow
def test_seed_sentence_on_uncased_english_vocab_warns_3_of_6(default_model):
    with pytest.warns(bertex.UnknownTokenWarning) as caught:
        r = default_model.embed(SEED, level="token")
    msg = str(caught[0].message)
    assert "3 of 6 characters (50.0%)" in msg and "[UNK]" in msg
    assert "Han" in msg and "bert-base-chinese" in msg
    assert r.report.unk_count == 3 and r.report.unk_chars == 3 and r.report.n_chars == 6
    assert r.report.unk_rate == pytest.approx(0.5)
    assert r.tokens.count("[UNK]") == 3
    assert [SEED[s:e] for s, e in r.offsets[1:-1].tolist()] == list(SEED)


def test_chinese_vocabulary_has_no_unk(tiny_chinese):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", bertex.UnknownTokenWarning)
        r = tiny_chinese.embed(SEED, level="token")
    assert r.tokens[1:-1] == tuple(SEED) and r.report.unk_count == 0
    assert r.offsets[1:-1].tolist() == [[i, i + 1] for i in range(6)]


def test_every_result_carries_ids_offsets_words_specials(tiny_bert):
    text = "Riding horses, unbelievably!"
    r = tiny_bert.embed(text, level="token")
    n = len(r.tokens)
    for arr in (r.ids, r.offsets, r.word_ids, r.special_mask, r.type_ids, r.sequence_ids):
        assert len(arr) == n
    assert r.ids.dtype == np.int64 and r.offsets.shape == (n, 2)
    assert r.word_ids[0] == -1 and r.word_ids[-1] == -1
    for t, (s, e), special in zip(r.tokens, r.offsets.tolist(), r.special_mask.tolist()):
        if not special and t != "[UNK]":
            assert t.removeprefix("##") == text[s:e].lower()


def test_tokenize_matches_embed(tiny_bert):
    t = tiny_bert.tokenize("a man is dancing")
    r = tiny_bert.embed("a man is dancing", level="token")
    assert t.tokens == r.tokens and t.ids.tolist() == r.ids.tolist()


def test_offsets_point_into_the_original_text_with_control_chars_and_rtl(tiny_bert, tiny_roberta):
    text = "a\u0000man\u200b is\tdancing שלום مرحبا"
    for model in (tiny_bert, tiny_roberta):
        r = model.embed(text, level="token", special_tokens=False)
        for s, e in r.offsets.tolist():
            assert 0 <= s <= e <= len(text)  # byte pieces of one character may be empty
    # BERT's normalizer drops control characters; byte-level BPE keeps every byte
    bert = tiny_bert.embed(text, level="token", special_tokens=False)
    for tok, (s, e) in zip(bert.tokens, bert.offsets.tolist()):
        if tok != "[UNK]":  # 'a\0man' is one word once the NUL is gone; offsets still cover it
            assert tok.removeprefix("##") == text[s:e].replace("\u0000", "").lower()


def test_cased_vocabulary_is_never_lowercased(cased_bert_dir):
    with pytest.warns(bertex.TokenizerFixWarning, match="cased"):
        model = bertex.load(cased_bert_dir)
    assert model.info.lowercase is False and model.info.strip_accents is False
    assert model.info.tokenizer_fixes
    toks = model.tokenize("Café Zürich").tokens
    assert any(t.startswith("C") for t in toks) and any("é" in t for t in toks)


def test_uncased_vocabulary_keeps_lowercasing(tiny_bert):
    assert tiny_bert.info.lowercase is True and tiny_bert.info.tokenizer_fixes == ()


def test_roberta_is_cased_and_keeps_accents(tiny_roberta):
    assert tiny_roberta.info.lowercase is False
    r = tiny_roberta.embed("Café", level="token", special_tokens=False)
    assert tiny_roberta.tokenizer.hf.decode(r.ids.tolist()) == "Café"
    assert {"Café"[s:e] for s, e in r.offsets.tolist()} >= {"C", "é"}


@pytest.mark.slow
def test_unk_warning_for_emoji_names_symbols(default_model):
    with pytest.warns(bertex.UnknownTokenWarning, match="symbols"):
        r = default_model.embed("I love it 🫠", level="token")
    assert r.report.unk_count == 1


def test_over_long_word_is_diagnosed_as_such(tiny_bert):
    limit = tiny_bert.tokenizer.hf.backend_tokenizer.model.max_input_chars_per_word
    word = "x" * (limit + 1)  # every character is in the vocabulary
    with pytest.warns(bertex.UnknownTokenWarning) as caught:
        r = tiny_bert.embed(f"a man {word} rides", level="token")
    msg = str(caught[0].message)
    assert f"words over {limit} characters" in msg and "Latin" not in msg
    assert r.report.unk_count == 1 and r.report.unk_chars == limit + 1
    # one character fewer is not over the limit: no [UNK] at all
    assert tiny_bert.tokenize("x" * limit).report.unk_count == 0


def test_script_diagnosis_still_names_the_script(tiny_bert):
    with pytest.warns(bertex.UnknownTokenWarning) as caught:
        tiny_bert.embed("привет мир", level="token")
    msg = str(caught[0].message)
    assert "Cyrillic script" in msg and "characters:" not in msg and "WordPiece" not in msg
