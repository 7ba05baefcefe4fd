"""A deterministic fake backend and a tiny tokenizer, for fast tests of everything that is not
the network itself (the engine, the server, adapters, result assembly); bertex.fake wraps them
in a Model.

Vectors come from fixed random tables seeded by a hash: a token's hidden state depends on its
id, its position, the layer and its own window's ids (a context term), never on the other rows
of the batch or on padding, so batch-invariance holds exactly as it does for a real model.

>>> from bertex.fake import fake_model
>>> model = fake_model()
>>> model.embed(["a cat", "a dog"], level="sentence").vectors.shape
(2, 16)
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from ..types import Batch, ModelOutput
from . import Want

WORDS = (
    "a an the man woman child dog cat horse guitar is are was riding playing eating running "
    "with on in of to and hard hat dancing plays rides number slow gone ok"
).split()
SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


class FakeBackend:
    """Shape-correct ModelOutput from hashed tables. `delay_s` sleeps per batch to simulate
    work; `batches` records the rows of each batch seen (a test reads it); `gate`, when set
    to a cleared Event, holds every forward until a test sets it. `block_after` = N is a stuck
    backend (a wedged native call): every forward after the first N blocks until `released`
    is set, which a test may never do."""

    name = "fake"
    precision = "fp32"
    device = "cpu"

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int = 16,
        num_layers: int = 2,
        num_heads: int = 2,
        max_positions: int = 32,
        delay_s: float = 0.0,
        workers: int = 1,
        seed: int = 0,
    ) -> None:
        rng = np.random.default_rng(seed)
        self.token_table = rng.standard_normal((vocab_size, hidden_size)).astype(np.float32)
        self.position_table = rng.standard_normal((max_positions, hidden_size)).astype(np.float32)
        self.num_layers, self.num_heads = num_layers, num_heads
        self.delay_s, self.workers = delay_s, workers
        self.batches: list[int] = []
        self.gate: threading.Event | None = None
        self.block_after: int | None = None
        self.released = threading.Event()
        self._started = 0
        self._lock = threading.Lock()

    def init_worker(self) -> None:
        """Nothing to set per thread (the torch backend sets its thread count here)."""

    def forward(self, batch: Batch, want: Want) -> ModelOutput:
        if self.gate is not None:
            self.gate.wait()
        with self._lock:
            self._started += 1
            stuck = self.block_after is not None and self._started > self.block_after
        if stuck:
            self.released.wait()
        if self.delay_s:
            time.sleep(self.delay_s)
        with self._lock:
            self.batches.append(len(batch.order))
        mask = batch.attention_mask.astype(np.float32)  # (B, L)
        base = self.token_table[batch.input_ids]  # (B, L, H)
        base = base + 0.1 * self.position_table[: batch.input_ids.shape[1]]  # (B, L, H)
        # the window's own context: mean of its real tokens, so a token depends on its window
        ctx = (base * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1), 1)[:, None]  # (B, H)
        layers = want.layers or (self.num_layers,)
        hidden = np.stack(
            [np.tanh(base * (1 + k) / 4 + ctx[:, None, :] * k / 8) for k in layers], axis=2
        ).astype(np.float32)  # (B, L, K, H)
        pooler = np.tanh(hidden[:, 0, -1]) if want.pooler else None  # (B, H)
        attentions = self._attentions(mask) if want.attentions else None
        return ModelOutput(hidden if want.layers else None, pooler, attentions)

    def _attentions(self, mask: np.ndarray) -> np.ndarray:
        """Uniform attention over each row's real tokens: (B, layers, heads, L, L)."""
        b, n = mask.shape
        rows = mask / np.maximum(mask.sum(1, keepdims=True), 1)  # (B, L)
        shape = (b, self.num_layers, self.num_heads, n, n)
        maps = np.broadcast_to(rows[:, None, None, None, :], shape)
        return np.ascontiguousarray(maps, dtype=np.float32)


def fake_tokenizer(max_length: int = 32) -> Any:
    """A lowercasing WordPiece tokenizer over a few dozen words and the letters, in memory."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + list("0123456789.,!?")
    vocab_list = list(SPECIALS) + WORDS + letters + ["##" + c for c in letters]
    vocab = {t: i for i, t in enumerate(dict.fromkeys(vocab_list))}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    tok.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_length,
    )
