"""`bertex info`: what a model is, before embedding anything with it."""

from __future__ import annotations

import argparse
from typing import Any

from . import common


def add_parser(sub: Any) -> None:
    p = sub.add_parser("info", help="architecture, layers, sizes, casing and default pooling")
    p.add_argument("model", nargs="?", default="all-MiniLM-L6-v2")
    p.add_argument("--format", choices=("human", "json"), default="human")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import bertex

    model = bertex.load(args.model)
    data = model.info.to_dict()
    data["weights_sha256"] = model.weights_sha256
    if args.format == "json":
        print(common.dumps(data))
        return 0
    width = max(len(k) for k in data)
    for key, value in data.items():
        print(f"{key:<{width}}  {value}")
    n = data["num_layers"]
    print(
        f"{'layers=':<{width}}  0 = embedding output, 1..{n} Transformer layers, -1 = layer {n}"
        f" (Google/bert-as-service count Transformer layers only: their -1 is our -1)"
    )
    return 0
