"""Load test of `bertex serve` on loopback: 64 concurrent clients for 60 s, with dynamic
batching and with one request per forward pass, reporting throughput and latency.

    python bench/load_test.py [--clients 64] [--seconds 60] [--model all-MiniLM-L6-v2]

Bounded in count and time: each client stops at the deadline or after --max-requests; the
server it starts listens on 127.0.0.1 only and is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

WORDS = (
    "the a man woman child dog cat is are was riding playing eating running with on in of "
    "to and hard hat dancing horse guitar river people watch near market city"
).split()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(model: str, extra: list[str]) -> tuple[subprocess.Popen, str]:
    port = _port()
    exe = str(Path(sys.executable).with_name("bertex"))
    proc = subprocess.Popen(
        [exe, "serve", model, "--port", str(port), *extra],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start")


async def client(url: str, stop: float, limit: int, seed: int, out: list, errors: list) -> None:
    rng = random.Random(seed)
    async with httpx.AsyncClient(timeout=120) as http:
        for _ in range(limit):
            if time.monotonic() >= stop:
                return
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 40)))
            t0 = time.monotonic()
            r = await http.post(url + "/v1/embeddings", json={"input": text})
            (out if r.status_code == 200 else errors).append(time.monotonic() - t0)


async def load(url: str, clients: int, seconds: float, limit: int) -> dict:
    out: list[float] = []
    errors: list[float] = []
    start = time.monotonic()
    stop = start + seconds
    await asyncio.gather(*(client(url, stop, limit, i, out, errors) for i in range(clients)))
    wall = time.monotonic() - start
    q = statistics.quantiles(out, n=100) if len(out) > 1 else [0.0] * 99
    return {
        "ok": len(out),
        "errors": len(errors),
        "rps": len(out) / wall,
        "p50": q[49] * 1000,
        "p99": q[98] * 1000,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--max-requests", type=int, default=100_000)
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    args = ap.parse_args()
    print(f"{args.clients} clients x {args.seconds:g} s, one sentence per request, {args.model}\n")
    print("| server | requests ok | errors | requests/s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = {}
    for name, extra in (
        ("dynamic batching (default)", []),
        ("one request per forward pass", ["--max-batch-requests", "1"]),
    ):
        proc, url = start(args.model, extra)
        try:
            r = asyncio.run(load(url, args.clients, args.seconds, args.max_requests))
        finally:
            proc.terminate()
            proc.wait()
        rows[name] = r
        print(
            f"| {name} | {r['ok']:,} | {r['errors']} | {r['rps']:.1f} | {r['p50']:.0f} | "
            f"{r['p99']:.0f} |",
            flush=True,
        )
    a, b = rows.values()
    print(f"\nbatching gain: {a['rps'] / max(b['rps'], 1e-9):.2f}x requests/s")


if __name__ == "__main__":
    main()
