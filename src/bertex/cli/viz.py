"""`bertex viz attention`: attention maps as one self-contained HTML page or a PNG."""

from __future__ import annotations

import argparse
from collections.abc import Callable
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
    m = views.add_parser("map", help="a 2-D projection of stored sentence vectors")
    m.add_argument(
        "--input",
        required=True,
        type=Path,
        help="a bertex output file (parquet, ...) or a search index folder",
    )
    m.add_argument("--color-by", help="a field kept with `bertex embed --keep-field`")
    m.add_argument("--method", choices=("pca", "tsne", "umap"), default="pca")
    m.add_argument("--max-points", type=int, default=5000, help="sample above this (default 5000)")
    m.add_argument("--seed", type=int, default=0, help="the sample's and t-SNE's seed (default 0)")
    m.add_argument("--out", required=True, type=Path, help="map.html or map.png")
    m.set_defaults(run=run_map)


def _check_suffix(out: Path) -> None:
    """Before a model is loaded: the suffix picks the format; name the valid ones."""
    if out.suffix.lower() not in (".html", ".png"):
        raise OptionError("--out", str(out), (".html", ".png"), "the suffix picks the format")


def _write(out: Path, html: Callable[[], str], png: Callable[[Path], None]) -> None:
    if out.suffix.lower() == ".html":
        out.write_text(html(), encoding="utf-8")
    else:
        png(out)


def run_attention(args: argparse.Namespace) -> int:
    import bertex
    from bertex.viz import attention_view
    from bertex.viz.render import attention_html, attention_png

    _check_suffix(args.out)
    view = attention_view(bertex.load(args.model), args.text, args.pair, long=args.long)
    _write(
        args.out,
        lambda: attention_html(view),
        lambda out: attention_png(view, out, layer=args.layer, head=args.head),
    )
    print(f"{args.out}: {view.layers} layers x {view.heads} heads, {view.window}")
    return 0


def run_layers(args: argparse.Namespace) -> int:
    import bertex
    from bertex.viz import layer_view
    from bertex.viz.render import layers_html, layers_png

    _check_suffix(args.out)
    view = layer_view(bertex.load(args.model), args.text, args.text2)
    _write(args.out, lambda: layers_html(view), lambda out: layers_png(view, out))
    print(f"{args.out}: {view.drift.shape[0] - 1} layers, {len(view.tokens)} tokens")
    return 0


def run_map(args: argparse.Namespace) -> int:
    from bertex.viz.projection import map_view
    from bertex.viz.render import map_html, map_png

    _check_suffix(args.out)
    view = map_view(args.input, args.color_by, args.method, args.max_points, args.seed)
    _write(args.out, lambda: map_html(view), lambda out: map_png(view, out))
    print(f"{args.out}: {view.note}")
    return 0
