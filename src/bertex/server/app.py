"""The FastAPI application: routes, auth, limits and the one error mapping.

POST /v1/embeddings   OpenAI-compatible pooled vectors (float or base64)
POST /v1/embed        the full bertex request: tokens, words, layers, attention
POST /v1/tokenize     tokens, ids, offsets, words, UNK count
GET  /v1/models, /info, /health (503 until warm), /metrics (Prometheus)
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import threading
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._version import __version__
from . import schemas
from .batcher import Batcher, Job, QueueFullError
from .config import ServerConfig
from .errors import ApiError, body, to_api_error
from .metrics import Metrics

log = logging.getLogger("bertex.server")
OPEN_ROUTES = ("/health", "/metrics")


class State:
    def __init__(self, model: Any, config: ServerConfig) -> None:
        self.model, self.config = model, config
        self.metrics = Metrics()
        self.ready = threading.Event()
        self.batcher = Batcher(
            model,
            config.batch_tokens,
            config.max_queue,
            config.batch_wait_ms,
            self.metrics,
            config.max_batch_requests,
        )

    def warm_up(self) -> None:
        self.model.embed(["warm up"], level="sentence")
        self.ready.set()


def create_app(model: Any, config: ServerConfig) -> FastAPI:
    config.check(model.info.max_length)
    state = State(model, config)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        threading.Thread(target=state.warm_up, daemon=True).start()
        yield
        state.batcher.stop()

    app = FastAPI(
        title="bertex", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.bertex = state
    _install_errors(app, state)
    _install_auth(app, state)
    _routes(app, state)
    return app


def _error_response(e: ApiError) -> JSONResponse:
    return JSONResponse(body(e), status_code=e.status, headers=e.headers)


def _install_errors(app: FastAPI, state: State) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError) -> JSONResponse:
        state.metrics.requests.labels(request.url.path, str(e.status), e.code or e.type).inc()
        return _error_response(e)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status_code, "http_error")
        err = ApiError(e.status_code, f"{request.method} {request.url.path}: {e.detail}", code=code)
        return await api_error(request, err)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, e: RequestValidationError) -> JSONResponse:
        return await api_error(request, ApiError(422, str(e.errors()[:1]), code="invalid_value"))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, e: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return await api_error(request, to_api_error(e))


def _install_auth(app: FastAPI, state: State) -> None:
    keys = [k.encode() for k in state.config.api_keys]

    @app.middleware("http")
    async def auth(request: Request, call_next: Any) -> Response:
        if keys and request.url.path not in OPEN_ROUTES:
            header = request.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            given = token.strip().encode()
            ok = False
            for key in keys:  # compare against every key: time does not tell which matched
                ok |= hmac.compare_digest(given, key)
            if scheme.lower() != "bearer" or not ok:
                e = ApiError(
                    401,
                    "missing or invalid API key: send 'Authorization: Bearer KEY'",
                    code="invalid_api_key",
                    headers={"WWW-Authenticate": "Bearer"},
                )
                state.metrics.requests.labels(request.url.path, "401", "invalid_api_key").inc()
                return _error_response(e)
        return await call_next(request)


async def _read_body(request: Request, limit: int) -> dict[str, Any]:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise ApiError(
            413, f"the request body has {length} bytes; the limit is {limit}", code="body_too_large"
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(
                413, f"the request body is over the limit of {limit} bytes", code="body_too_large"
            )
        chunks.append(chunk)
    return schemas.parse_json(b"".join(chunks))


async def _embed(
    state: State,
    request: Request,
    texts: list[Any],
    pairs: list[str] | None,
    options: Any,
    param: str,
) -> Any:
    """Queue a job, wait for it (dropping it if the client leaves or the deadline passes)."""
    if not state.ready.is_set():
        raise ApiError(
            503,
            "the model is still loading",
            type="server_error",
            code="not_ready",
            headers={"Retry-After": "1"},
        )
    loop = asyncio.get_running_loop()
    job = Job(texts, pairs, options, loop, loop.create_future())
    try:
        state.batcher.submit(job)
    except QueueFullError:
        raise ApiError(
            429,
            f"the queue is full ({state.config.max_queue} texts waiting); retry shortly",
            type="rate_limit_error",
            code="queue_full",
            headers={"Retry-After": "1"},
        ) from None
    deadline = loop.time() + state.config.deadline_s
    try:
        while True:
            done, _ = await asyncio.wait({job.future}, timeout=0.05)
            if done:
                return job.future.result()
            if await request.is_disconnected():
                job.cancelled = True
                raise ApiError(499, "the client closed the request", code="client_closed")
            if loop.time() > deadline:
                job.cancelled = True
                raise ApiError(
                    503,
                    f"no answer within {state.config.deadline_s:g} s",
                    type="server_error",
                    code="deadline_exceeded",
                    headers={"Retry-After": "1"},
                )
    except ApiError:
        raise
    except Exception as e:
        raise to_api_error(e, param) from None


def _ok(state: State, request: Request, content: Any) -> JSONResponse:
    state.metrics.requests.labels(request.url.path, "200", "ok").inc()
    return JSONResponse(content)


def _routes(app: FastAPI, state: State) -> None:
    model, cfg = state.model, state.config
    names = {model.info.name, model.info.name.lower(), model.info.name.split("/")[-1]}

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> JSONResponse:
        doc = await _read_body(request, cfg.max_body_bytes)
        name = doc.get("model")
        if name is not None and str(name) not in names and str(name).lower() not in names:
            raise ApiError(
                404,
                f"model {name!r} is not served here; this server serves {model.info.name!r}",
                param="model",
                code="model_not_found",
            )
        fmt = doc.get("encoding_format") or "float"
        if fmt not in ("float", "base64"):
            raise ApiError(
                422,
                f"encoding_format={fmt!r} is not valid; choose one of: 'float', 'base64'",
                param="encoding_format",
                code="invalid_value",
            )
        dims = doc.get("dimensions")
        if dims is not None and (
            not isinstance(dims, int) or isinstance(dims, bool) or not 1 <= dims <= model.dim
        ):
            raise ApiError(
                422,
                f"dimensions={dims!r} is not valid; choose an integer from 1 to {model.dim}",
                param="dimensions",
                code="invalid_value",
            )
        items = schemas.texts(doc, "input", cfg.max_inputs, cfg.max_chars)
        long = "truncate" if doc.get("truncate") is True else doc.get("long") or "window"
        fixed = {"level": "sentence", "long": long}
        options = schemas.embed_options({k: doc[k] for k in ("normalize",) if k in doc}, **fixed)
        result = await _embed(state, request, items or [], None, options, "input")
        vectors = schemas.reshape_dimensions(
            result.vectors, dims, result.meta.normalize or dims is not None
        )
        data = [
            {"object": "embedding", "index": i, "embedding": schemas.encode_vector(v, fmt)}
            for i, v in enumerate(vectors)
        ]
        seen = sum(r.seen_tokens for r in result.reports)
        return _ok(
            state,
            request,
            {
                "object": "list",
                "data": data,
                "model": model.info.name,
                "usage": {"prompt_tokens": seen, "total_tokens": seen},
            },
        )

    @app.post("/v1/embed")
    async def embed(request: Request) -> JSONResponse:
        doc = await _read_body(request, cfg.max_body_bytes)
        options = schemas.embed_options(doc)
        split = options.is_split_into_words
        items = schemas.texts(doc, "input", cfg.max_inputs, cfg.max_chars, words=split)
        pairs = schemas.texts(doc, "text_pair", cfg.max_inputs, cfg.max_chars, required=False)
        if pairs is not None and len(pairs) != len(items or []):
            raise ApiError(
                422,
                f"{len(items or [])} inputs but {len(pairs)} text_pair values",
                param="text_pair",
                code="invalid_value",
            )
        fmt = doc.get("encoding_format") or "float"
        result = await _embed(state, request, items or [], pairs, options, "input")
        if options.level == "sentence":
            data = [
                {
                    "object": "embedding",
                    "index": i,
                    "embedding": schemas.encode_vector(v, fmt) if fmt == "base64" else v.tolist(),
                    "report": schemas.report(r),
                }
                for i, (v, r) in enumerate(zip(result.vectors, result.reports))
            ]
            meta, reports = result.meta, result.reports
        else:
            data = [schemas.token_record(i, r, fmt) for i, r in enumerate(result)]
            meta, reports = result[0].meta, [r.report for r in result]
        seen = sum(r.seen_tokens for r in reports)
        return _ok(
            state,
            request,
            {
                "object": "list",
                "model": model.info.name,
                "data": data,
                "meta": meta.to_dict(),
                "usage": {"prompt_tokens": seen, "total_tokens": seen},
            },
        )

    @app.post("/v1/tokenize")
    async def tokenize(request: Request) -> JSONResponse:
        doc = await _read_body(request, cfg.max_body_bytes)
        items = schemas.texts(doc, "input", cfg.max_inputs, cfg.max_chars)
        try:
            out = await asyncio.to_thread(model.tokenize, items)
        except Exception as e:
            raise to_api_error(e, "input") from None
        data = [{"index": i, **t.to_dict()} for i, t in enumerate(out)]
        return _ok(state, request, {"object": "list", "data": data})

    @app.get("/v1/models")
    async def models(request: Request) -> JSONResponse:
        return _ok(
            state,
            request,
            {
                "object": "list",
                "data": [
                    {"id": model.info.name, "object": "model", "created": 0, "owned_by": "bertex"}
                ],
            },
        )

    @app.get("/info")
    async def info(request: Request) -> JSONResponse:
        limits = {
            k: getattr(cfg, k)
            for k in (
                "batch_tokens",
                "max_queue",
                "max_inputs",
                "max_chars",
                "max_body_bytes",
                "deadline_s",
            )
        }
        return _ok(
            state,
            request,
            {
                **model.info.to_dict(),
                "dims": model.dim,
                "weights_sha256": model.weights_sha256,
                "max_input_tokens": model.info.max_length,
                "limits": limits,
                "bertex_version": __version__,
                "ready": state.ready.is_set(),
            },
        )

    @app.get("/health")
    async def health() -> JSONResponse:
        if not state.ready.is_set():
            return JSONResponse({"status": "loading"}, status_code=503)
        return JSONResponse({"status": "ok", "queue_depth": state.batcher.depth})

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
