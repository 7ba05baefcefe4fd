"""Search: recall and latency of the ANN index against exact search, build rate, disk size;
and a retrieval evaluation on STS-B. Not a timed test: run it by hand (minutes at 100k).

    python bench/search_bench.py ann [--n 100000] [--queries 1000] [--postgres URL]
    python bench/search_bench.py stsb [--poolings mean,cls,max]

`ann`: n clustered unit vectors of width 384 (a mixture of 2,000 seeded Gaussian clusters on
the sphere, with long-tailed cluster sizes: a corpus of paraphrases and near-duplicates, not
uniform noise, which no ANN index finds structure in). Reported: recall@10 of the graph path
(usearch HNSW) against exact numpy search for held-out queries drawn from the same
clusters, one-query latency p50/p99 (the graph path, query embedding excluded), build rate
(vectors/s through Index.add: Parquet + graph + commit) and disk size. `--postgres URL` runs
the same on PostgreSQL + pgvector.

`stsb`: from the STS-B dev pairs with a gold score >= 4, the first sentence is the query and
its partner the relevant document among all distinct STS-B dev sentences (the query itself
excluded). Reported per pooling of the default model: MRR@10, recall@1, recall@10.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import tempfile
import time
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


def ann(args: argparse.Namespace) -> dict[str, Any]:
    from bertex.index import Index, embedded, postgres

    data = clustered(args.n + args.queries)
    base, queries = data[: args.n], data[args.n :]
    stored = _stored(base)
    folder = Path(tempfile.mkdtemp(prefix="bertex-search-bench-"))
    target = args.postgres or str(folder / "ix")
    try:
        ix = Index.create(target, like=stored)
        t0 = time.perf_counter()
        ix.add(stored)
        build_s = time.perf_counter() - t0
        exact = (
            [h.ids for h in ix.search(queries, k=10)]
            if args.n <= embedded.EXACT_MAX_ROWS
            else _exact(ix, queries)
        )
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
            "dim": DIM,
            "recall@10": round(recall, 4),
            "p50_ms": round(float(np.percentile(lat, 50)), 3),
            "p99_ms": round(float(np.percentile(lat, 99)), 3),
            "build_vectors_per_s": round(args.n / build_s),
            "disk_mb": round(info["disk_bytes"] / 2**20, 1),
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _exact(ix: Any, queries: np.ndarray) -> list[list[str]]:
    """Exact top-10 by numpy over every row, whatever the index size."""
    from bertex.index import embedded

    saved, embedded.EXACT_MAX_ROWS = embedded.EXACT_MAX_ROWS, 10**12
    try:
        return [h.ids for h in ix.search(queries, k=10)]
    finally:
        embedded.EXACT_MAX_ROWS = saved


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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    a = sub.add_parser("ann")
    a.add_argument("--n", type=int, default=100_000)
    a.add_argument("--queries", type=int, default=1000)
    a.add_argument("--postgres", help="postgresql://...?table=NAME (a new table)")
    s = sub.add_parser("stsb")
    s.add_argument("--poolings", default="mean,cls,max")
    args = p.parse_args()
    result = ann(args) if args.what == "ann" else stsb(args)
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
