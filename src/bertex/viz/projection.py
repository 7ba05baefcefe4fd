"""The data behind the map view: a 2-D projection of stored sentence vectors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import ExtraMissingError, InputError, OptionError

Method = Literal["pca", "tsne", "umap"]
METHODS: tuple[str, ...] = ("pca", "tsne", "umap")


@dataclass(frozen=True)
class MapView:
    xy: np.ndarray  # (N, 2)
    ids: list[str]
    texts: list[str]
    colors: list[str]  # the --color-by value of each point, as text ("" without a field)
    color_by: str | None
    method: str
    note: str  # what was drawn: the count, and the sample (seed) when sampled

    def to_dict(self) -> dict[str, Any]:
        return {
            "xy": np.round(self.xy.astype(np.float64), 5).tolist(),
            "ids": self.ids,
            "texts": self.texts,
            "colors": self.colors,
            "color_by": self.color_by,
            "method": self.method,
            "note": self.note,
        }


def map_view(
    path: Path | str,
    color_by: str | None = None,
    method: str = "pca",
    max_points: int = 5000,
    seed: int = 0,
) -> MapView:
    """Read a sentence-level output file (or an embedded search index folder) and project it;
    more than `max_points` rows are sampled (without replacement, numpy seed `seed`) and the
    note says so."""
    from ..sinks.read import read

    if method not in METHODS:
        raise OptionError("method", method, METHODS)
    stored: Any = _index_rows(Path(path)) if _is_index(path) else read(path)
    vectors = np.asarray(stored.vectors, dtype=np.float64)
    if vectors.ndim != 2:
        raise InputError(f"{path}: the map needs one vector per row (sentence level)")
    if color_by is not None and color_by not in stored.fields:
        raise OptionError("--color-by", color_by, sorted(stored.fields), f"fields of {path}")
    n = len(vectors)
    if n < 3:
        raise InputError(f"{path}: {n} vectors; a projection needs at least 3")
    rows = np.arange(n)
    note = f"{n} points"
    if n > max_points:
        rows = np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
        note = f"{max_points} of {n} points, sampled with seed {seed}"
    texts = stored.texts or [""] * n
    field = stored.fields.get(color_by, [""] * n) if color_by else [""] * n
    return MapView(
        xy=project(vectors[rows], method, seed),
        ids=[str(stored.ids[i]) for i in rows],
        texts=[str(texts[i]) for i in rows],
        colors=[str(field[i]) for i in rows],
        color_by=color_by,
        method=method,
        note=f"{note}, {method}",
    )


def _is_index(path: Path | str) -> bool:
    return Path(path).is_dir() and (Path(path) / "manifest.json").is_file()


@dataclass(frozen=True)
class _IndexRows:
    """An index's rows as the map reads them (the fields of bertex.read's Stored it uses)."""

    vectors: np.ndarray  # (N, D) unit vectors
    ids: list[Any]
    texts: list[str]
    fields: dict[str, list[Any]]


def _index_rows(path: Path) -> _IndexRows:
    """Every row of an embedded index (one per document, or per piece when it was split)."""
    from ..index import Index

    table = Index.open(path).store.read_table()  # columns: id, text, vector, f:<field>, ...
    prefix = "f:"
    return _IndexRows(
        vectors=np.asarray(table.column("vector").to_pylist(), dtype=np.float64).reshape(
            table.num_rows, -1
        ),
        ids=table.column("id").to_pylist(),
        texts=[t or "" for t in table.column("text").to_pylist()],
        fields={
            name[len(prefix) :]: table.column(name).to_pylist()
            for name in table.column_names
            if name.startswith(prefix)
        },
    )


def project(x: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    """(N, D) -> (N, 2)."""
    if method == "pca":
        centred = x - x.mean(axis=0)  # (N, D)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)  # vt: (min(N, D), D)
        return centred @ vt[:2].T  # (N, 2)
    if method == "tsne":
        from sklearn.manifold import TSNE  # type: ignore[import-untyped]

        perplexity = float(min(30, max(1, (len(x) - 1) // 3)))
        return TSNE(2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(x)
    try:
        import umap  # type: ignore[import-not-found]
    except ImportError as e:
        raise ExtraMissingError("umap", "umap-learn", "method='umap'") from e
    return np.asarray(umap.UMAP(n_components=2, random_state=seed).fit_transform(x))
