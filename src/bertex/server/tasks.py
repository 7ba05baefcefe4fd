"""Task-model routes: `POST /v1/answer` over question-answering folders (`bertex serve --head
NAME=DIR`) and `POST /rerank` (also `/v1/rerank`) over a cross-encoder (`--rerank DIR`).

/rerank takes both common request shapes and answers in the one it was asked in:
- text-embeddings-inference: {"query", "texts", "raw_scores", "return_text", "truncate"} ->
  [{"index", "score", "text"?}, ...] best first;
- infinity (Cohere's shape): {"query", "documents", "top_n", "return_documents",
  "raw_scores", "model"} -> {"object": "rerank", "results": [{"index", "relevance_score",
  "document"?}], "model", "usage", "id", "created"}.
A score is sigmoid(logit) (raw_scores: the logit); the order is the model's own logit.
Same body reading, limits, auth and error mapping as every other route.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from . import schemas
from .errors import ApiError, to_api_error
from .heads import pick
from .routes import read_body, respond
from .state import State

ANSWER_FIELDS = (
    "head", "question", "context", "k", "top_k", "no_answer", "null_threshold",
    "max_answer_len", "max_length", "doc_stride", "user",
)  # fmt: skip
ANSWER_OPTIONS = {
    "top_k": int,
    "no_answer": bool,
    "null_threshold": float,
    "max_answer_len": int,
    "max_length": int,
    "doc_stride": int,
}
TEI_FIELDS = ("query", "texts", "raw_scores", "return_text", "truncate", "model", "user")
INFINITY_FIELDS = (
    "query", "documents", "top_n", "return_documents", "raw_scores", "truncate", "model", "user",
)  # fmt: skip
RERANK_PATHS = ("/rerank", "/v1/rerank")


def _typed(doc: dict[str, Any], name: str, kind: type, default: Any = None) -> Any:
    """doc[name] checked against `kind` (an int is a float too; a bool is no int)."""
    value = doc.get(name, default)
    if value is None or value is default:
        return value
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok, value = True, float(value)
    if not ok:
        raise ApiError(422, f"{name} must be a {kind.__name__}", param=name, code="invalid_type")
    return value


def _question(doc: dict[str, Any], name: str, max_chars: int) -> str:
    value = doc.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ApiError(422, f"{name} must be a non-empty string", param=name, code="invalid_value")
    if len(value) > max_chars:
        raise ApiError(
            413, f"{name} has {len(value)} characters; the limit is {max_chars}", param=name
        )
    return value


def install_answer(app: FastAPI, state: State, heads: dict[str, Any], index: Any = None) -> None:
    """`POST /v1/answer`: {"question", "context": text or list} or, with `bertex serve
    --index`, {"question", "k"} to read the k best passages; "head" names the QA folder
    (optional when one is served)."""
    from ..tasks.answer import from_index

    cfg = state.config
    readers = {n: h for n, h in heads.items() if h.task == "qa"}

    @app.post("/v1/answer")
    async def answer(request: Request) -> Response:
        doc = await read_body(request, state)
        schemas.known_fields(doc, ANSWER_FIELDS)
        if "head" not in doc and len(readers) == 1:
            doc = {**doc, "head": next(iter(readers))}
        reader = pick(heads, doc, "qa")
        question = _question(doc, "question", cfg.max_chars)
        opts = {k: _typed(doc, k, t) for k, t in ANSWER_OPTIONS.items() if k in doc}
        if "context" in doc:
            contexts = schemas.texts(doc, "context", cfg.max_inputs, cfg.max_chars) or []
            call = lambda: reader.answer(question, contexts, **opts)  # noqa: E731
        elif index is not None:
            k = _typed(doc, "k", int, 3)
            call = lambda: from_index(reader, question, index, k, **opts)  # noqa: E731
        else:
            raise ApiError(
                422,
                "give context (a text or a list); or start the server with --index to read "
                "retrieved passages",
                param="context",
                code="missing_field",
            )
        try:
            found = await asyncio.to_thread(call)
        except Exception as e:
            raise to_api_error(e, "context") from None
        data = [asdict(a) for a in found]
        return await respond(
            state, request, lambda: {"object": "list", "head": doc["head"], "data": data}
        )


def install_rerank(app: FastAPI, state: State, reranker: Any, name: str) -> None:
    """`POST /rerank` and `/v1/rerank` over the cross-encoder `reranker` (named `name`)."""
    cfg = state.config
    names = {name, Path(name).name}

    async def rerank_route(request: Request) -> Response:
        from ..tasks import rerank

        doc = await read_body(request, state)
        tei = "texts" in doc
        if tei == ("documents" in doc):
            raise ApiError(
                422,
                "give texts (text-embeddings-inference's shape) or documents (infinity's and "
                "Cohere's shape), not both or neither",
                param="texts",
                code="missing_field",
            )
        schemas.known_fields(doc, TEI_FIELDS if tei else INFINITY_FIELDS)
        model = doc.get("model")
        if model is not None and model not in names:
            raise ApiError(
                404, f"model {model!r} is not served here; /rerank serves {name!r}",
                param="model", code="model_not_found",
            )  # fmt: skip
        query = _question(doc, "query", cfg.max_chars)
        key = "texts" if tei else "documents"
        docs = schemas.texts(doc, key, cfg.max_inputs, cfg.max_chars) or []
        raw = _typed(doc, "raw_scores", bool, False)
        truncate = _typed(doc, "truncate", bool, False)
        top_n = _typed(doc, "top_n", int)
        if top_n is not None and top_n < 1:
            raise ApiError(422, "top_n must be >= 1", param="top_n", code="invalid_value")
        try:
            ranked = await asyncio.to_thread(rerank, reranker, query, docs, top_n, truncate)
        except Exception as e:
            raise to_api_error(e, key) from None
        score = (lambda r: r.logit) if raw else (lambda r: r.score)
        if tei:
            text = _typed(doc, "return_text", bool, False)
            body: Any = [
                {"index": r.index, "score": score(r), **({"text": docs[r.index]} if text else {})}
                for r in ranked
            ]
        else:
            with_docs = _typed(doc, "return_documents", bool, False)
            results = [
                {
                    "relevance_score": score(r),
                    "index": r.index,
                    **({"document": docs[r.index]} if with_docs else {}),
                }
                for r in ranked
            ]
            tokens = await asyncio.to_thread(_tokens, reranker, query, docs)
            body = {
                "object": "rerank",
                "results": results,
                "model": name,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                "id": str(uuid.uuid4()),
                "created": int(time.time()),
            }
        return await respond(state, request, lambda: body)

    for path in RERANK_PATHS:
        app.post(path, name=f"rerank{path.replace('/', '_')}")(rerank_route)


def _tokens(reranker: Any, query: str, docs: list[str]) -> int:
    enc = reranker.encode([query] * len(docs), docs, truncation=False)
    return sum(len(ids) for ids in enc["input_ids"])
