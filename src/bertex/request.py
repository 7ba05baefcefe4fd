"""EmbedOptions + a model's info -> one fully resolved Request, and the Meta of its results.

Pure functions: every `None` of the options becomes the model's own value here, once, and every
combination that would be silently ignored is refused here, naming the valid values. The
stages after this read only the Request.

The normalization rule, in one sentence: sentence vectors are L2-normalized exactly when the
model's own configuration says so (a sentence-transformers Normalize module), whatever pooling
or layers are chosen, unless `normalize=` is given; token and word vectors are never
normalized unless asked.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__
from .config import POOLINGS, EmbedOptions
from .errors import OptionError
from .models.hf import ModelInfo
from .types import Meta, Request, Want
from .windows import default_stride


def resolve(opts: EmbedOptions, info: ModelInfo, n_special: int) -> Request:
    """Check `opts` against a model with `n_special` special tokens around one text."""
    pooling, pooling_source = _pooling(opts, info)
    _check_attentions(opts)
    layers, combine = _layers(opts, info, pooling)
    max_length = _max_length(opts, info, n_special)
    normalize, normalize_source = _normalize(opts, info)
    return Request(
        level=opts.level,
        layers=layers,
        combine=combine,
        pooling=pooling,
        pooling_source=pooling_source,
        normalize=normalize,
        normalize_source=normalize_source,
        subword=opts.subword if opts.level == "word" else None,
        special_tokens=opts.special_tokens,
        long=opts.long,
        max_length=max_length,
        stride=_stride(opts, max_length - n_special),
        dtype=opts.dtype,
        attentions=opts.attentions,
        split_words=opts.is_split_into_words,
        batch_tokens=opts.batch_tokens,
        max_batch_size=opts.max_batch_size,
        dimensions=_dimensions(opts, info, layers, combine),
        max_chars=opts.max_chars or 0,
    )


def want(request: Request) -> Want:
    """What each forward pass must return for this request."""
    return Want(
        layers=() if request.uses_pooler else request.layers,
        pooler=request.uses_pooler,
        attentions=request.attentions,
    )


def meta(request: Request, info: ModelInfo, weights_sha256: str, backend: Any) -> Meta:
    """How the results of `request` were computed: written beside every vector."""
    sentence = request.level in POOLED
    return Meta(
        model=info.name,
        weights_sha256=weights_sha256,
        level=request.level,
        layers=() if request.uses_pooler else request.layers,
        combine=request.combine,
        pooling=request.pooling if sentence else None,
        pooling_source=request.pooling_source if sentence else None,
        normalize=request.normalize,
        special_tokens=request.special_tokens,
        subword=request.subword,
        long=request.long,
        max_length=request.max_length,
        stride=request.stride,
        dtype=request.dtype,
        backend=backend.name,
        bertex_version=__version__,
        precision=backend.precision,
        normalize_source=request.normalize_source,
        dimensions=request.dimensions,
        device=str(backend.device),
        model_origin=info.origin,
        quantization=getattr(backend, "quantization", None),  # calibrated int8's gate
    )


POOLED = ("sentence", "window")  # levels whose vectors pool tokens


def _pooling(opts: EmbedOptions, info: ModelInfo) -> tuple[str | None, str | None]:
    if opts.level not in POOLED:
        if opts.pooling is not None:
            raise OptionError(
                "level", opts.level, POOLED, f"pooling={opts.pooling!r} applies to pooled vectors"
            )
        return None, None
    if opts.pooling is None:
        return info.default_pooling, info.pooling_source
    if opts.pooling == "pooler" and not info.has_pooler:
        raise OptionError(
            "pooling",
            "pooler",
            [p for p in POOLINGS if p != "pooler"],
            f"{info.name} has no trained pooler weights",
        )
    return opts.pooling, "requested"


def _check_attentions(opts: EmbedOptions) -> None:
    if opts.attentions and opts.level not in ("token", "hidden_states"):
        raise OptionError(
            "level",
            opts.level,
            ["token", "hidden_states"],
            "attentions=True comes with token-level results",
        )


def _layers(
    opts: EmbedOptions, info: ModelInfo, pooling: str | None
) -> tuple[tuple[int, ...], str]:
    """Absolute layer indices and how they combine; refuses what would be ignored."""
    n = info.num_layers
    fixed = {
        "hidden_states": "level='hidden_states' returns every layer, 0 to "
        f"{n}, stacked; use level='token' with layers= to pick and combine some",
        "first_last_avg": "pooling='first_last_avg' averages layers 1 and -1 itself",
        "pooler": "pooling='pooler' reads the pooler head on the last layer",
    }
    reason = fixed.get(opts.level) or fixed.get(pooling or "")
    if reason is not None:
        if opts.layers is not None:
            raise OptionError("layers", opts.layers, ["None (leave it out)"], reason)
        if opts.combine != "concat":
            raise OptionError("combine", opts.combine, ["'concat' (the default)"], reason)
    if opts.level == "hidden_states":
        return tuple(range(n + 1)), "stack"
    if pooling == "first_last_avg":
        return (1, n), "mean"
    if pooling == "pooler":
        return (n,), "concat"
    spec = -1 if opts.layers is None else opts.layers
    raw = tuple(range(n + 1)) if spec == "all" else (spec if isinstance(spec, tuple) else (spec,))
    valid = f"{-(n + 1)}..{n} (0 = embedding output, {n} or -1 = last layer)"
    out: list[int] = []
    for i in raw:
        if not -(n + 1) <= i <= n:
            raise OptionError("layers", i, [valid], f"{info.name} has {n} layers")
        if i % (n + 1) in out:
            raise OptionError("layers", spec, ["each layer once"], f"layer {i} is repeated")
        out.append(i % (n + 1))
    return tuple(out), opts.combine


def _max_length(opts: EmbedOptions, info: ModelInfo, n_special: int) -> int:
    max_length = opts.max_length or info.max_length
    if max_length > info.max_length:
        raise OptionError(
            "max_length",
            max_length,
            [f"an integer up to {info.max_length}"],
            "the model has no positions beyond that",
        )
    if max_length <= n_special + 1:
        raise OptionError("max_length", max_length, [f"an integer above {n_special + 1}"])
    return max_length


def _stride(opts: EmbedOptions, content: int) -> int:
    if opts.stride is None:
        return default_stride(content)
    if opts.stride >= content:
        raise OptionError(
            "stride",
            opts.stride,
            [f"an integer from 0 to {content - 1}"],
            f"windows hold {content} tokens besides the special tokens",
        )
    return opts.stride


def _normalize(opts: EmbedOptions, info: ModelInfo) -> tuple[bool, str]:
    if opts.normalize is not None:
        return bool(opts.normalize), "requested"
    if opts.level not in POOLED:
        return False, "not a pooled vector"
    return bool(info.default_normalize), "model config"


def _dimensions(
    opts: EmbedOptions, info: ModelInfo, layers: tuple[int, ...], combine: str
) -> int | None:
    """Truncation must leave something to cut: refuse more dimensions than a vector has."""
    if opts.dimensions is None:
        return None
    width = info.hidden_size * (len(layers) if combine == "concat" else 1)
    if opts.level == "word" and opts.subword == "first_last":
        width *= 2
    if opts.dimensions > width:
        raise OptionError(
            "dimensions", opts.dimensions, [f"an integer from 1 to {width}"], "the vector width"
        )
    return opts.dimensions
