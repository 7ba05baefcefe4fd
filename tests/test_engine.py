"""The async micro-batching engine (bertex.Engine) on the fake backend: batching across
callers, per-input failures, overload, deadlines, cancellation, and equality with embed()."""

from __future__ import annotations

import numpy as np

from bertex.backends.fake import fake_model

TEXTS = ["a man is dancing", "the child rides a horse", "a woman plays the guitar"]


def test_fake_backend_is_batch_invariant_and_shape_correct():
    model = fake_model()
    together = model.embed(TEXTS, level="sentence").vectors
    alone = np.stack([model.embed(t, level="sentence").vector for t in TEXTS])
    assert together.shape == (3, 16) and np.array_equal(together, alone)
    tok = model.embed(TEXTS[:1], ["a horse"], level="token", attentions=True)[0]
    n = len(tok.tokens)
    assert tok.vectors.shape == (n, 16) and tok.attentions.shape == (2, 2, n, n)
    assert not np.array_equal(together[0], together[1])
