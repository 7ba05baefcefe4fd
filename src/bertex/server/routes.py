"""The routes: read and check a body, count the answer's size, await the engine (dropping the
work when the client leaves), and render the answer off the event loop."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import ClientDisconnect

from .._version import __version__
from ..config import EmbedOptions
from ..errors import BertexError
from . import limits, schemas
from .errors import RETRY, ApiError, to_api_error
from .state import State

log = logging.getLogger("bertex.server")
ROUTES = (
    "/v1/embeddings",
    "/v1/embed",
    "/v1/tokenize",
    "/v1/search",
    "/v1/classify",
    "/v1/tag",
    "/v1/fill",
    "/v1/answer",
    "/rerank",
    "/v1/rerank",
    "/v1/models",
    "/info",
    "/health",
    "/metrics",
)


async def read_body(request: Request, state: State) -> dict[str, Any]:
    """The body as a JSON object, within the size limit and the time limit."""
    cfg = state.config
    limit = cfg.max_body_bytes
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise ApiError(
            413, f"the request body has {length} bytes; the limit is {limit}", code="body_too_large"
        )
    try:
        raw = await asyncio.wait_for(_receive(request, limit), cfg.body_timeout_s)
    except TimeoutError:
        raise ApiError(
            408,
            f"the request body did not arrive within {cfg.body_timeout_s:g} s (--body-timeout)",
            code="body_timeout",
        ) from None
    except ClientDisconnect:
        state.metrics.disconnects.labels("body").inc()
        log.warning("client left mid-body on %s", state.metrics.route(request.url.path))
        raise ApiError(499, "the client closed the request", code="client_closed") from None
    return await asyncio.to_thread(schemas.parse_json, raw)


async def _receive(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(
                413, f"the request body is over the limit of {limit} bytes", code="body_too_large"
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def run(
    state: State, request: Request, items: list[Any], pairs: Any, options: Any, param: str = "input"
) -> Any:
    """Await the engine; a client that leaves cancels the call, which drops the rest of its
    work between passes (counted in /metrics)."""
    if not state.ready.is_set():
        raise ApiError(
            503, "the model is still loading", type="server_error", code="not_ready", headers=RETRY
        )
    call = state.engine.embed(items, pairs, options=options, deadline=state.config.deadline_s)
    task = asyncio.ensure_future(call)
    gone = asyncio.ensure_future(_disconnect(request))
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            state.metrics.disconnects.labels("waiting").inc()
            raise ApiError(499, "the client closed the request", code="client_closed")
        return task.result()
    except ApiError:
        raise
    except Exception as e:
        raise to_api_error(e, param) from None
    finally:
        gone.cancel()
        task.cancel()  # nothing when done; else the engine drops the rest


async def _disconnect(request: Request) -> None:
    """Return when the client goes away. The body has been read, so the next ASGI message is
    the disconnect: waiting for it costs nothing, unlike polling every waiting request."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def respond(state: State, request: Request, build: Callable[[], Any]) -> Response:
    """Build and serialize the answer in a worker thread: a large answer never stalls the loop."""

    def render() -> bytes:
        doc = build()  # strict JSON (no bare NaN): a non-finite number is a shaped 500
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()

    content = await asyncio.to_thread(render)
    state.metrics.request(request.url.path, 200, "ok")
    return Response(content, media_type="application/json")


async def check_size(state: State, items: list[Any], pairs: Any, options: EmbedOptions) -> None:
    """413 before computing when the answer would hold more than max_output_floats numbers."""
    model, limit = state.model, state.config.max_output_floats
    reports = []
    if options.level != "sentence":
        reports = [t.report for t in await tokenize(model, items, pairs, options)]
    limits.check(limits.output_floats(options, len(items), reports, model.info), limit, options)


async def tokenize(model: Any, items: list[Any], pairs: Any, options: EmbedOptions) -> Any:
    """`Model.tokenize` off the event loop, with the request's splitting, length and policy."""
    try:
        return await asyncio.to_thread(
            model.tokenize,
            items,
            pairs,
            is_split_into_words=options.is_split_into_words,
            max_length=options.max_length,
            long=options.long,
        )
    except Exception as e:
        raise to_api_error(e, "input") from None


