"""PNG views of the analysis results (matplotlib, Agg backend, imported only when drawing)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExtraMissingError


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - the extra installs it
        raise ExtraMissingError("analysis", "matplotlib", "--plot") from e
    return plt


def heatmap(
    grid: np.ndarray, rows: Sequence[str], cols: Sequence[int], title: str, path: str | Path
) -> None:
    """A (rows x layers) grid of scores, each cell labelled, the best one boxed."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * len(cols), 1.0 + 0.5 * len(rows)))
    im = ax.imshow(grid, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(cols)), [str(c) for c in cols])
    ax.set_yticks(range(len(rows)), list(rows))
    ax.set_xlabel("layer (0 = embedding output)")
    best = np.unravel_index(int(np.nanargmax(grid)), grid.shape)
    for (i, j), v in np.ndenumerate(grid):
        ax.text(
            j,
            i,
            f"{v:.1f}",
            ha="center",
            va="center",
            fontsize=7,
            color="black" if (i, j) == best else "white",
            bbox={"facecolor": "white"} if (i, j) == best else None,
        )
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def curves(
    layers: Sequence[int],
    lines: Mapping[str, Sequence[float]],
    ylabel: str,
    title: str,
    path: str | Path,
) -> None:
    """Layer on x, score on y, one line per name (model, control, baseline)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, ys in lines.items():
        style = "--" if "baseline" in name else "-"
        ax.plot(list(layers), list(ys), style, marker="o" if style == "-" else None, label=name)
    ax.set_xlabel("layer (0 = embedding output)")
    ax.set_ylabel(ylabel)
    ax.set_xticks(list(layers))
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
