"""The FastAPI application: a thin adapter over the library's Engine, with auth, the request
guards and the one error mapping.

POST /v1/embeddings   OpenAI-compatible pooled vectors (float or base64)
POST /v1/embed        the full bertex request: tokens, words, layers, attention
POST /v1/tokenize     tokens, ids, offsets, words, UNK count
POST /v1/fill         the k best tokens for each [MASK] (a checkpoint with a masked-LM head)
GET  /v1/models, /info, /health (503 until warm), /metrics (Prometheus)
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._version import __version__
from . import routes
from .config import ServerConfig
from .errors import ApiError, body, to_api_error
from .fill import install_fill
from .headers import SecurityHeaders, page_policy
from .routes import ROUTES
from .state import State

log = logging.getLogger("bertex.server")
OPEN_ROUTES = ("/health", "/metrics")
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def create_app(model: Any, config: ServerConfig, ui: bool = False) -> FastAPI:
    """`ui`: also serve the explorer page at `/` (it calls the JSON API like any client)."""
    config.check(model.info.max_length, model.dim)
    state = State(model, config, ROUTES)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        threading.Thread(target=state.warm_up, daemon=True).start()
        yield
        state.engine.close(wait=False)  # a pass still running must not hold up a bounded exit

    app = FastAPI(
        title="bertex", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.bertex = state
    _install_errors(app, state)
    _install_guards(app, state, ui)
    routes.install(app, state)
    install_fill(app, state)
    if ui:
        routes.install_ui(app)
    pages = {"/": page_policy(routes.explorer_page())} if ui else {}
    app.add_middleware(SecurityHeaders, pages=pages)  # outermost: on every answer, errors too
    return app


def _error_response(e: ApiError) -> JSONResponse:
    return JSONResponse(body(e), status_code=e.status, headers=e.headers)


def _install_errors(app: FastAPI, state: State) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError) -> JSONResponse:
        state.metrics.request(request.url.path, e.status, e.code or e.type)
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
        log.exception("unexpected error on %s", state.metrics.route(request.url.path))
        return await api_error(request, to_api_error(e))


def allowed_hosts(config: ServerConfig) -> frozenset[str] | None:
    """Host headers the server answers (None: any). A keyless server bound to one address
    answers only names of that address and of loopback, so a web page cannot reach it through
    DNS rebinding; `--allowed-hosts` adds names, for any server. Bound to every interface
    without a key or a list, the names are unknown: the start-up line warns instead."""
    wildcard = config.host in ("0.0.0.0", "::", "")
    if not config.allowed_hosts and (config.api_keys or wildcard):
        return None
    names = {h.lower() for h in config.allowed_hosts} | set(LOOPBACK_NAMES)
    if not wildcard:
        names.add(config.host.lower())
    return frozenset(names)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host.lower() == "localhost"


def _host_name(header: str) -> str:
    """'127.0.0.1:8080' -> '127.0.0.1', '[::1]:80' -> '::1'."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _guard(request: Request, config: ServerConfig, hosts: frozenset[str] | None) -> None:
    """Refuse what a browser page could send to a server without a key: another Host (DNS
    rebinding) and a cross-origin "simple" POST (text/plain or a form: CSRF)."""
    if hosts is not None and _host_name(request.headers.get("host", "")) not in hosts:
        raise ApiError(
            421,
            f"Host {request.headers.get('host', '')!r} is not served here; allowed: "
            f"{', '.join(sorted(hosts))} (set --allowed-hosts)",
            code="host_not_allowed",
        )
    if request.method == "POST" and not config.api_keys:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise ApiError(
                415,
                f"Content-Type {kind or 'missing'!r}: send 'Content-Type: application/json'",
                code="unsupported_media_type",
            )


def _authorized(request: Request, keys: list[bytes]) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    given = token.strip().encode()
    ok = False
    for key in keys:  # compare against every key: time does not tell which matched
        ok |= hmac.compare_digest(given, key)
    return scheme.lower() == "bearer" and ok


def _install_guards(app: FastAPI, state: State, ui: bool = False) -> None:
    app.add_middleware(_Guard, state=state, open_routes=OPEN_ROUTES + (("/",) if ui else ()))


class _Guard:
    """Host, content type and API key, checked before a route runs. A plain ASGI middleware:
    Starlette's BaseHTTPMiddleware would hide a client's disconnect from the route until the
    answer is sent, and dropping the work of a client that left depends on seeing it."""

    def __init__(self, app: Any, state: State, open_routes: tuple[str, ...] = OPEN_ROUTES) -> None:
        self.app, self.state, self.open_routes = app, state, open_routes
        self.keys = [k.encode() for k in state.config.api_keys]
        self.hosts = allowed_hosts(state.config)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        try:
            _guard(request, self.state.config, self.hosts)
            if self.keys and request.url.path not in self.open_routes:
                if not _authorized(request, self.keys):
                    raise ApiError(
                        401,
                        "missing or invalid API key: send 'Authorization: Bearer KEY'",
                        code="invalid_api_key",
                        headers={"WWW-Authenticate": "Bearer"},
                    )
        except ApiError as e:
            self.state.metrics.request(request.url.path, e.status, e.code or e.type)
            return await _error_response(e)(scope, receive, send)
        return await self.app(scope, receive, send)
