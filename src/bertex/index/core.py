"""`bertex.Index`: add texts (or vectors bertex already computed), search them by meaning.

>>> import bertex
>>> from bertex.fake import fake_model
>>> ix = bertex.Index.create(tmp / "ix", model=fake_model())        # doctest: +SKIP
>>> ix.add(["a cat", "a dog"], ids=["c", "d"], fields={"lang": ["en", "en"]})  # doctest: +SKIP
>>> ix.search("the cat", k=1).ids                                   # doctest: +SKIP
['c']

Duplicate ids: an add whose ids are already in the index is refused (DuplicateIdError) unless
replace=True, which replaces those documents in the same commit. Ids are strings (others are
converted with str()). A document may be split into pieces (split="sentence" or "window"): each
piece is a row, a search returns each document once, at its best piece, with that piece's span.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import (
    DuplicateIdError,
    IndexMismatchError,
    InputError,
    InvalidTextError,
    OptionError,
)
from . import pieces
from .embedded import EmbeddedStore
from .filters import parse
from .provenance import Provenance
from .rows import Rows, with_nul

Split = Literal["sentence", "window"]


@dataclass(frozen=True)
class Added:
    """What an add did: documents and rows added, and the inputs that could not be embedded
    (each InputError's .index is its position in the caller's list)."""

    documents: int
    rows: int
    errors: tuple[InputError, ...] = ()


class Index:
    """A search index over sentence vectors: embedded (a folder) or PostgreSQL (a URL)."""

    def __init__(self, store: Any, model: Any = None) -> None:
        self.store = store
        self._model = model
        if model is not None:
            self._check_model(model)

    # -- construction -----------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        model: Any = None,
        *,
        like: Any = None,
        wait: float | None = None,
        **options: Any,
    ) -> Index:
        """A new, empty index for `model` (a Model or a name for bertex.load) embedded with
        `options` (pooling=, layers=, normalize=, ...); or, with `like=` a bertex output read
        with bertex.read, for vectors made the way that output's were. `wait`: as open's."""
        if like is not None:
            if like.meta.get("level") != "sentence":
                raise OptionError(
                    "level of the output",
                    like.meta.get("level"),
                    ["sentence"],
                    "an index holds one vector per text: embed the corpus at level sentence",
                )
            prov = Provenance.of_meta(like.meta, _width(like.vectors))
            return cls(_create_store(path, prov, wait), model)
        model = _load(model)
        probe = model.embed(["provenance probe"], **{"level": "sentence", **options})
        prov = Provenance.of_meta(probe.meta, probe.vectors.shape[1])
        return cls(_create_store(path, prov, wait), model)

    @classmethod
    def open(cls, path: str | Path, model: Any = None, *, wait: float | None = None) -> Index:
        """An existing index. `model` embeds text queries; left out, the index's own model is
        loaded when a text is first embedded. `wait=SECONDS` (an embedded index): take its
        writer lock now, waiting up to SECONDS for another writer, and hold it until close,
        so this Index writes on exactly what it read; another writer still holding it then
        is an IndexBusyError. Without it each change locks for itself (no waiting), and one
        made after another process's commit is an IndexChangedError (open it again)."""
        return cls(_open_store(path, wait), model)

    @classmethod
    def repair(cls, path: str | Path, wait: float = 0.0) -> Index:
        """Rebuild an embedded index's graph and manifest from its readable Parquet segments
        (`.store.lost` says what could not be read back). A PostgreSQL index is kept whole by
        the server's write-ahead log: repair counts its rows and documents again (after
        writes by hand, or by a bertex from before the counts were kept)."""
        if str(path).startswith(("postgresql://", "postgres://")):
            from .postgres import PostgresStore

            return cls(PostgresStore.repair(str(path)))
        return cls(EmbeddedStore.repair(Path(path), wait))

    def close(self) -> None:
        """Release the store's connection (PostgreSQL); an embedded index saves its graph
        when rows were added since it was last saved (every add is committed when it returns;
        an index not closed opens with its graph caught up in memory)."""
        self.store.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.store.close(finish=exc[0] is None)  # an error or Ctrl-C: no deferred graph built

    # -- reading ----------------------------------------------------------------------------

    def __len__(self) -> int:
        """Documents in the index (a document split into pieces counts once)."""
        return self.store.n_documents()

    @property
    def provenance(self) -> Provenance:
        return self.store.provenance

    def info(self) -> dict[str, Any]:
        return {**self.store.info(), "split": self.split}

    @property
    def split(self) -> str | None:
        """How the first add split its documents ("sentence", "window" or "none"); None for an
        empty index or one from before bertex recorded it."""
        return self.store.manifest.get("split")

    def search(self, queries: Any, k: int = 10, where: Any = None) -> Any:
        """Texts (or query vectors (Q, D)) -> per query a Hits of at most k documents, best
        first (fewer when fewer match). One text gives one Hits; a list gives a list."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise OptionError("k", k, ["an integer >= 1"])
        conditions = parse(where)
        single = isinstance(queries, str)
        vectors = self._query_vectors([queries] if single else queries)
        hits = self.store.search(vectors, k, conditions)
        return hits[0] if single else hits

    def _query_vectors(self, queries: Any) -> np.ndarray:
        if isinstance(queries, np.ndarray):
            v = queries.reshape(1, -1) if queries.ndim == 1 else queries
            if v.ndim != 2 or v.shape[1] != self.provenance.dim:
                raise IndexMismatchError(
                    f"query vectors of shape {tuple(queries.shape)} have another dimension "
                    f"than this index's ({self.provenance.dim})"
                )
            return v.astype(np.float32)
        out = self.model.embed(list(queries), **self.provenance.embed_options())
        self._check_meta(out.meta, out.vectors, "the query vectors")
        return out.vectors

    # -- changing ---------------------------------------------------------------------------

    def add(
        self,
        items: Any,
        ids: Any = None,
        fields: Any = None,
        *,
        split: Split | None = None,
        replace: bool = False,
        on_error: str = "raise",
    ) -> Added:
        """Texts (embedded with the index's model) or a bertex output (bertex.read: its ids,
        texts, fields and vectors are reused; no embedding). See the module doc for ids."""
        if hasattr(items, "vectors") and hasattr(items, "meta"):
            rows = self._stored_rows(items, ids, fields)
            errors: tuple[InputError, ...] = ()
            if not self.store.holds_nul:  # a bertex output: refused whole, nothing added
                _storable(rows, rows.ids, "raise")
        else:
            texts = [items] if isinstance(items, str) else list(items)
            ids = _ids(ids, len(texts), self.store.next_key)
            made, errors = pieces.embed(
                self.model,
                self.provenance,
                texts,
                ids,
                _columns(fields, len(texts)),
                split,
                on_error,
            )
            if made.meta is not None:
                self._check_meta(made.meta, made.rows.vectors, "the model's vectors")
            rows = made.rows
            if not self.store.holds_nul:
                rows, unstorable = _storable(rows, ids, on_error)
                errors = (*errors, *unstorable)
        docs = list(dict.fromkeys(rows.ids))
        if len(rows) and not len(self):  # the first documents: how they were split, kept
            self.store.manifest["split"] = split or "none"
        present = self.store.has_ids(docs)
        if present and not replace:
            raise DuplicateIdError(
                f"{len(present)} ids are already in the index (first: {present[:3]}); remove "
                "them first, or add with replace=True (--replace) to replace those documents"
            )
        if len(rows):
            self.store.add(rows, present, may_replace=replace)
        return Added(len(docs), len(rows), errors)

    def remove(self, ids: Any) -> int:
        """Remove documents (every piece of each); returns how many were in the index."""
        ids = [str(i) for i in ([ids] if isinstance(ids, str) else ids)]
        present = self.store.has_ids(list(dict.fromkeys(ids)))
        if present:
            self.store.remove(present)
        return len(present)

    def _stored_rows(self, stored: Any, ids: Any, fields: Any) -> Rows:
        vectors = np.asarray(stored.vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise OptionError(
                "level of the vectors added",
                stored.meta.get("level"),
                ["sentence"],
                "an index holds one vector per text",
            )
        self._check_meta(stored.meta, vectors, "the added vectors")
        n = len(vectors)
        texts = list(stored.texts) if stored.texts is not None else [None] * n
        ids = [str(i) for i in (stored.ids if ids is None else ids)]
        _unique(ids)
        spans = np.array([[0, len(t or "")] for t in texts], np.int64).reshape(n, 2)
        cols = {**(stored.fields or {}), **_columns(fields, n)}
        return Rows(ids, texts, vectors, spans, cols)

    # -- the model --------------------------------------------------------------------------

    @property
    def model(self) -> Any:
        if self._model is None:
            from ..loader import load

            self._model = load(self.provenance.model)
            self._check_model(self._model)
        return self._model

    def check_options(self, **options: Any) -> None:
        """Raise IndexMismatchError, naming what differs, unless the index's model embedding
        with these options (pooling=, layers=, normalize=, ...) gives the index's vectors."""
        import warnings

        with warnings.catch_warnings():  # a probe: its warnings are not about the user's text
            warnings.simplefilter("ignore")
            probe = self.model.embed(["provenance probe"], **{**options, "level": "sentence"})
        self._check_meta(probe.meta, probe.vectors, "the vectors these options give")

    def _check_model(self, model: Any) -> None:
        prov = self.provenance
        if model.weights_sha256 != prov.weights_sha256:
            got = Provenance(
                model.info.name,
                model.weights_sha256,
                prov.level,
                prov.layers,
                prov.combine,
                prov.pooling,
                prov.normalize,
                prov.dimensions,
                prov.dim,
            )
            prov.check(got, f"the vectors of the model {model.info.name!r}")

    def _check_meta(self, meta: Any, vectors: np.ndarray, what: str) -> None:
        self.provenance.check(Provenance.of_meta(meta, _width(vectors)), what)


