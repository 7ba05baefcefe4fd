"""Texts -> index rows: one row per text, or one per sentence / window of it (QA retrieval).

A piece keeps its character span into its document, so a hit can say which part matched:

    split=None        one row per text, span (0, len(text))
    split="sentence"  bertex.split_sentences: one row per sentence, its span
    split="window"    level="window": one row per model window of a long text, its span
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError, InvalidTextError, OptionError
from ..sentences import split as split_sentences
from .provenance import Provenance
from .rows import Rows

SPLITS = (None, "sentence", "window")


@dataclass(frozen=True, eq=False)
class Embedded:
    rows: Rows
    meta: Any  # the Meta of the vectors, None when nothing could be embedded


def embed(
    model: Any,
    prov: Provenance,
    texts: list[str],
    ids: list[str],
    fields: dict[str, list[Any]],
    split: str | None,
    on_error: str,
) -> tuple[Embedded, tuple[InputError, ...]]:
    if split not in SPLITS:
        raise OptionError("split", split, SPLITS)
    if on_error not in ("raise", "collect"):
        raise OptionError("on_error", on_error, ["raise", "collect"])
    collect = on_error == "collect"
    if split == "window":
        return _windows(model, prov, texts, ids, fields, collect)
    docs, spans, errors = _pieces(texts, split, collect)
    piece_texts = [texts[d][a:b] for d, (a, b) in zip(docs, spans, strict=True)]
    opts = prov.embed_options()
    if not collect:
        out = model.embed(piece_texts, **opts) if piece_texts else None
        kept = list(range(len(piece_texts)))
    else:
        got = model.embed(piece_texts, on_error="collect", **opts) if piece_texts else None
        out = got.results if got is not None else None
        kept = list(got.kept) if got is not None else []
        errors += [e.at(docs[e.index]) for e in (got.errors if got is not None else ())]
    vectors = out.vectors if out is not None else np.zeros((0, prov.dim), np.float32)
    kept_docs, kept_spans = [docs[i] for i in kept], [spans[i] for i in kept]
    rows = _rows(texts, ids, fields, kept_docs, kept_spans, vectors, prov.dim)
    return Embedded(rows, out.meta if out is not None else None), tuple(errors)


def _pieces(
    texts: list[str], split: str | None, collect: bool
) -> tuple[list[int], list[tuple[int, int]], list[InputError]]:
    """(document of each piece, its span, errors of documents that could not be split)."""
    docs: list[int] = []
    spans: list[tuple[int, int]] = []
    errors: list[InputError] = []
    for d, text in enumerate(texts):
        if not isinstance(text, str):  # what the model would refuse, refused here with its index
            bad = InvalidTextError(f"expected a string, got {type(text).__name__}").at(d)
            if not collect:
                raise bad
            errors.append(bad)
            continue
        if split is None:
            cut = [(0, len(text))]
        else:
            try:
                cut = [(s.start, s.end) for s in split_sentences(text)] or [(0, len(text))]
            except InputError as e:
                if not collect:
                    raise e.at(d) from None
                errors.append(e.at(d))
                continue
        docs += [d] * len(cut)
        spans += cut
    return docs, spans, errors


def _windows(
    model: Any,
    prov: Provenance,
    texts: list[str],
    ids: list[str],
    fields: dict[str, list[Any]],
    collect: bool,
) -> tuple[Embedded, tuple[InputError, ...]]:
    opts = {**prov.embed_options(), "level": "window"}
    if collect:
        got = model.embed(texts, on_error="collect", **opts)
        results, kept, errors = got.results or [], list(got.kept), tuple(got.errors)
    else:
        results, kept, errors = model.embed(texts, **opts), list(range(len(texts))), ()
    docs = [d for d, r in zip(kept, results, strict=True) for _ in range(len(r))]
    spans = [tuple(s) for r in results for s in r.spans.tolist()]
    vectors = (
        np.concatenate([r.vectors for r in results])
        if results
        else np.zeros((0, prov.dim), np.float32)
    )  # (pieces, D)
    meta = results[0].meta if results else None
    return Embedded(_rows(texts, ids, fields, docs, spans, vectors, prov.dim), meta), errors


def _rows(
    texts: list[str],
    ids: list[str],
    fields: dict[str, list[Any]],
    docs: list[int],
    spans: list[Any],
    vectors: np.ndarray,
    dim: int,
) -> Rows:
    """The kept pieces as rows; none kept (every text bad) is (0, D), not a crash."""
    return Rows(
        [ids[d] for d in docs],
        [texts[d] for d in docs],
        np.asarray(vectors, dtype=np.float32).reshape(len(docs), dim),  # (pieces, D)
        np.asarray(spans, dtype=np.int64).reshape(len(docs), 2),
        {k: [v[d] for d in docs] for k, v in fields.items()},
    )
