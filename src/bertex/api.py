"""The facade: `bertex.load` gives a Model; `Model.embed` and `Model.tokenize` are the calls.

The work happens elsewhere: request.py resolves options, runner.py runs the stages,
assemble.py builds the results (one strategy per level), loader.py assembles a Model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np

from . import assemble, columnar, diagnostics
from . import request as requests
from .backends import Backend
from .clock import Clock
from .config import EmbedOptions, merged
from .errors import InputError, OptionError
from .fill import Filled, masked_lm_of
from .models.hf import ModelInfo
from .pooling import cosine
from .reports import ReportTable
from .runner import Ran, Runner, _bar
from .tokenize import TextTokenizer, check_inputs
from .types import (
    Collected,
    Request,
    SentenceEmbeddings,
    TokenEmbedding,
    Tokenized,
    WindowEmbeddings,
    WordEmbedding,
)

OnError = Literal["raise", "collect"]

# sentence-transformers' and transformers' method names -> what bertex calls them (a pointer,
# still an AttributeError, so that hasattr() stays False)
OTHER_NAMES = {
    "encode": "use model.embed(texts) (sentence vectors by default; level='token' for tokens)",
    "encode_query": "use model.embed(queries); a search index embeds them for you (bertex.Index)",
    "encode_document": "use model.embed(documents)",
    "generate": "bertex is an encoder toolkit and does not generate text (see docs/scope.md)",
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
        forward_timeout: float | None = None,
    ) -> None:
        self.info = info
        self.tokenizer = tokenizer
        self.backend = backend
        self.weights_sha256 = weights_sha256
        self._vocab_view: diagnostics.Vocab | None = None
        self.runner = Runner(
            tokenizer, split_tokenizer_factory, backend, info.hidden_size, forward_timeout
        )

    def __repr__(self) -> str:
        i = self.info
        return (
            f"<bertex.Model {i.name!r} {i.model_type} layers={i.num_layers} "
            f"hidden={i.hidden_size} max_length={i.max_length}>"
        )

    @property
    def dim(self) -> int:
        return self.info.hidden_size

    def __getattr__(self, name: str) -> Any:
        """Names other libraries use get a pointer to bertex's; others fail as usual."""
        hint = OTHER_NAMES.get(name)
        if hint is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        raise AttributeError(f"bertex.Model has no {name!r}: {hint}")

    # -- embed ------------------------------------------------------------------------------

    @overload
    def embed(
        self,
        inputs: Any,
        text_pair: Any = ...,
        *,
        level: Literal["sentence"] = ...,
        on_error: Literal["raise"] = ...,
        options: EmbedOptions | None = ...,
        timings: dict[str, float] | None = ...,
        progress: bool = ...,
        stop: Callable[[], bool] | None = ...,
        **kwargs: Any,
    ) -> SentenceEmbeddings: ...

    @overload
    def embed(
        self,
        inputs: Any,
        text_pair: Any = ...,
        *,
        level: Literal["token", "hidden_states"],
        on_error: Literal["raise"] = ...,
        options: EmbedOptions | None = ...,
        timings: dict[str, float] | None = ...,
        progress: bool = ...,
        stop: Callable[[], bool] | None = ...,
        **kwargs: Any,
    ) -> TokenEmbedding | list[TokenEmbedding]: ...

    @overload
    def embed(
        self,
        inputs: Any,
        text_pair: Any = ...,
        *,
        level: Literal["word"],
        on_error: Literal["raise"] = ...,
        options: EmbedOptions | None = ...,
        timings: dict[str, float] | None = ...,
        progress: bool = ...,
        stop: Callable[[], bool] | None = ...,
        **kwargs: Any,
    ) -> WordEmbedding | list[WordEmbedding]: ...

    @overload
    def embed(
        self,
        inputs: Any,
        text_pair: Any = ...,
        *,
        level: Literal["window"],
        on_error: Literal["raise"] = ...,
        options: EmbedOptions | None = ...,
        timings: dict[str, float] | None = ...,
        progress: bool = ...,
        stop: Callable[[], bool] | None = ...,
        **kwargs: Any,
    ) -> WindowEmbeddings | list[WindowEmbeddings]: ...

    @overload
    def embed(
        self,
        inputs: Any,
        text_pair: Any = ...,
        *,
        level: str | None = ...,
        on_error: Literal["collect"],
        options: EmbedOptions | None = ...,
        timings: dict[str, float] | None = ...,
        progress: bool = ...,
        stop: Callable[[], bool] | None = ...,
        **kwargs: Any,
    ) -> Collected: ...

    def embed(
        self,
        inputs: Any,
        text_pair: Any = None,
        *,
        level: str | None = None,
        on_error: str = "raise",
        options: EmbedOptions | None = None,
        timings: dict[str, float] | None = None,
        progress: bool = False,
        stop: Callable[[], bool] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Embed one text or a list of texts (or pairs). See EmbedOptions for the options.

        level="sentence" (default): SentenceEmbeddings with vectors (N, D), also for one text.
        level="token" | "word" | "hidden_states": one result per input (a list for a list).
        level="window": one vector per window of each input (a long document's chunks).
        on_error="raise" (default) raises the first input's InputError; "collect" embeds every
        input that works and returns a Collected (results, errors with their indices, kept).
        `timings`, when given, receives the wall seconds of each stage (tokenize, forward,
        output; plan, pool and report on the columnar path) and, as "<stage>:cpu", the thread
        CPU seconds of the stages that are Python's own (bertex/clock.py);
        progress=True shows a progress bar over the inputs (stderr); `stop`, a callable, is
        asked before each forward batch and True raises StoppedError (abandoned work ends).
        """
        if on_error not in ("raise", "collect"):
            raise OptionError("on_error", on_error, ["raise", "collect"])
        collect = on_error == "collect"
        opts = _options(options, level, kwargs)
        clock = Clock(timings)
        request = self.resolve(opts)
        single, texts, pairs, kept, errors = check_inputs(
            inputs, text_pair, request.split_words, collect, request.max_chars
        )
        clock.lap("tokenize", cpu=False)  # checking the inputs is part of preparing them
        if texts and self.runner.columnar and columnar.eligible(request, pairs, self.tokenizer):
            got = self._columnar(texts, request, clock, collect, progress, stop)
            done = got.reports.column("index").tolist() if got.reports is not None else []
            out_c = got.out
            clock.lap("output")
            if not collect:
                assert out_c is not None
                return out_c
            return _collected(out_c, got.errors, done, kept, errors)
        strategy = assemble.strategy(request)
        ran = (
            self.runner.run(texts, pairs, request, strategy, clock, collect, progress, stop)
            if texts
            else Ran()
        )
        tok = self.tokenizer
        if any(p.encoding.unk_count for p in ran.plans):
            diagnostics.warn_unknown(
                [p.encoding for p in ran.plans],
                tok.unk_id,
                tok.unk_token,
                self.info.name,
                self._vocab(),
            )
        diagnostics.warn_long(ran.plans, request.max_length)
        clock.reset()
        meta = requests.meta(request, self.info, self.weights_sha256, self.backend)
        out = strategy.assemble(ran.plans, ran.collectors, request, meta) if ran.plans else None
        clock.lap("output")
        if not collect:
            assert out is not None
            return out[0] if single and isinstance(out, list) else out
        done = [p.encoding.index for p in ran.plans]
        return _collected(out, ran.errors, done, kept, errors)

    def _columnar(
        self,
        texts: list[str],
        request: Request,
        clock: Clock,
        collect: bool,
        progress: bool,
        stop: Callable[[], bool] | None,
    ) -> _Columnar:
        """Sentence vectors of single texts by the columnar path (columnar.py)."""
        with _bar(len(texts), progress) as bar:
            got = columnar.run(self.runner, texts, request, clock, collect, bar, stop)
        with clock.stage("report"):
            reports = ReportTable.concat(got.reports) if got.reports else None
            if reports is not None and len(reports):
                self._warn_unknown(reports, texts)
            diagnostics.warn_long(got.long_plans, request.max_length, stacklevel=4)
        clock.reset()
        if reports is None or not len(reports):
            return _Columnar(None, got.errors, None)
        meta = requests.meta(request, self.info, self.weights_sha256, self.backend)
        vectors = got.kept(reports.column("index"))  # (N, *F)
        out = SentenceEmbeddings(
            tuple(got.texts), None, assemble.finish(vectors, request, owned=True), reports, meta
        )
        return _Columnar(out, got.errors, reports)

    def _warn_unknown(self, reports: ReportTable, texts: list[str]) -> None:
        """The UNK warning of the per-input path, made from the few inputs it shows."""
        hit = np.flatnonzero(reports.column("unk_count"))  # (U,) rows with an UNK
        if not len(hit):
            return
        tok = self.tokenizer
        index = reports.column("index")[hit[: diagnostics.SHOWN]].tolist()
        shown = [tok.encode([texts[i]], start_index=i)[0] for i in index]
        diagnostics.warn_unknown(
            shown, tok.unk_id, tok.unk_token, self.info.name, self._vocab(), len(hit), stacklevel=5
        )

    def _vocab(self) -> diagnostics.Vocab:
        if self._vocab_view is None:
            self._vocab_view = diagnostics.Vocab.of(self.tokenizer.hf)
        return self._vocab_view

    def resolve(self, opts: EmbedOptions) -> Request:
        """Check options against this model; fill in the model's defaults."""
        request = requests.resolve(opts, self.info, self.tokenizer.template.n_special(False))
        if request.pooling is not None and request.pooling_source is not None:
            diagnostics.warn_pooling(
                request.pooling, request.pooling_source, self.info.default_pooling
            )
        return request

    def similarity(self, a: Any, b: Any = None, **options: Any) -> np.ndarray:
        """Cosine similarity of sentence vectors: texts `a` against texts `b` (or against
        themselves), (N, M). Options are embed's (pooling, layers, ...)."""
        va = self.embed(a, level="sentence", **options).vectors
        vb = va if b is None else self.embed(b, level="sentence", **options).vectors
        return similarity(va, vb)

    @overload
    def fill(self, inputs: str, *, k: int = ...) -> Filled: ...

    @overload
    def fill(self, inputs: list[str] | tuple[str, ...], *, k: int = ...) -> list[Filled]: ...

    def fill(self, inputs: Any, *, k: int = 5) -> Filled | list[Filled]:
        """The k most probable tokens, with probabilities, for each mask in a text (or a list):
        write [MASK] or <mask> (either works for any model). Needs a checkpoint with a
        masked-LM head (NoTaskHeadError otherwise: `bertex tune mlm` gives one)."""
        single = isinstance(inputs, str)
        texts = [inputs] if single else list(inputs)
        out = masked_lm_of(self).fill(texts, k)
        return out[0] if single else out

    # -- tokenize ---------------------------------------------------------------------------

    @overload
    def tokenize(
        self,
        inputs: str,
        text_pair: str | None = ...,
        *,
        is_split_into_words: bool = ...,
        max_length: int | None = ...,
        long: str = ...,
    ) -> Tokenized: ...

    @overload
    def tokenize(
        self,
        inputs: list[Any] | tuple[Any, ...],
        text_pair: Any = ...,
        *,
        is_split_into_words: bool = ...,
        max_length: int | None = ...,
        long: str = ...,
    ) -> Tokenized | list[Tokenized]: ...

    def tokenize(
        self,
        inputs: Any,
        text_pair: Any = None,
        *,
        is_split_into_words: bool = False,
        max_length: int | None = None,
        long: str = "window",
    ) -> Tokenized | list[Tokenized]:
        """Tokens, ids, offsets, word ids and the UNK count, without running the model."""
        opts = EmbedOptions.create(
            level="token", is_split_into_words=is_split_into_words, max_length=max_length, long=long
        )
        request = self.resolve(opts)
        single, texts, pairs, _, _ = check_inputs(
            inputs, text_pair, is_split_into_words, False, request.max_chars
        )
        plans = self.runner.prepare(texts, pairs, request, None, 0)
        out = [assemble.tokenized(p) for p in plans]
        return out[0] if single else out


def _options(
    options: EmbedOptions | None, level: str | None, kwargs: dict[str, Any]
) -> EmbedOptions:
    return merged(options, {**kwargs, "level": level} if level is not None else kwargs)


@dataclass
class _Columnar:
    out: SentenceEmbeddings | None
    errors: list[InputError]
    reports: ReportTable | None


def _collected(
    out: Any,
    late_errors: list[InputError],
    positions: list[int],
    kept: list[int],
    early: list[InputError],
) -> Collected:
    """Map the runner's positions (in the checked list) back to the caller's indices."""
    late = [e.at(kept[e.index]) if e.index is not None else e for e in late_errors]
    done = tuple(kept[p] for p in positions)
    if out is not None:
        out = assemble.reindex(out, done)
    errors = tuple(sorted([*early, *late], key=lambda e: e.index if e.index is not None else -1))
    return Collected(results=out, errors=errors, kept=done)


def similarity(a: Any, b: Any = None) -> np.ndarray:
    """Cosine similarity (N, M) of two sets of vectors: arrays (N, D) / (D,), or the
    SentenceEmbeddings that embed returns; `b` left out compares `a` with itself."""
    va = a.vectors if isinstance(a, SentenceEmbeddings) else np.asarray(a)
    vb = va if b is None else (b.vectors if isinstance(b, SentenceEmbeddings) else np.asarray(b))
    try:
        return cosine(va, vb)
    except ValueError as e:
        raise OptionError(
            "b",
            f"width {np.atleast_2d(vb).shape[-1]}",
            [f"width {np.atleast_2d(va).shape[-1]}"],
            str(e),
        ) from None
