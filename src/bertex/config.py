"""One frozen, keyword-only options object for an embedding request.

The library, the CLI and (later) the server build their requests through `EmbedOptions.create`,
so every adapter accepts the same names, the same values and the same defaults.
String options are checked here, once, against their valid values; inner stages trust them.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, get_args

from .errors import OptionError

Level = Literal["token", "word", "sentence", "window", "hidden_states"]
Combine = Literal["concat", "mean", "sum", "stack"]
Pooling = Literal["cls", "mean", "max", "mean_sqrt_len", "first_last_avg", "pooler"]
Subword = Literal["first", "last", "mean", "max", "first_last"]
LongPolicy = Literal["window", "truncate", "error"]
OutDtype = Literal["float32", "float16"]
BackendName = Literal["torch", "onnx", "openvino", "ctranslate2"]
Precision = Literal["fp32", "bf16", "fp16", "int8"]

LEVELS: tuple[str, ...] = get_args(Level)
COMBINES: tuple[str, ...] = get_args(Combine)
POOLINGS: tuple[str, ...] = get_args(Pooling)
SUBWORDS: tuple[str, ...] = get_args(Subword)
LONG_POLICIES: tuple[str, ...] = get_args(LongPolicy)
DTYPES: tuple[str, ...] = get_args(OutDtype)
BACKENDS: tuple[str, ...] = get_args(BackendName)
PRECISIONS: tuple[str, ...] = get_args(Precision)

_CHOICES: dict[str, tuple[str, ...]] = {
    "level": LEVELS,
    "combine": COMBINES,
    "pooling": POOLINGS,
    "subword": SUBWORDS,
    "long": LONG_POLICIES,
    "dtype": DTYPES,
    "backend": BACKENDS,
    "precision": PRECISIONS,
}

LayerSpec = int | tuple[int, ...] | Literal["all"]

# the integer options (checked as integers >= 1; stride and max_chars may be 0)
_INTS = ("stride", "max_length", "batch_tokens", "max_batch_size", "dimensions", "max_chars")


@dataclass(frozen=True, kw_only=True)
class EmbedOptions:
    """What to extract and how. `None` means "the model's own default", resolved at run time.

    layers     Hugging Face numbering: 0 is the embedding layer's output, 1..N the Transformer
               layers, -1 the last. An int, a tuple of ints, or "all".
    combine    how several layers become one vector: concat, mean, sum, or stack (one per layer,
               the layer axis first).
    pooling    sentence level only; None takes the model's own (sentence-transformers config)
               or else "mean".
    normalize  L2-normalize each output vector; None takes the model's own at sentence level
               (sentence-transformers Normalize module) and False elsewhere.
    long       over-long inputs: window (default), truncate, or error.
    stride     tokens shared by neighbouring windows; None is a quarter of a window.
    max_length tokens per window including special tokens; None is the model's limit.
    batch_tokens  the token budget of one forward pass (padded batch size x length).
    max_batch_size  windows per forward pass at most.
    max_chars  characters of one input at most (0: no limit); a longer one is a
               TooLongError naming its index, before the tokenizer sees it.
    dimensions the first N values of each output vector (Matryoshka-style), normalized after
               truncation when normalize is on; None keeps them all.
    """

    level: Level = "sentence"
    layers: LayerSpec | None = None
    combine: Combine = "concat"
    pooling: Pooling | None = None
    subword: Subword = "first"
    special_tokens: bool = True
    normalize: bool | None = None
    dtype: OutDtype = "float32"
    long: LongPolicy = "window"
    stride: int | None = None
    max_length: int | None = None
    attentions: bool = False
    is_split_into_words: bool = False
    batch_tokens: int = 2048
    max_batch_size: int = 32
    dimensions: int | None = None
    max_chars: int | None = 10_000_000

    @classmethod
    def create(cls, **kwargs: Any) -> EmbedOptions:
        """Build options from keyword values, checking each one; unknown names are an error."""
        names = {f.name for f in fields(cls)}
        for key in kwargs:
            if key not in names:
                raise OptionError("option", key, sorted(names), _unknown_hint(key))
        given = {k: v for k, v in kwargs.items() if v is not None}
        for key, choices in _CHOICES.items():
            if key in given and given[key] is not None:
                given[key] = _choice(key, given[key], choices)
        if "layers" in given and given["layers"] is not None:
            given["layers"] = _layers(given["layers"])
        for key in _INTS:
            if key in given and given[key] is not None:
                given[key] = _positive_int(
                    key, given[key], allow_zero=key in ("stride", "max_chars")
                )
        return cls(**given)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> EmbedOptions:
        """Defaults from BERTEX_* variables (BERTEX_LEVEL, BERTEX_LONG, ...), then overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in env_fields(cls):
            f = next(f for f in fields(cls) if f.name == name)
            raw = env.get(f"BERTEX_{f.name.upper()}")
            if raw is not None:
                values[f.name] = _parse_env(f.name, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.create(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class LoadOptions:
    """Which model to load and how to run it: what `bertex.load` takes, and what the CLI and the
    server load when no flag says otherwise (BERTEX_MODEL, BERTEX_BACKEND, BERTEX_PRECISION,
    BERTEX_DEVICE)."""

    model: str = "all-MiniLM-L6-v2"
    backend: BackendName = "torch"
    precision: Precision = "fp32"
    device: str = "cpu"  # "cpu", "cuda", "cuda:N" or "auto" (CUDA when there is one)
    # seconds one wait for a forward pass may last; None: 20x the slowest pass seen, >= 60 s
    forward_timeout: float | None = None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> LoadOptions:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"BERTEX_{f.name.upper()}")
            if raw is not None and raw.strip():
                values[f.name] = raw.strip()
        if "forward_timeout" in values:
            values["forward_timeout"] = seconds("BERTEX_FORWARD_TIMEOUT", values["forward_timeout"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        for key in ("backend", "precision"):
            if key in values:
                values[key] = _choice(key, values[key], _CHOICES[key])
        if "forward_timeout" in overrides and overrides["forward_timeout"] is not None:
            values["forward_timeout"] = seconds("forward_timeout", overrides["forward_timeout"])
        return cls(**values)


# How long a CLI writer of an embedded index waits for another process writing it (`--wait`):
# long enough for another add's commit, short enough that a second build over a long one
# says so within a minute.
INDEX_WAIT_S = 60.0


def forward_timeout(environ: dict[str, str] | None = None) -> float | None:
    """BERTEX_FORWARD_TIMEOUT in seconds, or None (unset: the bound is derived from the passes
    measured so far)."""
    return LoadOptions.from_env(environ).forward_timeout


def seconds(name: str, value: object) -> float:
    """A positive number of seconds, from a number or its text ("2", "0.5")."""
    try:
        number = float(value) if not isinstance(value, bool) else -1.0  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = -1.0
    if number > 0 and number != float("inf"):
        return number
    raise OptionError(name, value, ["a number of seconds > 0"])


# Options with no environment variable: BERTEX_MAX_CHARS is the server's limit per text (one
# variable, one meaning); the library's own bound on one input is set in code or by the CLI.
NOT_FROM_ENV = frozenset({"max_chars"})


def env_fields(cls: type) -> tuple[str, ...]:
    """The fields of an options object that a BERTEX_<NAME> variable sets."""
    return tuple(f.name for f in fields(cls) if f.name not in NOT_FROM_ENV)


def merged(options: EmbedOptions | None, kwargs: dict[str, Any]) -> EmbedOptions:
    """A call's options: an EmbedOptions object, keyword values over it (checked), or both."""
    if options is None:
        return EmbedOptions.create(**kwargs)
    return EmbedOptions.create(**{**options.to_dict(), **kwargs}) if kwargs else options


def default_of(cls: type, name: str) -> Any:
    """The library's default for one option: the CLI shows this, never a copy of it."""
    return next(f.default for f in fields(cls) if f.name == name)


def choices_of(name: str) -> tuple[str, ...]:
    """The valid values of a string option, as the library checks them."""
    return _CHOICES[name]


_ALIASES = {
    "batch_size": "batch_tokens (a token budget per pass) or max_batch_size (windows per pass)",
    "show_progress_bar": "progress=True",
    "convert_to_numpy": "nothing: results are numpy already",
    "normalize_embeddings": "normalize",
    "output_value": "level ('token' for token_embeddings, 'sentence' for sentence_embedding)",
    "truncate_dim": "dimensions",
    "output_hidden_states": "level='hidden_states'",
}


def _unknown_hint(key: str) -> str:
    """Point users of other libraries at bertex's name for what they mean."""
    import difflib

    if key in _ALIASES:
        return f"unknown option name; bertex calls it {_ALIASES[key]}"
    close = difflib.get_close_matches(key, [f.name for f in fields(EmbedOptions)], n=1)
    return f"unknown option name; did you mean {close[0]!r}?" if close else "unknown option name"


def _choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    if isinstance(value, str) and value.strip().lower() in choices:
        return value.strip().lower()
    raise OptionError(name, value, choices)


def _layers(value: object) -> LayerSpec:
    """Accept 3, -1, "all", "-4,-3,-2,-1", [1, 2] and return an int, a tuple or "all"."""
    if isinstance(value, bool):
        raise OptionError("layers", value, ["an int", "a list of ints", "'all'"])
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "all":
            return "all"
        try:
            parts = tuple(int(p) for p in text.split(",") if p.strip())
        except ValueError:
            raise OptionError(
                "layers", value, ["an int", "a comma list of ints", "'all'"]
            ) from None
        return parts[0] if len(parts) == 1 else parts
    if (
        isinstance(value, (list, tuple))
        and value
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return tuple(value)
    raise OptionError("layers", value, ["an int", "a list of ints", "'all'"])


def _positive_int(name: str, value: object, allow_zero: bool = False) -> int:
    low = 0 if allow_zero else 1
    if isinstance(value, int) and not isinstance(value, bool) and value >= low:
        return value
    raise OptionError(name, value, [f"an integer >= {low}"])


def _parse_env(name: str, raw: str) -> Any:
    if name in ("special_tokens", "attentions", "is_split_into_words", "normalize"):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if name in _INTS:
        try:
            return int(raw)
        except ValueError:
            raise OptionError(f"BERTEX_{name.upper()}", raw, ["an integer"]) from None
    return raw
