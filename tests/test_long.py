"""Long inputs are never silent: windowed (stitched from the best window), truncated (flagged),
or refused (with the limit and the length)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch

import bertex
from bertex import windows

TOL = 1e-5
WORDS = [
    "the",
    "man",
    "is",
    "riding",
    "a",
    "horse",
    "and",
    "the",
    "child",
    "plays",
    "the",
    "guitar",
    "on",
    "a",
    "hard",
    "hat",
]


def long_text(n_words: int) -> str:
    return " ".join(WORDS[i % len(WORDS)] for i in range(n_words))


def _hf_window_states(folder, ids):
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(folder)).eval()
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).last_hidden_state[0].numpy()


def test_windowed_tokens_come_from_their_owning_window(tiny_bert, bert_dir):
    text = long_text(150)  # ~150 tokens over a 64-token model
    with pytest.warns(bertex.LongInputWarning, match="overlapping windows"):
        r = tiny_bert.embed(text, level="token")
    assert r.windowed and not r.truncated and r.report.n_windows > 2
    full = tiny_bert.tokenize(text)
    assert r.tokens == full.tokens and r.tokens[0] == "[CLS]" and r.tokens[-1] == "[SEP]"
    assert r.vectors.shape[0] == len(r.tokens) == r.report.n_tokens
    # recompute each window with transformers and check the stitched rows
    enc = tiny_bert.tokenize(text, long="window")
    content = 64 - 2
    spans = windows.spans(len(enc.ids) - 2, content, windows.default_stride(content))
    for (s, e), (a, b) in zip(spans, windows.owned(spans)):
        ids = [enc.ids[0]] + enc.ids[1 + s : 1 + e].tolist() + [enc.ids[-1]]
        states = _hf_window_states(bert_dir, ids)
        got = r.vectors[1 + a : 1 + b]
        want = states[1 + a - s : 1 + b - s]
        assert np.abs(got - want).max() <= TOL
    first = _hf_window_states(
        bert_dir, [enc.ids[0]] + enc.ids[1 : 1 + content].tolist() + [enc.ids[-1]]
    )
    assert np.abs(r.vectors[0] - first[0]).max() <= TOL  # [CLS] from the first window


def test_windowed_sentence_vector_pools_the_stitched_tokens(tiny_bert):
    text = long_text(200)
    tokens = tiny_bert.embed(text, level="token")
    s = tiny_bert.embed(text, level="sentence")
    assert s.reports[0].windowed and s.n_windowed == 1
    assert np.abs(s.vector - tokens.vectors.mean(0)).max() <= TOL


@pytest.mark.parametrize("stride", [0, 5, 30])
def test_stride_option(tiny_bert, stride):
    r = tiny_bert.embed(long_text(100), level="token", stride=stride)
    assert r.meta.stride == stride and r.windowed
    # a stride that leaves no room to move on is an option error, before any text is read
    with pytest.raises(bertex.OptionError, match=r"stride=62 .*from 0 to 61"):
        tiny_bert.embed("short", level="token", stride=62)


def test_truncate_flags_and_keeps_the_start(tiny_bert):
    text = long_text(150)
    with pytest.warns(bertex.LongInputWarning, match="truncated"):
        r = tiny_bert.embed(text, level="token", long="truncate")
    assert r.truncated and not r.windowed and len(r.tokens) == 64
    full = tiny_bert.tokenize(text)
    assert r.tokens[:-1] == full.tokens[:63] and r.report.n_tokens == len(full.tokens)
    s = tiny_bert.embed([text, "a horse"], level="sentence", long="truncate")
    assert [x.truncated for x in s.reports] == [True, False] and s.n_truncated == 1


def test_error_policy_gives_limit_and_length(tiny_bert):
    text = long_text(150)
    n = len(tiny_bert.tokenize(text).tokens)
    with pytest.raises(bertex.TooLongError) as e:
        tiny_bert.embed(["a horse", text], level="sentence", long="error")
    assert e.value.limit == 64 and e.value.length == n and e.value.index == 1
    assert f"{n} tokens" in str(e.value) and "64" in str(e.value) and "input 1" in str(e.value)


def test_pairs_truncate_longest_first(tiny_bert):
    a, b = long_text(80), "a child plays the guitar"
    r = tiny_bert.embed(a, b, level="token", long="truncate")
    nb = (
        len(
            tiny_bert.tokenize(
                b,
            ).tokens
        )
        - 2
    )
    assert r.truncated and len(r.tokens) == 64
    assert int((r.sequence_ids == 1).sum()) == nb  # the short text is kept whole
    with pytest.raises(bertex.TooLongError, match="truncate"):
        tiny_bert.embed(a, b, level="token")  # a pair is not windowed: loud, with advice


def test_max_length_option_windows_earlier_and_is_bounded(tiny_bert):
    r = tiny_bert.embed(long_text(30), level="token", max_length=16)
    assert r.windowed and r.meta.max_length == 16
    with pytest.raises(bertex.OptionError, match="up to 64"):
        tiny_bert.embed("a horse", max_length=65)


def test_attentions_of_a_windowed_input_are_refused(tiny_bert):
    with pytest.raises(bertex.InputError, match="window"):
        tiny_bert.embed(long_text(150), level="token", attentions=True)


@pytest.mark.slow
def test_one_million_characters_in_bounded_memory(tiny_bert):
    text = long_text(240_000)[:1_000_000]
    assert len(text) == 1_000_000
    tracemalloc.start()
    s = tiny_bert.embed(text, level="sentence", batch_tokens=4096)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rep = s.reports[0]
    assert rep.windowed and rep.n_windows > 3000 and np.isfinite(s.vector).all()
    # tokens of the text are held (ids, offsets, strings); no (T, H) matrix and no full batch
    per_token = peak / rep.n_tokens
    print(
        f"1M chars: {rep.n_tokens} tokens, {rep.n_windows} windows, "
        f"peak traced {peak / 2**20:.0f} MiB"
    )
    assert per_token < 1200, f"{per_token:.0f} bytes per token"
