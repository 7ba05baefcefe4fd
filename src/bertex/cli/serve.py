"""`bertex serve`: the HTTP service (needs the `server` extra: FastAPI, uvicorn).

Everything that can be wrong with the command line (a port out of range, a host that does not
resolve, a port in use, a missing key file, an empty key set, a limit no request could meet)
is found before the model loads or the server starts, and ends in one line naming the option.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path
from typing import Any

from ..config import LoadOptions, default_of
from ..errors import ExtraMissingError, OptionError
from . import common


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="serve embeddings over HTTP (OpenAI-compatible and more)",
        description="Options default to BERTEX_* environment variables (BERTEX_PORT, ...).",
    )
    p.add_argument(
        "model",
        nargs="?",
        default=None,
        help=f"default: $BERTEX_MODEL or {default_of(LoadOptions, 'model')}",
    )
    p.add_argument("--host", default=None, help="default 127.0.0.1 (loopback)")
    p.add_argument("--port", type=int, default=None, help="default 8080")
    common.add_backend(p)
    p.add_argument("--api-key", action="append", help="require 'Authorization: Bearer KEY'")
    p.add_argument("--api-key-file", type=Path, help="a file of keys, one per line")
    p.add_argument(
        "--allowed-hosts",
        type=lambda s: tuple(h.strip() for h in s.split(",")),
        help="Host headers to answer, comma-separated (default without a key: the bound address)",
    )
    p.add_argument("--max-batch-tokens", type=int, help="tokens of one pass across requests")
    p.add_argument("--batch-tokens", type=int, dest="old_batch_tokens", help=argparse.SUPPRESS)
    p.add_argument("--max-queue", type=int, help="texts waiting before 429")
    p.add_argument("--max-inputs", type=int, help="texts per request")
    p.add_argument("--max-chars", type=int, help="characters per text")
    p.add_argument("--max-body-bytes", type=int)
    p.add_argument("--max-output-floats", type=int, help="numbers in one answer (413 past it)")
    p.add_argument("--deadline", type=float, dest="deadline_s", help="seconds per request")
    p.add_argument("--body-timeout", type=float, dest="body_timeout_s", help="seconds per body")
    p.add_argument(
        "--shutdown-timeout", type=float, dest="shutdown_timeout_s", help="seconds on SIGTERM"
    )
    p.add_argument("--batch-wait-ms", type=float)
    p.add_argument("--max-batch-requests", type=int, help="requests per pass (1: no batching)")
    p.add_argument("--log-level", default="warning")
    p.add_argument("--index", help="serve POST /v1/search over this index (bertex index build)")
    p.add_argument(
        "--head",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="serve POST /v1/classify, /v1/tag or /v1/answer with this head: a head file "
        "(bertex train) or a task model folder (classification, tagging, QA); repeatable",
    )
    p.add_argument("--rerank", metavar="DIR", help="serve POST /rerank with this cross-encoder")
    p.add_argument("--ui", action="store_true", help="also serve the explorer page at /")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError:
        raise ExtraMissingError("server", "fastapi/uvicorn", "bertex serve") from None
    import bertex

    from ..server.app import allowed_hosts, create_app, is_loopback
    from ..server.config import ServerConfig

    config = ServerConfig.from_env(**_overrides(args))
    load = common.load_options(args)
    sock = bind(config.host, config.port)  # before the model loads: a bad address fails fast
    model = bertex.load(
        load.model,
        backend=load.backend,
        precision=load.precision,
        device=load.device,
        forward_timeout=load.forward_timeout,
    )
    from ..server.heads import install_heads, load_heads

    heads = load_heads(args.head, model)  # a head made for another model: one line, exit 2
    reranker = _reranker(args.rerank)
    app = create_app(model, config, ui=args.ui)  # refuses limits the model could never meet
    index = None
    if args.index:
        from ..index import Index
        from ..server.routes import install_search

        index = Index.open(args.index, model=model)
        install_search(app, app.state.bertex, index)
    else:
        from ..server.routes import install_no_search

        install_no_search(app)
    if heads:
        install_heads(app, app.state.bertex, heads)
    _install_tasks(app, heads, index, reranker, args.rerank)
    b = model.backend
    url = f"http://{_url_host(config.host)}:{config.port}"
    workers = f"{b.workers} worker{'' if b.workers == 1 else 's'}"
    print(f"listening on {url} ({model.info.name}, {b.name} on {b.device}, {workers})")
    for line in _warnings(config, url, allowed_hosts(config), is_loopback(config.host)):
        print(line, file=sys.stderr)
    sys.stdout.flush()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level=args.log_level,
            access_log=False,
            timeout_graceful_shutdown=max(1, round(config.shutdown_timeout_s)),
        )
    )
    server.run(sockets=[sock])
    return 0


def _reranker(path: str | None) -> Any:
    if path is None:
        return None
    from ..tasks import Classifier
    from ..tasks.folder import read

    return Classifier(read(path, "classify"))


def _install_tasks(app: Any, heads: dict[str, Any], index: Any, reranker: Any, name: Any) -> None:
    from ..server.tasks import install_answer, install_rerank

    if any(h.task == "qa" for h in heads.values()):
        install_answer(app, app.state.bertex, heads, index)
    if reranker is not None:
        install_rerank(app, app.state.bertex, reranker, name)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    from ..server.config import flag_names, read_keys

    overrides = {k: getattr(args, k, None) for k in flag_names()}
    if args.old_batch_tokens is not None:
        print(
            "warning: serve --batch-tokens is now --max-batch-tokens (the token budget of one "
            "pass across requests; BERTEX_BATCH_TOKENS is the per-forward-pass budget)",
            file=sys.stderr,
        )
        overrides["max_batch_tokens"] = overrides["max_batch_tokens"] or args.old_batch_tokens
    if args.api_key is not None or args.api_key_file is not None:  # given, even if empty
        keys = tuple(args.api_key or ())
        if args.api_key_file is not None:
            keys += read_keys(args.api_key_file)
        overrides["api_keys"] = keys
    return overrides


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or one line naming what is wrong."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as uvicorn chooses
    try:
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as e:
        raise OptionError(
            "host", host, ["an IP address or a name that resolves"], f"{e} (--host, BERTEX_HOST)"
        ) from None
    _, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        raise OptionError(
            "port", port, ["a free port"], f"{host}:{port}: {e.strerror} (--port, BERTEX_PORT)"
        ) from None
    sock.set_inheritable(True)
    return sock


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _warnings(config: Any, url: str, hosts: Any, loopback: bool) -> list[str]:
    if config.api_keys:
        return []
    if loopback:
        return [
            f"warning: no API key: any program on this machine can use {url} "
            "(set --api-key or --api-key-file)"
        ]
    lines = [
        f"WARNING: serving on {config.host} WITHOUT AN API KEY: anyone who can reach {url} "
        "can use this server. Set --api-key or --api-key-file, or bind to 127.0.0.1."
    ]
    if hosts is None:
        lines.append(
            "WARNING: any Host header is answered; set --allowed-hosts to the names clients use"
        )
    return lines
