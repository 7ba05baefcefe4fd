"""`bertex serve`: the HTTP service (needs the `server` extra: FastAPI, uvicorn)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import ExtraMissingError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="serve embeddings over HTTP (OpenAI-compatible and more)",
        description="Options default to BERTEX_* environment variables.",
    )
    p.add_argument(
        "model",
        nargs="?",
        default=None,
        help="default: $BERTEX_MODEL or the embedded all-MiniLM-L6-v2",
    )
    p.add_argument("--host", default=None, help="default 127.0.0.1 (loopback)")
    p.add_argument("--port", type=int, default=None, help="default 8080")
    p.add_argument("--backend", choices=("torch", "onnx"), default="torch")
    p.add_argument("--precision", choices=("fp32", "bf16", "int8"), default="fp32")
    p.add_argument("--api-key", action="append", help="require 'Authorization: Bearer KEY'")
    p.add_argument("--api-key-file", type=Path, help="a file of keys, one per line")
    p.add_argument("--batch-tokens", type=int)
    p.add_argument("--max-queue", type=int, help="texts waiting before 429")
    p.add_argument("--max-inputs", type=int, help="texts per request")
    p.add_argument("--max-chars", type=int, help="characters per text")
    p.add_argument("--max-body-bytes", type=int)
    p.add_argument("--deadline", type=float, dest="deadline_s", help="seconds per request")
    p.add_argument("--batch-wait-ms", type=float)
    p.add_argument("--max-batch-requests", type=int, help="requests per forward pass (1: none)")
    p.add_argument("--log-level", default="warning")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError:
        raise ExtraMissingError("server", "fastapi/uvicorn", "bertex serve") from None
    import bertex

    from ..server.app import create_app
    from ..server.config import ServerConfig, flag_names, read_keys

    keys = tuple(args.api_key or ())
    if args.api_key_file is not None:
        keys += read_keys(args.api_key_file)
    overrides = {k: getattr(args, k) for k in flag_names()}
    if keys:
        overrides["api_keys"] = keys
    config = ServerConfig.from_env(**overrides)
    model = bertex.load(config.model, backend=args.backend, precision=args.precision)
    app = create_app(model, config)  # refuses limits that could never be satisfied
    uvicorn.run(app, host=config.host, port=config.port, log_level=args.log_level, access_log=False)
    return 0