def install(app: FastAPI, state: State) -> None:
    model, cfg = state.model, state.config

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> Response:
        doc = await read_body(request, state)
        schemas.known_fields(doc, schemas.EMBEDDINGS_FIELDS)
        schemas.served_model(doc, model.info.name)
        fmt = schemas.encoding_format(doc)
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
        items = schemas.texts(doc, "input", cfg.max_inputs, cfg.max_chars) or []
        long = "truncate" if doc.get("truncate") is True else doc.get("long") or "window"
        given = {k: doc[k] for k in ("normalize",) if k in doc}
        if dims is not None:  # OpenAI's `dimensions`: truncated vectors are unit length
            given = {"normalize": True, **given, "dimensions": dims}
        options = schemas.embed_options(given, level="sentence", long=long)
        result = await run(state, request, items, None, options)

        def build() -> dict[str, Any]:
            data = [
                {"object": "embedding", "index": i, "embedding": schemas.encode_vector(v, fmt)}
                for i, v in enumerate(result.vectors)
            ]
            seen = sum(r.seen_tokens for r in result.reports)
            usage = {"prompt_tokens": seen, "total_tokens": seen}
            return {"object": "list", "data": data, "model": model.info.name, "usage": usage}

        return await respond(state, request, build)

    @app.post("/v1/embed")
    async def embed(request: Request) -> Response:
        doc = await read_body(request, state)
        schemas.known_fields(doc, schemas.EMBED_ROUTE_FIELDS)
        schemas.served_model(doc, model.info.name)
        fmt = schemas.encoding_format(doc)
        options = schemas.embed_options(doc)
        items, pairs = _items_and_pairs(doc, cfg, options.is_split_into_words)
        await check_size(state, items, pairs, options)
        result = await run(state, request, items, pairs, options)
        return await respond(state, request, lambda: _embed_body(model, result, options, fmt))

    @app.post("/v1/tokenize")
    async def tokenize_route(request: Request) -> Response:
        doc = await read_body(request, state)
        schemas.known_fields(doc, schemas.TOKENIZE_FIELDS)
        schemas.served_model(doc, model.info.name)
        opts = schemas.embed_options(
            {k: doc[k] for k in ("max_length", "is_split_into_words", "long") if k in doc}
        )
        items, pairs = _items_and_pairs(doc, cfg, opts.is_split_into_words)
        out = await tokenize(model, items, pairs, opts)
        data = lambda: [{"index": i, **t.to_dict()} for i, t in enumerate(out)]  # noqa: E731
        return await respond(state, request, lambda: {"object": "list", "data": data()})

    @app.get("/v1/models")
    async def models(request: Request) -> Response:
        entry = {"id": model.info.name, "object": "model", "created": 0, "owned_by": "bertex"}
        return await respond(state, request, lambda: {"object": "list", "data": [entry]})

    @app.get("/info")
    async def info(request: Request) -> Response:
        names = (
            "max_batch_tokens",
            "max_queue",
            "max_inputs",
            "max_chars",
            "max_body_bytes",
            "max_output_floats",
            "deadline_s",
            "body_timeout_s",
        )
        doc = {
            **model.info.to_dict(),
            "dims": model.dim,
            "weights_sha256": model.weights_sha256,
            "max_input_tokens": model.info.max_length,
            "limits": {k: getattr(cfg, k) for k in names},
            "bertex_version": __version__,
            "ready": state.ready.is_set(),
        }
        return await respond(state, request, lambda: doc)

    @app.get("/health")
    async def health() -> JSONResponse:
        if not state.ready.is_set():
            return JSONResponse({"status": "loading"}, status_code=503)
        return JSONResponse({"status": "ok", "queue_depth": state.engine.depth})

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _items_and_pairs(doc: dict[str, Any], cfg: Any, words: bool) -> tuple[list[Any], Any]:
    items = schemas.texts(doc, "input", cfg.max_inputs, cfg.max_chars, words=words) or []
    pairs = schemas.texts(doc, "text_pair", cfg.max_inputs, cfg.max_chars, required=False)
    if pairs is not None and len(pairs) != len(items):
        raise ApiError(
            422,
            f"{len(items)} inputs but {len(pairs)} text_pair values",
            param="text_pair",
            code="invalid_value",
        )
    return items, pairs


def _embed_body(model: Any, result: Any, options: EmbedOptions, fmt: str) -> dict[str, Any]:
    if options.level == "sentence":
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": schemas.encode_vector(v, fmt) if fmt == "base64" else v.tolist(),
                "report": r.to_dict(),
            }
            for i, (v, r) in enumerate(zip(result.vectors, result.reports))
        ]
        meta, reports = result.meta, result.reports
    else:
        record = schemas.window_record if options.level == "window" else schemas.token_record
        data = [record(i, r, fmt) for i, r in enumerate(result)]
        meta, reports = result[0].meta, [r.report for r in result]
    seen = sum(r.seen_tokens for r in reports)
    return {
        "object": "list",
        "model": model.info.name,
        "data": data,
        "meta": meta.to_dict(),
        "usage": {"prompt_tokens": seen, "total_tokens": seen},
    }


def install_search(app: FastAPI, state: State, index: Any) -> None:
    """`POST /v1/search` over `index` (bertex serve --index): queries are embedded by the
    engine like any other request (same limits, auth and errors), then searched."""
    from ..index.filters import parse

    cfg = state.config
    options = EmbedOptions.create(**index.provenance.embed_options())
    index.store.prepare()  # the first request does not pay for loading the graph

    @app.post("/v1/search")
    async def search(request: Request) -> Response:
        doc = await read_body(request, state)
        schemas.known_fields(doc, schemas.SEARCH_FIELDS)
        schemas.served_model(doc, state.model.info.name)
        queries = schemas.texts(doc, "queries", cfg.max_inputs, cfg.max_chars) or []
        k = schemas.search_k(doc)
        try:
            where = parse(doc.get("where"))
        except BertexError as e:
            raise to_api_error(e, "where") from None
        result = await run(state, request, queries, None, options, "queries")
        try:  # an unexpected error goes on to the handler that logs it
            hits = await asyncio.to_thread(index.store.search, result.vectors, k, where)
        except BertexError as e:
            raise to_api_error(e, "where") from None

        def build() -> dict[str, Any]:
            data = [
                {"index": i, "query": q, "hits": h.to_dicts()}
                for i, (q, h) in enumerate(zip(queries, hits, strict=True))
            ]
            return {"object": "list", "data": data}

        return await respond(state, request, build)


def install_no_search(app: FastAPI) -> None:
    """Without --index, `POST /v1/search` says how to get one instead of a bare 404."""

    @app.post("/v1/search")
    async def no_search(request: Request) -> Response:
        raise ApiError(
            404,
            "this server has no search index: start it with `bertex serve --index INDEX` "
            "(an index from `bertex index build`)",
            code="no_index",
        )


def explorer_page() -> str:
    from importlib import resources

    return resources.files("bertex.server").joinpath("static", "explorer.html").read_text("utf-8")


def install_ui(app: FastAPI) -> None:
    """The explorer: one static page at `/` (no key needed to load it; its API calls send one)."""
    from fastapi.responses import HTMLResponse

    page = explorer_page()

    @app.get("/")
    async def explorer() -> HTMLResponse:
        return HTMLResponse(page)
