"""Render views: one self-contained HTML file (data inline as JSON) or a matplotlib PNG."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExtraMissingError, OptionError
from .data import AttentionView
from .layers import LayerView
from .projection import MapView

_HEAD = (
    '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{title}</title>\n'
)


def page(template: str, data: dict[str, Any]) -> str:
    """One self-contained page: the shared CSS, the view's template, `data` inline as JSON
    (`</` escaped so no text can close the script tag)."""
    body = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    prelude = (
        f'<script id="data" type="application/json">{body}</script>\n'
        f"<script>\n{_static('base.js')}</script>"
    )
    view = _static(template).replace("__BERTEX_PRELUDE__", prelude)
    head = _HEAD.format(title=f"bertex {template.removesuffix('.html')}")
    return (
        f"{head}<style>\n{_static('base.css')}</style>\n</head>\n<body>\n{view}</body>\n</html>\n"
    )


def _static(name: str) -> str:
    return resources.files("bertex.viz").joinpath("static", name).read_text("utf-8")


def attention_html(view: AttentionView) -> str:
    return page("attention.html", view.to_dict())


def layers_html(view: LayerView) -> str:
    return page("layers.html", view.to_dict())


def layers_png(view: LayerView, path: Path) -> None:
    """Token drift (layers x tokens), last-layer token similarity, and the pair's curves."""
    plt = _pyplot()
    panels = 3 if view.sentence_sim else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 5), dpi=100)
    n = len(view.tokens)
    im = axes[0].imshow(view.drift, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    axes[0].set_xticks(range(n), view.tokens, rotation=90, fontsize=8)
    axes[0].set_ylabel("layer (0 = embeddings)")
    axes[0].set_title("cosine to the token's input vector", fontsize=9)
    fig.colorbar(im, ax=axes[0], fraction=0.046)
    axes[1].imshow(view.token_sim[-1], cmap="Blues", vmin=0, vmax=1)
    axes[1].set_xticks(range(n), view.tokens, rotation=90, fontsize=8)
    axes[1].set_yticks(range(n), view.tokens, fontsize=8)
    axes[1].set_title("token to token, last layer", fontsize=9)
    for pooling, values in view.sentence_sim.items():
        axes[2].plot(range(len(values)), values, marker="o", label=pooling)
    if view.sentence_sim:
        axes[2].set_xlabel("layer")
        axes[2].set_title("sentence similarity of the pair", fontsize=9)
        axes[2].legend(fontsize=8)
    fig.suptitle(view.model, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def map_html(view: MapView) -> str:
    return page("map.html", view.to_dict())


def map_png(view: MapView, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 6), dpi=100)
    for value in dict.fromkeys(view.colors):  # one scatter per value: a legend entry each
        rows = [i for i, c in enumerate(view.colors) if c == value]
        ax.scatter(view.xy[rows, 0], view.xy[rows, 1], s=18, label=value or None)
    if view.color_by:
        ax.legend(title=view.color_by, fontsize=8)
    ax.set_title(view.note, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def attention_png(view: AttentionView, path: Path, layer: int | None = None, head: int = 1) -> None:
    """One map as a heatmap with token labels; layer and head count from 1 (layer None: last)."""
    layer = view.layers if layer is None else layer
    _check_index("layer", layer, view.layers)
    _check_index("head", head, view.heads)
    plt = _pyplot()
    m = view.maps[layer - 1, head - 1]  # (T, T): row i attends to column j
    labels = [f"*{t}*" if u else t for t, u in zip(view.tokens, view.unk)]
    n = len(labels)
    size = min(12.0, 2.5 + 0.28 * n)
    fig, ax = plt.subplots(figsize=(size, size), dpi=100)
    im = ax.imshow(m, cmap="Blues", vmin=0.0, vmax=float(np.max(m)) or 1.0)
    ax.set_xticks(range(n), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    ax.set_title(f"{view.model}: layer {layer}, head {head} ({view.window})", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _check_index(name: str, value: int, count: int) -> None:
    if not 1 <= value <= count:
        raise OptionError(name, value, range(1, count + 1), f"the model has {count} {name}s")


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as e:
        raise ExtraMissingError("viz", "matplotlib", "a PNG view") from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["font.sans-serif"] = ["DejaVu Sans", "WenQuanYi Micro Hei"]
    return plt
