"""The one place that wires the stages:

texts ─► tokenize ─► windows.plan ─► batching ─► backend ─► align/pooling ─► results
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__
from . import batching, diagnostics, results, windows
from .align import Collector, SentenceCollector, TokenCollector, dispatch
from .backends import Backend, Want
from .config import EmbedOptions
from .errors import InvalidTextError, OptionError
from .models import ModelInfo
from .tokenize import TextTokenizer, check_text, check_words
from .types import (
    Batch,
    DocPlan,
    Encoding,
    InputReport,
    Meta,
)


@dataclass(frozen=True)
class Request:
    """EmbedOptions resolved against one model: absolute layers, the pooling and its source."""

    options: EmbedOptions
    layers: tuple[int, ...]
    combine: str
    pooling: str | None
    pooling_source: str | None
    normalize: bool
    max_length: int

    @property
    def want(self) -> Want:
        pooler = self.pooling == "pooler"
        return Want(
            layers=() if pooler else self.layers, pooler=pooler, attentions=self.options.attentions
        )


@dataclass(frozen=True)
class Tokenized:
    """`Model.tokenize` output for one input: what the model would see, and the UNK count."""

    text: str
    tokens: tuple[str, ...]
    ids: np.ndarray
    offsets: np.ndarray
    word_ids: np.ndarray
    special_mask: np.ndarray
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
            "unk_count": self.report.unk_count,
            "n_tokens": self.report.n_tokens,
            "n_windows": self.report.n_windows,
        }


class Model:
    """A loaded model. Build one with `bertex.load`."""

    def __init__(
        self,
        info: ModelInfo,
        tokenizer: TextTokenizer,
        backend: Backend,
        weights_sha256: str,
        split_tokenizer_factory: Any = None,
    ) -> None:
        self.info = info
        self.tokenizer = tokenizer
        self.backend = backend
        self.weights_sha256 = weights_sha256
        self._split_factory = split_tokenizer_factory
        self._pool: ThreadPoolExecutor | None = None
        self._id_to_token = {i: t for t, i in tokenizer.hf.get_vocab().items()}

    def __repr__(self) -> str:
        i = self.info
        return (
            f"<bertex.Model {i.name!r} {i.model_type} layers={i.num_layers} "
            f"hidden={i.hidden_size} max_length={i.max_length}>"
        )

    @property
    def dim(self) -> int:
        return self.info.hidden_size

    # -- public API -------------------------------------------------------------------------

    def embed(
        self,
        inputs: Any,
        text_pair: Any = None,
        *,
        options: EmbedOptions | None = None,
        timings: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Embed one text or a list of texts (or pairs). See EmbedOptions for the options.

        level="token" | "word" | "hidden_states": one result per input (a list for a list).
        level="sentence": SentenceEmbeddings with vectors (N, D), also for a single text.
        `timings`, when given, receives the seconds spent in tokenize, forward and output.
        """
        clock = _Clock(timings)
        opts = options or EmbedOptions.create(**kwargs)
        if options is not None and kwargs:
            opts = EmbedOptions.create(**{**options.to_dict(), **kwargs})
        single, texts, pairs = self._inputs(inputs, text_pair, opts.is_split_into_words)
        request = self.resolve(opts)
        plans, collectors = self._pipeline(texts, pairs, request, clock)
        diagnostics.warn_unknown(
            [p.encoding for p in plans],
            self.tokenizer.unk_id,
            self.tokenizer.unk_token,
            self.info.name,
        )
        diagnostics.warn_long(plans, request.max_length)
        clock.last = time.perf_counter()
        meta = self._meta(request)
        if opts.level == "sentence":
            out: Any = results.sentences(plans, collectors, request, meta)
        else:
            each = [results.per_input(p, c, request, meta) for p, c in zip(plans, collectors)]
            out = each[0] if single else each
        clock.lap("output")
        return out

    def tokenize(
        self,
        inputs: Any,
        text_pair: Any = None,
        *,
        is_split_into_words: bool = False,
        max_length: int | None = None,
        long: str = "window",
    ) -> Any:
        """Tokens, ids, offsets, word ids and the UNK count, without running the model."""
        opts = EmbedOptions.create(
            level="token", is_split_into_words=is_split_into_words, max_length=max_length, long=long
        )
        single, texts, pairs = self._inputs(inputs, text_pair, is_split_into_words)
        request = self.resolve(opts)
        encodings = self._tokenizer(is_split_into_words).encode(texts, pairs, is_split_into_words)
        plans = self._plan(encodings, request)
        out = [
            Tokenized(
                p.encoding.a.text,
                p.tokens,
                p.ids,
                p.offsets,
                p.word_ids,
                p.special_mask,
                results.report(p),
            )
            for p in plans
        ]
        return out[0] if single else out

    # -- stages -----------------------------------------------------------------------------

    def resolve(self, opts: EmbedOptions) -> Request:
        """Check options against this model; fill in the model's defaults."""
        n = self.info.num_layers
        pooling, source = _pooling(opts, self.info)
        if opts.attentions and opts.level not in ("token", "hidden_states"):
            raise OptionError(
                "level",
                opts.level,
                ["token", "hidden_states"],
                "attentions=True comes with token-level results",
            )
        layers, combine = self._layers(opts, pooling)
        if pooling == "pooler" and not self.info.has_pooler:
            raise OptionError(
                "pooling",
                "pooler",
                [p for p in _POOLINGS if p != "pooler"],
                f"{self.info.name} has no trained pooler weights",
            )
        normalize = opts.normalize
        if normalize is None:
            normalize = (
                opts.level == "sentence" and source != "requested" and self.info.default_normalize
            )
        max_length = opts.max_length or self.info.max_length
        if max_length > self.info.max_length:
            raise OptionError(
                "max_length",
                max_length,
                [f"an integer up to {self.info.max_length}"],
                "the model has no positions beyond that",
            )
        if max_length <= self.tokenizer.template.n_special(True) + 1:
            raise OptionError("max_length", max_length, ["an integer above the special tokens"])
        del n
        if pooling is not None and source is not None:
            diagnostics.warn_pooling(pooling, source, self.info.default_pooling)
        return Request(opts, layers, combine, pooling, source, bool(normalize), max_length)

    def _layers(self, opts: EmbedOptions, pooling: str | None) -> tuple[tuple[int, ...], str]:
        n = self.info.num_layers
        if opts.level == "hidden_states":
            if opts.layers is not None:
                raise OptionError(
                    "layers",
                    opts.layers,
                    ["None"],
                    "level='hidden_states' returns every layer, 0 to "
                    f"{n}; use level='token' with layers= to pick some",
                )
            return tuple(range(n + 1)), "stack"
        if pooling == "first_last_avg":
            if opts.layers is not None:
                raise OptionError(
                    "layers",
                    opts.layers,
                    ["None"],
                    "pooling='first_last_avg' uses layers 1 and -1 itself",
                )
            return (1, n), "mean"
        spec = -1 if opts.layers is None else opts.layers
        raw = (
            tuple(range(n + 1)) if spec == "all" else (spec if isinstance(spec, tuple) else (spec,))
        )
        valid = f"{-(n + 1)}..{n} (0 = embedding output, {n} or -1 = last layer)"
        out = []
        for i in raw:
            if not -(n + 1) <= i <= n:
                raise OptionError("layers", i, [valid], f"{self.info.name} has {n} layers")
            out.append(i % (n + 1))
        return tuple(out), opts.combine

    def _tokenizer(self, split_words: bool) -> TextTokenizer:
        if split_words and self._split_factory is not None:
            if getattr(self, "_split_tok", None) is None:
                self._split_tok = self._split_factory()
            return self._split_tok
        return self.tokenizer

    def _inputs(
        self, inputs: Any, text_pair: Any, split: bool
    ) -> tuple[bool, list[Any], list[str] | None]:
        single = isinstance(inputs, (str, bytes)) or (
            split and isinstance(inputs, (list, tuple)) and all(isinstance(w, str) for w in inputs)
        )
        items = [inputs] if single else inputs
        if not isinstance(items, (list, tuple)):
            if isinstance(items, Sequence) or hasattr(items, "__iter__"):
                items = list(items)
            else:
                raise InvalidTextError(
                    f"expected a string or a list of strings, got {type(inputs).__name__}"
                )
        if len(items) == 0:
            raise InvalidTextError("no inputs: the list is empty")
        check = check_words if split else check_text
        texts = [check(x, i) for i, x in enumerate(items)]
        pairs = None
        if text_pair is not None:
            pair_items = [text_pair] if isinstance(text_pair, (str, bytes)) else list(text_pair)
            if len(pair_items) != len(texts):
                raise InvalidTextError(
                    f"{len(texts)} texts but {len(pair_items)} text_pair values;"
                    " give one pair text per text"
                )
            pairs = [check_text(x, i) for i, x in enumerate(pair_items)]
        return single, texts, pairs

    def _plan(self, encodings: list[Encoding], request: Request) -> list[DocPlan]:
        o = request.options
        return [
            windows.plan(
                e,
                self.tokenizer.template,
                self._id_to_token,
                request.max_length,
                o.stride,
                o.long,
                doc=i,
            )
            for i, e in enumerate(encodings)
        ]

    def _pipeline(
        self, texts: list[Any], pairs: list[str] | None, request: Request, clock: _Clock
    ) -> tuple[list[DocPlan], list[Collector]]:
        """Tokenize and plan chunk k+1 in a background thread while chunk k runs through the
        model (the tokenizer and the backends release the GIL), so memory stays bounded for any
        number of inputs. Chunks are CHUNK inputs: measured on 2 cores, chunks of 256-1,024
        were 5-25% slower (a smaller pool to sort by length, and a third thread competing with
        two busy compute threads), so a chunk is large and overlap starts past 4,096 inputs."""
        split = request.options.is_split_into_words
        tok = self._tokenizer(split)

        def prepare(lo: int, hi: int) -> list[DocPlan]:
            start = time.perf_counter()
            chunk_pairs = pairs[lo:hi] if pairs is not None else None
            encodings = tok.encode(texts[lo:hi], chunk_pairs, split_words=split, start_index=lo)
            plans = self._plan(encodings, request)
            clock.add("tokenize", time.perf_counter() - start)
            return plans

        spans = [(lo, min(lo + CHUNK, len(texts))) for lo in range(0, len(texts), CHUNK)]
        if len(spans) == 1:  # nothing to overlap
            plans = prepare(*spans[0])
            start = time.perf_counter()
            collectors = self._run(plans, request)
            clock.add("forward", time.perf_counter() - start)
            return plans, collectors
        plans, collectors = [], []
        with ThreadPoolExecutor(1, thread_name_prefix="bertex-tokenize") as pool:
            upcoming = pool.submit(prepare, *spans[0])
            for k in range(len(spans)):
                chunk = upcoming.result()
                if k + 1 < len(spans):
                    upcoming = pool.submit(prepare, *spans[k + 1])
                start = time.perf_counter()
                collectors += self._run(chunk, request)
                clock.add("forward", time.perf_counter() - start)
                plans += chunk
        return plans, collectors

    def _run(self, plans: list[DocPlan], request: Request) -> list[Collector]:
        o = request.options
        if o.attentions:
            for p in plans:
                if p.windowed:
                    raise InvalidTextError(
                        f"{p.n_tokens} tokens need {len(p.windows)} windows, and attention maps "
                        "exist within one window; pass long='truncate' or a shorter text",
                        p.encoding.index,
                    )
        collectors: list[Collector] = [
            SentenceCollector(p, request.pooling or "mean", request.combine, o.special_tokens)
            if o.level == "sentence"
            else TokenCollector(p, len(request.layers), self.info.hidden_size, o.attentions)
            for p in plans
        ]
        flat = [w for p in plans for w in p.windows]
        pad_id = self.tokenizer.hf.pad_token_id or 0
        batches = batching.batches(flat, o.batch_tokens, o.max_batch_size, pad_id)
        for batch, out in self._forward_all(batches, request.want):
            dispatch(out, batch.order, flat, collectors)
        return collectors

    def _forward_all(self, batches: Iterator[Batch], want: Want) -> Iterator[tuple[Batch, Any]]:
        """Forward every batch, in order. A backend with `workers` > 1 runs that many batches
        at once (threads: the backends release the GIL), with at most one more waiting, so
        memory stays bounded; the caller pools results of one while the next computes.
        Attention maps run one batch at a time (large outputs; torch switches its attention
        implementation for them)."""
        workers = 1 if want.attentions else int(getattr(self.backend, "workers", 1))
        if workers <= 1:
            for batch in batches:
                yield batch, self.backend.forward(batch, want)
            return
        pool = self._workers(workers)
        pending: deque[tuple[Batch, Future[Any]]] = deque()
        for batch in batches:
            pending.append((batch, pool.submit(self.backend.forward, batch, want)))
            if len(pending) > workers:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()

    def _workers(self, n: int) -> ThreadPoolExecutor:
        """The forward threads, made once per model and kept (a server calls embed often)."""
        with _POOL_LOCK:
            if self._pool is None:
                init = getattr(self.backend, "init_worker", None)
                self._pool = ThreadPoolExecutor(n, "bertex-forward", initializer=init)
            return self._pool

    # -- results ----------------------------------------------------------------------------

    def _meta(self, request: Request) -> Meta:
        o = request.options
        content = request.max_length - self.tokenizer.template.n_special(False)
        return Meta(
            model=self.info.name,
            weights_sha256=self.weights_sha256,
            level=o.level,
            layers=request.layers if request.pooling != "pooler" else (),
            combine=request.combine,
            pooling=request.pooling if o.level == "sentence" else None,
            pooling_source=request.pooling_source if o.level == "sentence" else None,
            normalize=request.normalize,
            special_tokens=o.special_tokens,
            subword=o.subword if o.level == "word" else None,
            long=o.long,
            max_length=request.max_length,
            stride=o.stride if o.stride is not None else windows.default_stride(content),
            dtype=o.dtype,
            backend=self.backend.name,
            bertex_version=__version__,
            precision=getattr(self.backend, "precision", "fp32"),
            model_origin=self.info.origin,
        )