def _width(vectors: Any) -> int:
    v = np.asarray(vectors) if not isinstance(vectors, np.ndarray) else vectors
    return int(v.shape[-1])


def _load(model: Any) -> Any:
    if model is None or isinstance(model, str):
        from ..loader import load

        return load(model) if model else load()
    return model


def _ids(ids: Any, n: int, start: int) -> list[str]:
    out = [str(start + i) for i in range(n)] if ids is None else [str(i) for i in ids]
    if len(out) != n:
        raise OptionError("ids", f"{len(out)} ids", [f"{n} ids, one per text"])
    _unique(out)
    return out


def _unique(ids: list[str]) -> None:
    """Ids repeated within one add would hide a text, and an empty id names nothing: both are
    refused, naming the first."""
    first: dict[str, int] = {}
    for i, x in enumerate(ids):
        if not x.strip():
            raise InputError(
                f"id {x!r} is empty: no one could ask for this document by its id; give each "
                "document a non-empty id (or leave ids out to number them)",
                i,
            )
        if x in first:
            raise DuplicateIdError(
                f"id {x!r} is given twice in this add (positions {first[x]} and {i}); each "
                "document needs its own id (or leave ids out to number them)"
            )
        first[x] = i


def _columns(fields: Any, n: int) -> dict[str, list[Any]]:
    """Fields as columns: {name: [value per text]} or [{name: value} per text]."""
    if not fields:
        return {}
    if isinstance(fields, dict):
        cols = {str(k): list(v) for k, v in fields.items()}
    else:
        rows = list(fields)
        names = list(dict.fromkeys(k for r in rows for k in r))
        cols = {k: [r.get(k) for r in rows] for k in names}
    for name, values in cols.items():
        if len(values) != n:
            raise OptionError(f"fields[{name!r}]", f"{len(values)} values", [f"{n} values"])
    return cols


