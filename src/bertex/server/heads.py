"""`POST /v1/classify` and `POST /v1/tag` over heads (bertex serve --head NAME=PATH): a head
file (bertex train) or a model folder's own task head (any Hugging Face sequence- or
token-classification folder; a question-answering folder serves /v1/answer, server/tasks.py);
same body reading, limits, auth and error shapes as the other routes."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from . import schemas
from .errors import RETRY, ApiError, to_api_error
from .routes import read_body, respond
from .state import State

CLASSIFY_FIELDS = ("head", "input", "text_pair", "labels", "model", "user")
TAG_FIELDS = ("head", "input", "aggregation", "model", "user")
ROUTE_TASK = {"/v1/classify": "classify", "/v1/tag": "tag"}


def pick(heads: dict[str, Any], doc: dict[str, Any], task: str) -> Any:
    """The head the body names, or a 404/422 naming the heads this route can use."""
    valid = sorted(n for n, h in heads.items() if h.task == task)
    name = doc.get("head")
    if name not in heads:
        status = 422 if not isinstance(name, str) else 404
        raise ApiError(
            status,
            f"no head {name!r}; this route serves: {', '.join(valid) or '(none)'}",
            param="head",
            code="unknown_head",
        )
    if heads[name].task != task:
        raise ApiError(
            422,
            f"head {name!r} is a {heads[name].task} head, not a {task} head; "
            f"this route serves: {', '.join(valid) or '(none)'}",
            param="head",
            code="wrong_head",
        )
    return heads[name]


def install_heads(app: FastAPI, state: State, heads: dict[str, Any]) -> None:
    """One route per task; each predicts off the event loop with the head's own features."""
    for path, task in ROUTE_TASK.items():
        _route(app, state, heads, path, task)


def _route(app: FastAPI, state: State, heads: dict[str, Any], path: str, task: str) -> None:
    cfg = state.config
    fields = CLASSIFY_FIELDS if task == "classify" else TAG_FIELDS

    async def predict(request: Request) -> Response:
        doc = await read_body(request, state)
        schemas.known_fields(doc, fields)
        schemas.served_model(doc, state.model.info.name)
        head = pick(heads, doc, task)
        texts = schemas.texts(doc, "input", cfg.max_inputs, cfg.max_chars) or []
        labels = doc.get("labels")
        if labels is not None and not (
            isinstance(labels, list) and all(isinstance(x, str) for x in labels)
        ):
            raise ApiError(422, "labels must be a list of strings", param="labels")
        pairs = _pairs(doc, head, len(texts), cfg)
        if not state.ready.is_set():
            raise ApiError(503, "the model is still loading", code="not_ready", headers=RETRY)
        try:
            if pairs is not None:  # a pair-form task folder (NLI, paraphrase, relevance)
                out = await asyncio.to_thread(head.predict, texts, labels, pairs=pairs)
            elif task == "classify":
                out = await asyncio.to_thread(head.predict, texts, labels)
            elif doc.get("aggregation") is not None:
                out = await asyncio.to_thread(head.predict, texts, aggregation=doc["aggregation"])
            else:
                out = await asyncio.to_thread(head.predict, texts)
        except Exception as e:
            raise to_api_error(e, "labels" if labels is not None else "input") from None

        def build() -> dict[str, Any]:
            key = "prediction" if task == "classify" else "entities"
            data = [
                {"index": i, key: asdict(p) if task == "classify" else [asdict(e) for e in p]}
                for i, p in enumerate(out)
            ]
            return {"object": "list", "head": doc["head"], "data": data}

        return await respond(state, request, build)

    app.post(path, name=task)(predict)


def _pairs(doc: dict[str, Any], head: Any, n: int, cfg: Any) -> list[Any] | None:
    """`text_pair`: one second text per input, for a task folder's classifier only."""
    pairs = schemas.texts(doc, "text_pair", cfg.max_inputs, cfg.max_chars, required=False)
    if pairs is None:
        return None
    if not hasattr(head, "loaded"):
        raise ApiError(
            422, "text_pair needs a model folder's own classifier, not a head file",
            param="text_pair", code="invalid_value",
        )  # fmt: skip
    if len(pairs) != n:
        raise ApiError(
            422, f"{n} inputs but {len(pairs)} text_pair values", param="text_pair",
            code="invalid_value",
        )  # fmt: skip
    return pairs


def load_heads(specs: list[str], model: Any) -> dict[str, Any]:
    """`NAME=PATH` flags -> {name: head bound to model}; a bad flag or a head made for another
    model raises (one line at start-up)."""
    from .. import heads as heads_lib
    from ..errors import OptionError

    out: dict[str, Any] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise OptionError("head", spec, ["NAME=PATH"], "--head takes NAME=PATH")
        if name in out:
            raise OptionError("head", name, ["a name given once"], "--head names must differ")
        if Path(path).is_dir():  # a model folder's own task head
            from ..tasks import load as load_task

            out[name] = load_task(path)
        else:
            out[name] = heads_lib.load(path, model=model)
    return out
