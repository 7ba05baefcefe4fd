"""Everyday helpers: similarity, truncated dimensions, flair's first_last sub-words, one
vector per window of a long document, progress, and hints for other libraries' names."""

from __future__ import annotations

import numpy as np
import pytest

import bertex
from bertex.pooling import l2_normalize


def long_text(n_words: int) -> str:
    words = "the man is riding a horse on the hard hat with a dog".split()
    return " ".join(words[i % len(words)] for i in range(n_words))


def test_similarity_is_the_cosine_of_the_sentence_vectors(tiny_bert):
    a, b = ["a man", "a dog runs"], ["a horse", "the hat", "a man"]
    got = tiny_bert.similarity(a, b)
    va, vb = tiny_bert.embed(a).vectors, tiny_bert.embed(b).vectors
    assert got.shape == (2, 3)
    assert np.abs(got - l2_normalize(va) @ l2_normalize(vb).T).max() <= 1e-6
    assert np.allclose(np.diag(tiny_bert.similarity(a)), 1.0, atol=1e-6)
    assert np.abs(bertex.similarity(tiny_bert.embed(a), vb) - got).max() <= 1e-6
    with pytest.raises(bertex.OptionError, match="width"):
        bertex.similarity(va, vb[:, :5])


def test_dimensions_keep_the_first_values_and_renormalize(st_dir, tiny_bert):
    model = bertex.load(st_dir)  # normalizes
    full = model.embed(["a man is dancing"], normalize=False).vectors
    cut = model.embed(["a man is dancing"], dimensions=8)
    assert cut.vectors.shape == (1, 8) and cut.meta.dimensions == 8
    assert np.abs(cut.vectors - l2_normalize(full[:, :8])).max() <= 1e-6
    tok = tiny_bert.embed("a man", level="token", dimensions=4)
    full_tok = tiny_bert.embed("a man", level="token")
    assert np.array_equal(tok.vectors, full_tok.vectors[:, :4])
    with pytest.raises(bertex.OptionError, match="from 1 to 32"):
        tiny_bert.embed("a man", dimensions=33)
    assert tiny_bert.embed("a", layers=[1, 2], dimensions=64).vectors.shape == (1, 64)


def test_first_last_subword_is_first_and_last_side_by_side(tiny_bert):
    text = "tokenization works unbelievably"
    fl = tiny_bert.embed(text, level="word", subword="first_last")
    first = tiny_bert.embed(text, level="word", subword="first")
    last = tiny_bert.embed(text, level="word", subword="last")
    assert fl.vectors.shape == (len(first.words), 2 * tiny_bert.dim)
    assert np.array_equal(fl.vectors, np.concatenate([first.vectors, last.vectors], axis=1))


def test_window_level_gives_one_vector_per_window(tiny_bert):
    text = long_text(150)
    with pytest.warns(bertex.LongInputWarning):
        w = tiny_bert.embed(text, level="window", pooling="mean")
        tok = tiny_bert.embed(text, level="token")
    assert w.kind == "window" and len(w) == tok.report.n_windows > 2
    # the owned pieces partition the text, in order
    starts, ends = w.spans[:, 0], w.spans[:, 1]
    assert starts[0] == 0 and ends[-1] == len(text) and (starts[1:] >= ends[:-1]).all()
    assert "".join(text[a:b] for a, b in w.spans.tolist()).replace(" ", "") == text.replace(" ", "")
    # each window vector is the mean of the stitched token vectors that window owns
    plan_windows = tiny_bert.runner.prepare(
        [text], None, tiny_bert.resolve(bertex.EmbedOptions.create(level="token")), None, 0
    )[0].windows
    for k, win in enumerate(plan_windows):
        rows = tok.vectors[win.put : win.put + win.take[1] - win.take[0]]
        assert np.abs(w.vectors[k] - rows.mean(0)).max() <= 1e-5
    short = tiny_bert.embed("a man", level="window", pooling="mean")
    assert np.abs(short.vectors[0] - tiny_bert.embed("a man", pooling="mean").vector).max() <= 1e-6


