"""The dataclasses handed from stage to stage, and the results handed to the caller.

    texts ─► Segment/Encoding (tokenize) ─► DocPlan + Window (windows) ─► Batch (batching)
          ─► ModelOutput (backends) ─► TokenEmbedding / WordEmbedding / SentenceEmbeddings

Arrays are numpy; shapes are in the field comments (T tokens, W words, N inputs, H hidden size,
K selected layers, D the output width after combining layers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np


@dataclass(frozen=True, eq=False)
class Segment:
    """One tokenized text without special tokens. Offsets index into `text`."""

    text: str
    ids: np.ndarray  # (T,) int64
    tokens: tuple[str, ...]
    offsets: np.ndarray  # (T, 2) int64, character [start, end) into `text`
    word_ids: np.ndarray  # (T,) int64, the word each token belongs to
    words: tuple[str, ...] | None = None  # the caller's words when input was pre-split

    def __len__(self) -> int:
        return int(self.ids.shape[0])


@dataclass(frozen=True, eq=False)
class Encoding:
    """One input as the tokenizer saw it: a text, or a text pair."""

    index: int  # position in the caller's list
    a: Segment
    b: Segment | None
    unk_count: int  # tokens that are the unknown token
    unk_chars: int  # characters those tokens cover
    n_chars: int  # non-whitespace characters in the input


@dataclass(frozen=True, eq=False)
class Window:
    """A model-ready slice of one input, and which of its positions the output keeps.

    Rows `take[0]:take[1]` of this window's output land at output positions
    `put : put + take[1] - take[0]` of its document (see windows.plan for who owns what).
    """

    doc: int  # index of the DocPlan
    k: int  # window number within the document
    ids: np.ndarray  # (n,) int64, special tokens included
    type_ids: np.ndarray  # (n,) int64
    take: tuple[int, int]
    put: int

    def __len__(self) -> int:
        return int(self.ids.shape[0])


@dataclass(frozen=True, eq=False)
class DocPlan:
    """One input's output sequence (what the result reports) and the windows that compute it."""

    encoding: Encoding
    ids: np.ndarray  # (T,) int64, the output sequence, special tokens included
    tokens: tuple[str, ...]
    offsets: np.ndarray  # (T, 2) into the text of the token's segment; (0, 0) for specials
    word_ids: np.ndarray  # (T,) -1 for special tokens
    sequence_ids: np.ndarray  # (T,) 0 first text, 1 second text, -1 special
    type_ids: np.ndarray  # (T,)
    special_mask: np.ndarray  # (T,) bool
    windows: tuple[Window, ...]
    n_tokens: int  # tokens of the whole input, before any truncation, specials included
    truncated: bool

    @property
    def windowed(self) -> bool:
        return len(self.windows) > 1


@dataclass(frozen=True, eq=False)
class Batch:
    """Padded windows for one forward pass. `order[i]` is the index of row i's window."""

    order: np.ndarray  # (B,) int64 into the caller's window list
    input_ids: np.ndarray  # (B, L) int64
    attention_mask: np.ndarray  # (B, L) int64, 1 real token, 0 padding
    token_type_ids: np.ndarray  # (B, L) int64

    @property
    def n_real_tokens(self) -> int:
        return int(self.attention_mask.sum())


@dataclass(frozen=True, eq=False)
class ModelOutput:
    """What a backend returns for one Batch, as float32 numpy arrays."""

    hidden: np.ndarray | None  # (B, L, K, H): the requested layers, in request order
    pooler: np.ndarray | None  # (B, H)
    attentions: np.ndarray | None  # (B, layers, heads, L, L)


@dataclass(frozen=True)
class Want:
    """What one forward pass must return. Nothing more is computed or copied."""

    layers: tuple[int, ...]  # absolute indices, 0 = embedding output; empty = none
    pooler: bool = False
    attentions: bool = False


