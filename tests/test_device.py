"""device= on load: CPU always, CUDA where torch sees a GPU, a clear error where it does not.
The reference and batch-invariance checks run on every device this machine has."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import bertex

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
TEXTS = ["a man is riding a horse", "a woman plays the guitar on the hard hat", "a dog"]


@pytest.mark.parametrize("device", DEVICES)
def test_each_device_matches_transformers_and_is_batch_invariant(bert_dir, device):
    from transformers import AutoModel, AutoTokenizer

    model = bertex.load(bert_dir, device=device)
    got = model.embed(TEXTS, level="token")
    tok = AutoTokenizer.from_pretrained(bert_dir)
    ref = AutoModel.from_pretrained(bert_dir).eval()
    for text, r in zip(TEXTS, got):
        with torch.no_grad():
            want = ref(**tok(text, return_tensors="pt")).last_hidden_state[0].numpy()
        assert np.abs(r.vectors - want).max() <= 1e-5
        alone = model.embed(text, level="token")
        assert np.abs(alone.vectors - r.vectors).max() <= 1e-5
    assert got[0].meta.device.startswith(device)


def test_auto_is_cuda_only_where_there_is_one(bert_dir):
    model = bertex.load(bert_dir, device="auto")
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert model.embed("a").meta.device.startswith(want)


def test_absent_cuda_is_a_clear_error(bert_dir):
    if torch.cuda.is_available():  # a GPU machine: a device number past the last one
        with pytest.raises(bertex.OptionError, match=r"device='cuda:99'.*'cuda:0'"):
            bertex.load(bert_dir, device="cuda:99")
    else:
        with pytest.raises(bertex.OptionError, match=r"'cpu', 'auto'.*no CUDA device"):
            bertex.load(bert_dir, device="cuda")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"device": "tpu"}, "'cpu', 'cuda', 'cuda:N', 'auto'"),
        ({"device": "cuda:x"}, "cuda:N"),
        ({"precision": "fp16"}, "fp16 autocast runs on CUDA"),
    ],
)
def test_bad_device_options(bert_dir, kwargs, match):
    with pytest.raises(bertex.OptionError, match=match):
        bertex.load(bert_dir, **kwargs)


@pytest.mark.parametrize("device", DEVICES)
def test_batches_in_flight_at_once_give_the_batch_by_batch_vectors(bert_dir, device, monkeypatch):
    """Two forward threads (a GPU's default, the CPU's on 2+ cores) against one at a time:
    many small batches, every vector the same to 1e-5 and in input order."""
    texts = [f"{w} " * (i % 17 + 1) + "end" for i, w in enumerate(["man", "horse", "the"] * 30)]
    opts = {"level": "sentence", "pooling": "mean", "batch_tokens": 96, "max_batch_size": 4}
    monkeypatch.setenv("BERTEX_WORKERS", "1")
    one = bertex.load(bert_dir, device=device)
    monkeypatch.setenv("BERTEX_WORKERS", "2")
    two = bertex.load(bert_dir, device=device)
    cores = len(os.sched_getaffinity(0))
    assert (one.backend.workers, two.backend.workers) == (
        1,
        2 if device == "cuda" else min(2, cores),
    )
    a, b = one.embed(texts, **opts).vectors, two.embed(texts, **opts).vectors  # (N, H)
    assert a.shape[0] == len(texts)
    assert np.abs(a - b).max() <= 1e-5
    for i in (0, 17, 89):
        assert np.abs(one.embed(texts[i], **opts).vectors[0] - b[i]).max() <= 1e-5