@pytest.mark.parametrize("level", ["sentence", "token"])  # the columnar and per-input paths
def test_progress_bar_counts_every_input(tiny_bert, capsys, level):
    texts = [f"text {i}" for i in range(10)] + [""]  # the empty one is left out, and counted
    got = tiny_bert.embed(texts, level=level, progress=True, on_error="collect")
    assert len(got.errors) == 1
    assert "11/11" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "hint"),
    [("batch_size", "batch_tokens"), ("show_progress_bar", "progress=True"), ("levle", "'level'")],
)
def test_other_libraries_names_get_a_pointer(tiny_bert, name, hint):
    with pytest.raises(bertex.OptionError, match=hint):
        tiny_bert.embed("a", **{name: 8})


@pytest.mark.parametrize(
    ("doc", "language", "n"),
    [
        ("Dr. Smith went to Washington. He arrived at 5 p.m. today!  Did he?", "en", 3),
        ("你好，世界！今天天气很好。我们去公园吧？", "zh", 3),
        ("BERT 很好用。It works well! 123 项测试通过。", "zh", 3),
    ],
)
def test_sentences_split_with_exact_offsets(tiny_bert, doc, language, n):
    spans = bertex.split_sentences(doc, language=language)
    assert len(spans) == n
    assert all(doc[s.start : s.end] == s.text and s.text == s.text.strip() for s in spans)
    assert [s.start for s in spans] == sorted(s.start for s in spans)
    vectors = tiny_bert.embed([s.text for s in spans]).vectors  # one vector per sentence
    assert vectors.shape == (n, tiny_bert.dim)


def test_sentence_splitting_bad_input():
    with pytest.raises(bertex.InvalidTextError, match="language"):
        bertex.split_sentences("a. b.", language="")
    with pytest.raises(bertex.InvalidTextError):
        bertex.split_sentences(b"\xff")
    assert bertex.split_sentences("   ") == []


def test_info_reads_as_value_and_as_call(tiny_bert):
    assert tiny_bert.info() is tiny_bert.info and tiny_bert.info.num_layers == 2


def test_a_typo_of_the_embedded_model_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(bertex.ModelNotFoundError, match="did you mean 'all-MiniLM-L6-v2'"):
        bertex.load("all-MiniLM-L6")
    with pytest.raises(bertex.ModelNotFoundError, match="did you mean"):
        bertex.load("all-minilm-l6-v3")


def test_an_input_over_max_chars_is_refused_before_tokenizing(tiny_bert):
    big = "word " * 30  # 150 characters
    with pytest.raises(bertex.TooLongError, match=r"input 1: 150 characters .*max_chars=100"):
        tiny_bert.embed(["ok", big], max_chars=100)
    got = tiny_bert.embed(["ok", big, "fine"], max_chars=100, on_error="collect")
    assert got.kept == (0, 2) and got.errors[0].unit == "characters"
    assert tiny_bert.embed(big, max_chars=0).vectors.shape[0] == 1  # 0: no limit
    assert bertex.EmbedOptions().max_chars == 10_000_000
    with pytest.raises(bertex.TooLongError):
        tiny_bert.embed(big, max_chars=149)  # one character over


def test_window_level_from_the_cli_prints_and_reads_back(bert_dir, tiny_bert, tmp_path, capsys):
    from bertex.cli.main import main

    text = long_text(150)
    assert main(["embed", "--model", str(bert_dir), "--level", "window", text]) == 0
    assert "windows, vectors" in capsys.readouterr().out
    out = tmp_path / "w.parquet"
    assert (
        main(["embed", "--model", str(bert_dir), "--level", "window", text, "--out", str(out)]) == 0
    )
    stored = bertex.read(out)
    want = tiny_bert.embed(text, level="window")
    assert stored.meta["level"] == "window" and stored.tokens[0] == want.pieces
    assert np.abs(stored.vectors[0] - want.vectors).max() <= 1e-6
    assert np.array_equal(stored.offsets[0], want.spans)