@dataclass(frozen=True)
class Meta:
    """How a result was computed; written beside every vector bertex produces."""

    model: str
    weights_sha256: str
    level: str
    layers: tuple[int, ...]  # absolute Hugging Face indices, 0 = embedding layer output
    combine: str
    pooling: str | None
    pooling_source: str | None  # "sentence-transformers config", "default", "requested"
    normalize: bool
    special_tokens: bool
    subword: str | None
    long: str
    max_length: int
    stride: int
    dtype: str
    backend: str
    bertex_version: str
    precision: str = "fp32"
    normalize_source: str | None = None  # "model config", "requested", "not a pooled vector"
    dimensions: int | None = None  # vectors truncated to their first N values
    device: str = "cpu"  # where the model ran: "cpu", "cuda:0", ...
    model_origin: str | None = None  # a converted TF checkpoint: folder, hash, casing chosen
    quantization: dict[str, Any] | None = field(default=None, hash=False)  # calibrate.py

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)  # quantization only where calibrated int8 was asked for
        return d if d["quantization"] else {k: v for k, v in d.items() if k != "quantization"}


@dataclass(frozen=True)
class InputReport:
    """What happened to one input: its length, whether it was windowed or truncated, UNKs."""

    index: int
    n_tokens: int  # tokens of the whole input, special tokens included
    n_windows: int
    truncated: bool
    unk_count: int
    unk_chars: int
    n_chars: int
    seen_tokens: int = 0  # tokens the model processed: every window, special tokens included

    @property
    def windowed(self) -> bool:
        return self.n_windows > 1

    @property
    def unk_rate(self) -> float:
        return self.unk_chars / self.n_chars if self.n_chars else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The one JSON form of a report, used by every adapter (CLI, server, files)."""
        return {**asdict(self), "windowed": self.windowed, "unk_rate": round(self.unk_rate, 6)}


@dataclass(frozen=True, eq=False)
class TokenEmbedding:
    """One vector per token. With combine="stack" or level="hidden_states" vectors is (K, T, H)."""

    kind: ClassVar[str] = "token"  # "hidden_states" results are TokenEmbedding too: see meta.level

    text: str
    text_pair: str | None
    tokens: tuple[str, ...]
    ids: np.ndarray  # (T,)
    offsets: np.ndarray  # (T, 2) character spans into text (or text_pair, see sequence_ids)
    word_ids: np.ndarray  # (T,) -1 for special tokens
    sequence_ids: np.ndarray  # (T,) 0 text, 1 text_pair, -1 special
    type_ids: np.ndarray  # (T,)
    special_mask: np.ndarray  # (T,) bool
    vectors: np.ndarray  # (T, D) or (K, T, H)
    attentions: np.ndarray | None  # (layers, heads, T, T) when asked for
    report: InputReport
    meta: Meta

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.vectors.shape)

    @property
    def windowed(self) -> bool:
        return self.report.windowed

    @property
    def truncated(self) -> bool:
        return self.report.truncated

    def layout(self) -> dict[str, Any]:
        """Where each vector comes from, as JSON-ready lists (the CLI's and server's records)."""
        return {
            "tokens": list(self.tokens),
            "ids": self.ids.tolist(),
            "word_ids": self.word_ids.tolist(),
            "special": self.special_mask.tolist(),
            "offsets": self.offsets.tolist(),
        }


@dataclass(frozen=True, eq=False)
class WordEmbedding:
    """One vector per word (sub-words merged). vectors: (W, D) or (K, W, H)."""

    kind: ClassVar[str] = "word"

    text: str
    text_pair: str | None
    words: tuple[str, ...]
    offsets: np.ndarray  # (W, 2) character spans
    sequence_ids: np.ndarray  # (W,) 0 text, 1 text_pair
    token_spans: np.ndarray  # (W, 2) [first, last+1) token positions in the token sequence
    vectors: np.ndarray
    report: InputReport
    meta: Meta

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.vectors.shape)

    def layout(self) -> dict[str, Any]:
        """Where each vector comes from, as JSON-ready lists (the CLI's and server's records)."""
        return {"words": list(self.words), "offsets": self.offsets.tolist()}


@dataclass(frozen=True, eq=False)
class SentenceEmbeddings:
    """One vector per input. vectors: (N, D), or (N, K, H) with combine="stack"."""

    kind: ClassVar[str] = "sentence"

    texts: tuple[str, ...]
    text_pairs: tuple[str, ...] | None
    vectors: np.ndarray
    reports: Sequence[InputReport]  # a tuple, or a ReportTable (columns, read as reports)
    meta: Meta
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.vectors.shape)

    @property
    def vector(self) -> np.ndarray:
        """The single vector when there is one input; (D,)."""
        if len(self) != 1:
            raise ValueError(f"{len(self)} vectors here; index .vectors instead")
        return self.vectors[0]

    @property
    def n_windowed(self) -> int:
        return sum(r.windowed for r in self.reports)

    @property
    def n_truncated(self) -> int:
        return sum(r.truncated for r in self.reports)


@dataclass(frozen=True, eq=False)
class WindowEmbeddings:
    """level="window": one vector per window of one input (a long document's chunks).

    The windows' owned pieces partition the text: every token belongs to exactly one window
    (the one that saw it with the most context, see windows.plan), and a window's vector pools
    its owned tokens as computed in that window ([CLS] pooling takes the window's own [CLS]).
    """

    kind: ClassVar[str] = "window"

    text: str
    spans: np.ndarray  # (W, 2) character [start, end) of each window's owned piece of text
    vectors: np.ndarray  # (W, D)
    report: InputReport
    meta: Meta

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    text_pair: ClassVar[None] = None  # windows are never made for text pairs

    @property
    def pieces(self) -> list[str]:
        return [self.text[a:b] for a, b in self.spans.tolist()]

    @property
    def offsets(self) -> np.ndarray:
        """The spans, under the name the token and word results use: (W, 2)."""
        return self.spans

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.vectors.shape)

    def layout(self) -> dict[str, Any]:
        """Where each vector comes from, as JSON-ready lists (the CLI's and server's records)."""
        return {"pieces": self.pieces, "offsets": self.spans.tolist()}


Result = TokenEmbedding | WordEmbedding | SentenceEmbeddings | WindowEmbeddings


@dataclass(frozen=True, eq=False)
class Collected:
    """`embed(..., on_error="collect")`: what worked, and why the rest did not.

    results  what embed returns for the inputs that worked: SentenceEmbeddings, or a list of
             TokenEmbedding / WordEmbedding; None when no input worked
    errors   one InputError per failed input; `.index` is its position in the caller's list
    kept     the caller's index of each result, in order (reports carry the same indices)
    """

    results: SentenceEmbeddings | list[TokenEmbedding] | list[WordEmbedding] | None
    errors: tuple[Any, ...]  # tuple[InputError, ...]
    kept: tuple[int, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class Request:
    """One embedding request fully resolved against one model: the stages read only this.

    Built by request.resolve from EmbedOptions and the model's info; every None of the options
    is replaced by the model's own value, and `source` fields say where a value came from.
    """

    level: Literal["token", "word", "sentence", "window", "hidden_states"]
    layers: tuple[int, ...]  # absolute Hugging Face indices, 0 = embedding output
    combine: str
    pooling: str | None  # sentence level only
    pooling_source: str | None  # "sentence-transformers config", "default", "requested"
    normalize: bool
    normalize_source: str  # "model config", "requested", "not a pooled vector"
    subword: str | None  # word level only
    special_tokens: bool
    long: str
    max_length: int
    stride: int
    dtype: str
    attentions: bool
    split_words: bool
    batch_tokens: int
    max_batch_size: int
    dimensions: int | None = None  # keep the first N values of each vector
    max_chars: int = 0  # characters of one input at most; 0: no limit

    @property
    def uses_pooler(self) -> bool:
        return self.pooling == "pooler"


@dataclass(frozen=True, eq=False)
class Tokenized:
    """`Model.tokenize` output for one input: what the model would see, and the UNK count."""

    kind: ClassVar[str] = "tokens"

    text: str
    tokens: tuple[str, ...]
    ids: np.ndarray  # (T,) special tokens included
    offsets: np.ndarray  # (T, 2)
    word_ids: np.ndarray  # (T,)
    special_mask: np.ndarray  # (T,) bool
    report: InputReport

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values, as `bertex tokens --format json` and /v1/tokenize give."""
        return {
            "text": self.text,
            "tokens": list(self.tokens),
            "ids": self.ids.tolist(),
            "offsets": self.offsets.tolist(),
            "word_ids": self.word_ids.tolist(),
            "special": self.special_mask.tolist(),
            **self.report.to_dict(),
        }
