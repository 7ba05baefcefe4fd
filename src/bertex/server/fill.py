"""`POST /v1/fill`: the k best tokens for each [MASK] / <mask> in the input texts, on the served
model's masked-LM head (same body reading, limits, auth and error shapes as the other routes).

    {"input": "The capital of France is [MASK].", "k": 5}
    -> {"object": "list", "model": ..., "data": [{"index": 0, "text": ..., "best": ...,
        "masks": [{"start": 25, "end": 31, "candidates": [{"token", "token_id", "word",
        "probability"}, ...]}]}]}
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from . import schemas
from .errors import RETRY, ApiError, to_api_error
from .routes import read_body, respond
from .state import State

FIELDS = ("input", "k", "model", "user")


def install_fill(app: FastAPI, state: State) -> None:
    cfg = state.config

    @app.post("/v1/fill")
    async def fill(request: Request) -> Response:
        doc = await read_body(request, state)
        schemas.known_fields(doc, FIELDS)
        schemas.served_model(doc, state.model.info.name)
        texts = schemas.texts(doc, "input", cfg.max_inputs, cfg.max_chars) or []
        k = doc.get("k", 5)
        if not state.ready.is_set():
            raise ApiError(503, "the model is still loading", code="not_ready", headers=RETRY)
        try:
            out = await asyncio.to_thread(state.model.fill, list(texts), k=k)
        except Exception as e:
            raise to_api_error(e, "input") from None

        def build() -> dict[str, Any]:
            data = [{"index": i, **f.to_dict()} for i, f in enumerate(out)]
            return {"object": "list", "model": state.model.info.name, "data": data}

        return await respond(state, request, build)