_POOL_LOCK = threading.Lock()
CHUNK = 4096  # inputs tokenized at once; the next chunk is tokenized while this one runs

_POOLINGS = ("cls", "mean", "max", "mean_sqrt_len", "first_last_avg", "pooler")


def _pooling(opts: EmbedOptions, info: ModelInfo) -> tuple[str | None, str | None]:
    if opts.level != "sentence":
        if opts.pooling is not None:
            raise OptionError(
                "level",
                opts.level,
                ["sentence"],
                f"pooling={opts.pooling!r} applies to sentence vectors",
            )
        return None, None
    if opts.pooling is None:
        return info.default_pooling, info.pooling_source
    return opts.pooling, "requested"


class _Clock:
    """Adds the seconds since the last lap to `timings[name]` (nothing when timings is None)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.add(name, now - self.last)
        self.last = now

    def add(self, name: str, seconds: float) -> None:
        if self.timings is not None:
            self.timings[name] = self.timings.get(name, 0.0) + seconds


def load(
    name_or_path: str | Path = "all-MiniLM-L6-v2",
    *,
    backend: str = "torch",
    precision: str = "fp32",
) -> Model:
    """Load a model by folder, hub id, or the embedded default "all-MiniLM-L6-v2".

    backend="torch" (exact, default) or "onnx" (ONNX Runtime, exported once and cached);
    precision="fp32" (default), "bf16" (torch autocast where the CPU has native bf16, else fp32
    with a warning) or "int8" (onnx, dynamic per-channel quantization).
    """
    from .backends.precision import choose
    from .backends.torch_backend import TorchBackend
    from .models.source import check_folder, resolve, weights_sha256
    from .models import check_vocab, describe, load_tokenizer, load_torch_model, quiet_transformers

    effective = choose(backend, precision)
    quiet_transformers()
    src = resolve(name_or_path)
    check_folder(src.folder)
    hf_tok, fixes = load_tokenizer(src.folder)
    model, has_pooler = load_torch_model(src.folder)
    check_vocab(src.folder, hf_tok, model.config)
    info = describe(src, model, hf_tok, has_pooler, fixes)
    accepts_types = "token_type_ids" in hf_tok.model_input_names
    sha = weights_sha256(src.folder)
    engine: Backend
    if backend == "onnx":
        from .backends.onnx_backend import OnnxBackend

        engine = OnnxBackend(model, sha, accepts_types, has_pooler, effective)
    else:
        engine = TorchBackend(model, accepts_types, effective)

    def split_factory() -> TextTokenizer:
        tok, _ = (
            load_tokenizer(src.folder, split_words=True) if _byte_level(hf_tok) else (hf_tok, ())
        )
        if tok is not hf_tok:
            from .models import fix_casing

            fix_casing(tok)
        return TextTokenizer(tok)

    return Model(info, TextTokenizer(hf_tok), engine, sha, split_factory)


def _byte_level(tok: Any) -> bool:
    pre = tok.backend_tokenizer.pre_tokenizer
    return pre is not None and "ByteLevel" in repr(pre)
