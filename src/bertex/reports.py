"""A columnar table of per-input reports: one array per InputReport field, an InputReport made
only when one is read. The columnar sentence path (columnar.py) builds one per call; sinks and
summaries read its columns whole, so 10,000 inputs cost a few array operations, not 10,000
objects.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np

from .types import InputReport

FIELDS = (
    "index",
    "n_tokens",
    "n_windows",
    "truncated",
    "unk_count",
    "unk_chars",
    "n_chars",
    "seen_tokens",
)


# the code points str.isspace() (and so str.split()) calls whitespace (Unicode 15; a test
# holds this list to the running Python's), and a lookup table over every code point
SPACES = (
    *range(0x09, 0x0E), *range(0x1C, 0x21), 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
    0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
)  # fmt: skip
_IS_SPACE = np.zeros(0x110000, dtype=bool)
_IS_SPACE[list(SPACES)] = True


def count_chars(texts: Sequence[str]) -> np.ndarray:
    """Non-whitespace characters of each text, as len("".join(t.split())) counts them, for
    all texts at once: one UTF-32 array of code points, whitespace found by lookup.

    >>> count_chars(["a b", "  ", "héllo\\tworld", "", "x\u3000y"]).tolist()
    [2, 0, 10, 0, 2]
    """
    lengths = np.fromiter(map(len, texts), np.int64, len(texts))  # (N,)
    points = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), np.uint32)
    solid = np.concatenate([[0], np.cumsum(~_IS_SPACE[points])])  # (C + 1,)
    ends = np.cumsum(lengths)  # (N,)
    return solid[ends] - solid[ends - lengths]


class ReportTable(Sequence[InputReport]):
    """InputReports as columns (each (N,)). `n_chars` may be given as the texts it is counted
    from: it is counted on first read (a sink that never reads it never pays for it).

    >>> t = ReportTable(index=[0, 1], n_tokens=[5, 9], n_windows=[1, 2], truncated=[0, 0],
    ...                 unk_count=[0, 1], unk_chars=[0, 2], n_chars=["ab c", "xyz"],
    ...                 seen_tokens=[5, 12])
    >>> t[1]
    InputReport(index=1, n_tokens=9, n_windows=2, truncated=False, unk_count=1, unk_chars=2, n_chars=3, seen_tokens=12)
    >>> t.column("n_chars").tolist(), len(t), t == tuple(t)
    ([3, 3], 2, True)
    """  # noqa: E501

    def __init__(self, **columns: Any) -> None:
        missing = [f for f in FIELDS if f not in columns]
        if missing:
            raise TypeError(f"ReportTable needs the columns {missing}")
        self._texts: Sequence[str] | None = None
        cols: dict[str, np.ndarray] = {}
        for name in FIELDS:
            value = columns[name]
            if name == "n_chars" and len(value) and isinstance(value[0], str):
                self._texts = value  # counted on first read
                continue
            cols[name] = np.asarray(value, dtype=bool if name == "truncated" else np.int64)
        self._cols = cols
        self._n = len(columns["index"])

    def column(self, name: str) -> np.ndarray:
        """One field for every input, (N,)."""
        if name == "n_chars" and name not in self._cols:
            assert self._texts is not None
            self._cols[name] = count_chars(self._texts)
            self._texts = None
        return self._cols[name]

    def columns(self) -> dict[str, np.ndarray]:
        """Every field, plus the derived `windowed` and `unk_rate`, as InputReport.to_dict()
        names them."""
        out = {name: self.column(name) for name in FIELDS}
        out["windowed"] = out["n_windows"] > 1
        n_chars = out["n_chars"]
        rate = np.divide(out["unk_chars"], n_chars, out=np.zeros(self._n), where=n_chars > 0)
        out["unk_rate"] = np.round(rate, 6)
        return out

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> InputReport: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[InputReport, ...]: ...

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return tuple(self[k] for k in range(*i.indices(self._n)))
        if not -self._n <= i < self._n:
            raise IndexError(f"report {i} of {self._n}")
        i = i % self._n if self._n else i
        values = [self.column(name)[i].item() for name in FIELDS]
        return InputReport(*values)

    def __iter__(self) -> Iterator[InputReport]:
        return (self[i] for i in range(self._n))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (ReportTable, tuple, list)):
            return tuple(self) == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<ReportTable of {self._n} inputs>"

    def take(self, rows: Sequence[int] | np.ndarray) -> ReportTable:
        """The reports at `rows`, (n,), as a new table."""
        rows = np.asarray(rows, dtype=np.int64)
        return ReportTable(**{name: self.column(name)[rows] for name in FIELDS})

    def reindexed(self, indices: Sequence[int]) -> ReportTable:
        """The same reports naming the caller's indices (after inputs were left out)."""
        cols = {name: self.column(name) for name in FIELDS}
        cols["index"] = np.asarray(indices, dtype=np.int64)
        return ReportTable(**cols)

    @staticmethod
    def concat(tables: Sequence[ReportTable]) -> ReportTable:
        """Tables end to end; n_chars stays uncounted where every table's is."""
        cols: dict[str, Any] = {}
        for name in FIELDS:
            if name == "n_chars" and all(t._texts is not None for t in tables) and tables:
                cols[name] = [x for t in tables for x in t._texts]  # type: ignore[union-attr]
            else:
                cols[name] = np.concatenate([t.column(name) for t in tables])
        return ReportTable(**cols)


def report_columns(reports: Sequence[InputReport]) -> dict[str, np.ndarray]:
    """Columns of any sequence of reports: a ReportTable's own, or gathered from objects."""
    if isinstance(reports, ReportTable):
        return reports.columns()
    dicts = [r.to_dict() for r in reports]
    keys = InputReport(0, 0, 0, False, 0, 0, 0).to_dict()
    return {k: np.asarray([d[k] for d in dicts], dtype=type(v)) for k, v in keys.items()}
