"""Request bodies -> checked Python values, with errors that name the field and the index;
results -> response bodies."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np

from ..config import EmbedOptions
from ..errors import OptionError
from .errors import ApiError

EMBED_FIELDS = (
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
)


def parse_json(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ApiError(
            400, f"the request body is not valid UTF-8 (byte {e.start})", code="invalid_encoding"
        ) from None
    try:
        doc = json.loads(text)
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
    """`input` as a string or a list of strings (or lists of words), checked one by one."""
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
        _check_item(item, f"{name}[{i}]", max_chars, words)
    return items


def _check_item(item: Any, param: str, max_chars: int, words: bool) -> None:
    if words:
        if not isinstance(item, list) or not all(isinstance(w, str) for w in item):
            raise ApiError(
                422, f"'{param}' must be a list of words", param=param, code="invalid_type"
            )
        item = " ".join(item)
    if isinstance(item, list) and all(isinstance(t, int) for t in item):
        raise ApiError(
            422,
            f"'{param}': token-id input is not supported; send text",
            param=param,
            code="invalid_type",
        )
    if not isinstance(item, str):
        raise ApiError(
            422,
            f"'{param}' must be a string, got {type(item).__name__}",
            param=param,
            code="invalid_type",
        )
    if not item.strip():
        raise ApiError(
            422, f"'{param}' is empty or whitespace only", param=param, code="empty_input"
        )
    if len(item) > max_chars:
        raise ApiError(
            413,
            f"'{param}' has {len(item)} characters; the limit is {max_chars}",
            param=param,
            code="input_too_long",
        )
    try:
        item.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ApiError(
            422,
            f"'{param}' has a lone surrogate at character {e.start}",
            param=param,
            code="invalid_input",
        ) from None


def embed_options(doc: dict[str, Any], **fixed: Any) -> EmbedOptions:
    given = {k: doc[k] for k in EMBED_FIELDS if k in doc and doc[k] is not None}
    for key in ("special_tokens", "normalize", "attentions", "is_split_into_words"):
        if key in given and not isinstance(given[key], bool):
            raise ApiError(422, f"'{key}' must be true or false", param=key, code="invalid_type")
    for key in ("stride", "max_length"):
        if key in given and (not isinstance(given[key], int) or isinstance(given[key], bool)):
            raise ApiError(422, f"'{key}' must be an integer", param=key, code="invalid_type")
    try:
        return EmbedOptions.create(**{**given, **fixed})
    except OptionError as e:
        raise ApiError(422, str(e), param=e.name, code="invalid_value") from None


def encode_vector(v: np.ndarray, fmt: str) -> Any:
    v = np.asarray(v, dtype=np.float32)
    if fmt == "base64":
        return base64.b64encode(v.astype("<f4").tobytes()).decode("ascii")
    return v.tolist()


def reshape_dimensions(vectors: np.ndarray, dims: int | None, normalize: bool) -> np.ndarray:
    """OpenAI's `dimensions`: keep the first `dims` values and re-normalize."""
    if dims is None:
        return vectors
    out = vectors[:, :dims]
    if normalize:
        out = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out


def token_record(i: int, r: Any, fmt: str) -> dict[str, Any]:
    rec: dict[str, Any] = {"object": "embedding", "index": i}
    rec.update(r.layout())
    if not hasattr(r, "words"):
        rec["sequence_ids"] = r.sequence_ids.tolist()
    vectors = np.asarray(r.vectors, dtype=np.float32)
    rec["shape"] = list(vectors.shape)
    rec["embedding"] = (
        encode_vector(vectors.reshape(-1), fmt) if fmt == "base64" else vectors.tolist()
    )
    if getattr(r, "attentions", None) is not None:
        rec["attentions"] = r.attentions.tolist()
    rec["report"] = report(r.report)
    return rec


def report(r: Any) -> dict[str, Any]:
    return {
        "n_tokens": r.n_tokens,
        "n_windows": r.n_windows,
        "truncated": r.truncated,
        "unk_count": r.unk_count,
        "seen_tokens": r.seen_tokens,
    }