def _create_store(path: str | Path, prov: Provenance, wait: float | None = None) -> Any:
    if str(path).startswith(("postgresql://", "postgres://")):  # writers take turns in SQL
        from .postgres import PostgresStore

        return PostgresStore.create(str(path), prov)
    return EmbeddedStore.create(Path(path), prov, wait)


def _open_store(path: str | Path, wait: float | None = None) -> Any:
    if str(path).startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore

        return PostgresStore.open(str(path))
    return EmbeddedStore.open(Path(path), wait)


def _storable(rows: Rows, ids: list[str], on_error: str) -> tuple[Rows, tuple[InputError, ...]]:
    """Documents a PostgreSQL index cannot store (a NUL character) as errors at their position;
    the rest of the add goes on (on_error="collect") or the first is raised."""
    bad = list(dict.fromkeys(rows.ids[i] for i in with_nul(rows)))
    if not bad:
        return rows, ()
    at = {d: n for n, d in enumerate(ids)}
    why = "a NUL character (\\x00) in its text or a field, which a PostgreSQL index cannot store"
    errors = tuple(InvalidTextError(why, at.get(d)) for d in bad)
    if on_error == "raise":
        raise errors[0]
    gone = set(bad)
    return rows.take([i for i in range(len(rows)) if rows.ids[i] not in gone]), errors
