"""`bertex viz attention`: attention maps as one self-contained HTML page or a PNG."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import OptionError
from . import common


def add_parser(sub: Any) -> None:
    p = sub.add_parser("viz", help="see inside the model: attention maps as HTML or PNG")
    views = p.add_subparsers(dest="view", required=True, parser_class=type(p))
    a = views.add_parser("attention", help="attention head view and model view of one text")
    a.add_argument("text")
    a.add_argument("--pair", help="a second text (a sentence pair)")
    a.add_argument("--out", required=True, type=Path, help="attention.html or attention.png")
    a.add_argument("--layer", type=int, help="PNG: layer from 1 (default: the last)")
    a.add_argument("--head", type=int, default=1, help="PNG: head from 1 (default: 1)")
    a.add_argument(
        "--long",
        choices=("error", "truncate"),
        default="error",
        help="a text longer than one window: refuse (default) or show the first window",
    )
    common.add_model(a)
    a.set_defaults(run=run_attention)
    y = views.add_parser("layers", help="token vectors across layers; a pair's similarity")
    y.add_argument("text")
    y.add_argument("text2", nargs="?", help="a second text: sentence similarity per layer")
    y.add_argument("--out", required=True, type=Path, help="layers.html or layers.png")
    common.add_model(y)
    y.set_defaults(run=run_layers)


def _format(out: Path) -> str:
    suffix = out.suffix.lower()
    if suffix not in (".html", ".png"):
        raise OptionError("--out", str(out), (".html", ".png"), "the suffix picks the format")
    return suffix[1:]


def run_attention(args: argparse.Namespace) -> int:
    import bertex
    from bertex.viz import attention_view
    from bertex.viz.render import attention_html, attention_png

    fmt = _format(args.out)
    view = attention_view(bertex.load(args.model), args.text, args.pair, long=args.long)
    if fmt == "html":
        args.out.write_text(attention_html(view), encoding="utf-8")
    else:
        attention_png(view, args.out, layer=args.layer, head=args.head)
    print(f"{args.out}: {view.layers} layers x {view.heads} heads, {view.window}")
    return 0


def run_layers(args: argparse.Namespace) -> int:
    import bertex
    from bertex.viz import layer_view
    from bertex.viz.render import layers_html, layers_png

    fmt = _format(args.out)
    view = layer_view(bertex.load(args.model), args.text, args.text2)
    if fmt == "html":
        args.out.write_text(layers_html(view), encoding="utf-8")
    else:
        layers_png(view, args.out)
    print(f"{args.out}: {view.drift.shape[0] - 1} layers, {len(view.tokens)} tokens")
    return 0
