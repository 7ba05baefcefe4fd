"""What made an index's vectors, and whether another set of vectors is comparable with them.

Two vectors are comparable when the same weights computed them with the same layers, layer
combination, pooling, normalization and truncation. The level may differ: a passage index built
at level="window" (one pooled vector per window) is searched with sentence-level query vectors
pooled the same way.

>>> p = Provenance("m", "ab" * 32, "sentence", (6,), "concat", "mean", True, None, 384)
>>> q = Provenance("m", "cd" * 32, "sentence", (6,), "concat", "cls", True, None, 384)
>>> p.differences(q)
["model: 'm' vs 'm'", "weights_sha256: 'abababab…' vs 'cdcdcdcd…'", "pooling: 'mean' vs 'cls'"]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import IndexMismatchError

# The model's name is not compared: the same weights under another name (a path, the embedded
# name) give the same vectors. It is named in the message when the weights differ.
COMPARED = ("weights_sha256", "layers", "combine", "pooling", "normalize", "dimensions")


@dataclass(frozen=True)
class Provenance:
    model: str
    weights_sha256: str
    level: str
    layers: tuple[int, ...]
    combine: str
    pooling: str | None
    normalize: bool
    dimensions: int | None
    dim: int  # the width of one stored vector

    @classmethod
    def of_meta(cls, meta: Any, dim: int) -> Provenance:
        """From a result's Meta (or the dict form a bertex output file carries)."""
        m = meta if isinstance(meta, dict) else meta.to_dict()
        return cls(
            str(m["model"]),
            str(m["weights_sha256"]),
            str(m["level"]),
            tuple(int(x) for x in m["layers"]),
            str(m.get("combine", "concat")),
            m.get("pooling"),
            bool(m["normalize"]),
            m.get("dimensions"),
            int(dim),
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Provenance:
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["layers"] = tuple(kw["layers"])
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["layers"] = list(self.layers)
        return d

    def embed_options(self) -> dict[str, Any]:
        """The options that give a query vector comparable with the stored ones."""
        return {
            "level": "sentence",
            "layers": list(self.layers),
            "combine": self.combine,
            "pooling": self.pooling,
            "normalize": self.normalize,
            "dimensions": self.dimensions,
        }

    def differences(self, other: Provenance) -> list[str]:
        out = (
            [f"model: {self.model!r} vs {other.model!r}"]
            if (self.weights_sha256 != other.weights_sha256)
            else []
        )
        out += [
            f"{name}: {_short(getattr(self, name))} vs {_short(getattr(other, name))}"
            for name in COMPARED
            if getattr(self, name) != getattr(other, name)
        ]
        if self.dim != other.dim:
            out.append(f"dimension: {self.dim} vs {other.dim}")
        return out

    def check(self, other: Provenance, what: str) -> None:
        """Raise IndexMismatchError naming every difference (index first, `what` second)."""
        diff = self.differences(other)
        if diff:
            raise IndexMismatchError(
                f"{what} are not comparable with this index's vectors ({'; '.join(diff)}; "
                "index first). Use the index's model and options, or build a new index"
            )


def _short(v: Any) -> str:
    if isinstance(v, str) and len(v) == 64:
        return repr(v[:8] + "…")
    return repr(v)
