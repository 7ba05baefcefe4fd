"""Request bodies -> checked Python values, with errors that name the field and the index;
results -> response bodies."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import numpy as np

from ..config import EmbedOptions
from ..errors import OptionError
from .errors import ApiError

EMBED_FIELDS: tuple[str, ...] = (
    "level",
    "layers",
    "combine",
    "pooling",
    "subword",
    "special_tokens",
    "normalize",
    "long",
    "stride",
    "max_length",
    "attentions",
    "is_split_into_words",
    "dtype",
    "dimensions",
)
COMMON_FIELDS = ("input", "model", "user")
EMBED_ROUTE_FIELDS = COMMON_FIELDS + EMBED_FIELDS + ("text_pair", "encoding_format")
EMBEDDINGS_FIELDS = COMMON_FIELDS + (
    "encoding_format",
    "dimensions",
    "truncate",
    "long",
    "normalize",
)
TOKENIZE_FIELDS = COMMON_FIELDS + ("text_pair", "max_length", "is_split_into_words", "long")
SEARCH_FIELDS = ("queries", "k", "where", "model", "user")
SEARCH_MAX_K = 1000  # documents per query in one answer
MAX_JSON_DEPTH = 64  # arrays and objects inside one another; a real body needs 4 or 5
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\Z)', re.DOTALL)  # to its end if unclosed
_NOT_BRACKET = bytes(c for c in range(256) if c not in b"[]{}")


def json_depth(raw: bytes) -> int:
    r"""How deeply a JSON text's arrays and objects nest, brackets inside strings not counted,
    found without parsing it: the refusal of a hostile body depends on no interpreter state
    (json.loads fails at sys.getrecursionlimit(), which any library in the process may raise).

    >>> json_depth(b'{"a": [1, "[[\\"{[", {"b": [2]}]}')
    4
    """
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKET)
    if not brackets:
        return 0
    b = np.frombuffer(brackets, dtype=np.uint8)
    step = np.where((b == ord("[")) | (b == ord("{")), 1, -1)  # (n,)
    return int(np.cumsum(step).max())


def parse_json(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ApiError(
            400, f"the request body is not valid UTF-8 (byte {e.start})", code="invalid_encoding"
        ) from None
    opening = raw.count(b"[") + raw.count(b"{")  # fewer than the bound: no need to look closer
    if opening > MAX_JSON_DEPTH and json_depth(raw) > MAX_JSON_DEPTH:
        raise ApiError(
            400,
            f"the request body is not valid JSON: nested too deeply (over {MAX_JSON_DEPTH} levels)",
            code="invalid_json",
        )
    try:
        doc = json.loads(text)
    except RecursionError:
        raise ApiError(
            400, "the request body is not valid JSON: nested too deeply", code="invalid_json"
        ) from None
    except json.JSONDecodeError as e:
        raise ApiError(
            400,
            f"the request body is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}",
            code="invalid_json",
        ) from None
    if not isinstance(doc, dict):
        raise ApiError(422, "the request body must be a JSON object", code="invalid_type")
    return doc


def texts(
    doc: dict[str, Any],
    name: str,
    max_inputs: int,
    max_chars: int,
    required: bool = True,
    words: bool = False,
) -> list[Any] | None:
    """`input` as a string or a list (of strings, or of word lists): the request's shape and the
    server's limits. Whether each item is valid text is the library's check (the engine runs
    it before queueing), so it is written once."""
    if name not in doc or doc[name] is None:
        if required:
            raise ApiError(
                422,
                f"'{name}' is required: a string or a list of strings",
                param=name,
                code="missing_field",
            )
        return None
    value = doc[name]
    items = [value] if isinstance(value, str) else value
    if words and isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        items = [value]
    if not isinstance(items, list):
        raise ApiError(
            422,
            f"'{name}' must be a string or a list of strings, got {type(value).__name__}",
            param=name,
            code="invalid_type",
        )
    if not items:
        raise ApiError(
            422,
            f"'{name}' is an empty list; give at least one text",
            param=name,
            code="empty_input",
        )
    if len(items) > max_inputs:
        raise ApiError(
            413,
            f"'{name}' has {len(items)} texts; the limit is {max_inputs} per request",
            param=name,
            code="too_many_inputs",
        )
    for i, item in enumerate(items):
        n = _chars(item)
        if n > max_chars:
            raise ApiError(
                413,
                f"'{name}[{i}]' has {n} characters; the limit is {max_chars}",
                param=f"{name}[{i}]",
                code="input_too_long",
            )
    return items


def _chars(item: Any) -> int:
    if isinstance(item, str):
        return len(item)
    if isinstance(item, list):
        return sum(len(w) for w in item if isinstance(w, str))
    return 0


def known_fields(doc: dict[str, Any], valid: tuple[str, ...]) -> None:
    """Refuse fields the route does not know (a typo like 'levle' would be silently ignored)."""
    unknown = sorted(k for k in doc if k not in valid)
    if unknown:
        raise ApiError(
            422,
            f"unknown field {unknown[0]!r}; valid fields: {', '.join(sorted(valid))}",
            param=unknown[0],
            code="unknown_field",
        )


def encoding_format(doc: dict[str, Any]) -> str:
    fmt = doc.get("encoding_format") or "float"
    if fmt not in ("float", "base64"):
        raise ApiError(
            422,
            f"encoding_format={fmt!r} is not valid; choose one of: 'float', 'base64'",
            param="encoding_format",
            code="invalid_value",
        )
    return str(fmt)


def served_model(doc: dict[str, Any], name: str) -> None:
    """A `model` field, when given, must name the model this server serves."""
    given = doc.get("model")
    names = {name, name.lower(), name.split("/")[-1], name.split("/")[-1].lower()}
    if given is not None and str(given) not in names and str(given).lower() not in names:
        raise ApiError(
            404,
            f"model {given!r} is not served here; this server serves {name!r}",
            param="model",
            code="model_not_found",
        )


def embed_options(doc: dict[str, Any], **fixed: Any) -> EmbedOptions:
    given = {k: doc[k] for k in EMBED_FIELDS if k in doc and doc[k] is not None}
    for key in ("special_tokens", "normalize", "attentions", "is_split_into_words"):
        if key in given and not isinstance(given[key], bool):
            raise ApiError(422, f"'{key}' must be true or false", param=key, code="invalid_type")
    for key in ("stride", "max_length", "dimensions"):
        if key in given and (not isinstance(given[key], int) or isinstance(given[key], bool)):
            raise ApiError(422, f"'{key}' must be an integer", param=key, code="invalid_type")
    layers = given.get("layers")
    if isinstance(layers, list) and len(set(map(repr, layers))) < len(layers):
        raise ApiError(
            422,
            f"'layers' names a layer more than once ({len(layers)} entries, "
            f"{len(set(map(repr, layers)))} distinct); list each layer once",
            param="layers",
            code="invalid_value",
        )
    try:
        return EmbedOptions.create(**{**given, **fixed})
    except OptionError as e:
        raise ApiError(422, str(e), param=e.name, code="invalid_value") from None


def encode_vector(v: np.ndarray, fmt: str) -> Any:
    v = np.asarray(v, dtype=np.float32)
    if fmt == "base64":
        return base64.b64encode(v.astype("<f4").tobytes()).decode("ascii")
    return v.tolist()


def token_record(i: int, r: Any, fmt: str) -> dict[str, Any]:
    rec: dict[str, Any] = {"object": "embedding", "index": i}
    rec.update(r.layout())
    if r.kind == "token":
        rec["sequence_ids"] = r.sequence_ids.tolist()
    vectors = np.asarray(r.vectors, dtype=np.float32)
    rec["shape"] = list(vectors.shape)
    rec["embedding"] = (
        encode_vector(vectors.reshape(-1), fmt) if fmt == "base64" else vectors.tolist()
    )
    if r.kind == "token" and r.attentions is not None:
        rec["attentions"] = r.attentions.tolist()
    rec["report"] = r.report.to_dict()
    return rec


def window_record(i: int, r: Any, fmt: str) -> dict[str, Any]:
    """level="window": one vector per window, with the character span each window owns."""
    vectors = np.asarray(r.vectors, dtype=np.float32)  # (W, D)
    return {
        "object": "embedding",
        "index": i,
        "spans": r.spans.tolist(),
        "shape": list(vectors.shape),
        "embedding": encode_vector(vectors.reshape(-1), fmt)
        if fmt == "base64"
        else vectors.tolist(),
        "report": r.report.to_dict(),
    }


def search_k(doc: dict[str, Any]) -> int:
    """`k`: documents per query, 1 to SEARCH_MAX_K (default 10)."""
    k = doc.get("k", 10)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= SEARCH_MAX_K:
        raise ApiError(
            422,
            f"k={k!r} is not valid; choose an integer from 1 to {SEARCH_MAX_K}",
            param="k",
            code="invalid_value",
        )
    return k
