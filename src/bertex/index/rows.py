"""The typed things an index stores and returns, and the exact top-k that both stores share.

A row is one vector: a whole document, or one piece of it (a sentence or a window) when the
index was built with split=. `id` names the document, so several rows may share it; a search
returns each document once, at its best-scoring piece, with that piece's character span.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class Rows:
    """Rows to add. vectors (N, D) float32; spans (N, 2) character [start, end) into the text."""

    ids: list[str]
    texts: list[str | None]
    vectors: np.ndarray  # (N, D)
    spans: np.ndarray  # (N, 2) int64
    fields: dict[str, list[Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, keep: list[int]) -> Rows:
        return Rows(
            [self.ids[i] for i in keep],
            [self.texts[i] for i in keep],
            self.vectors[keep],
            self.spans[keep],
            {k: [v[i] for i in keep] for k, v in self.fields.items()},
        )


def with_nul(rows: Rows) -> list[int]:
    """The rows holding a NUL character (in the text or a field), which PostgreSQL's text and
    jsonb cannot store."""
    return [
        i
        for i in range(len(rows))
        if "\x00" in (rows.texts[i] or "")
        or any(isinstance(v[i], str) and "\x00" in v[i] for v in rows.fields.values())
    ]


@dataclass(frozen=True, eq=False)
class Hits:
    """One query's answer, best first: documents, cosine scores (k,), and the matched span."""

    ids: list[str]
    scores: np.ndarray  # (k,) float32 cosine similarity
    texts: list[str | None]
    fields: list[dict[str, Any]]
    spans: list[tuple[int, int]]

    def __len__(self) -> int:
        return len(self.ids)

    def to_dicts(self) -> list[dict[str, Any]]:
        """JSON-ready records, one per hit (the CLI's and the server's form)."""
        return [
            {
                "rank": r + 1,
                "id": self.ids[r],
                "score": round(float(self.scores[r]), 6),
                "text": self.texts[r],
                "span": list(self.spans[r]),
                "fields": self.fields[r],
            }
            for r in range(len(self.ids))
        ]


def unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (a zero row stays zero): cosine is then a dot product. (N, D)"""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)  # (N, 1)
    return v / np.where(norms == 0, 1, norms)


def best_per_id(scores: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k best rows, one per distinct id (its best row), best first; ties keep
    the lower position.

    >>> best_per_id(np.array([0.1, 0.9, 0.8, 0.5]), np.array(["a", "b", "b", "c"]), 2)
    array([1, 3])
    """
    order = np.argsort(-scores, kind="stable")  # (N,)
    _, first = np.unique(ids[order], return_index=True)
    return order[np.sort(first)[:k]]
