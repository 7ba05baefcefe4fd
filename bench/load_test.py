"""Load test of `bertex serve` against infinity-emb on loopback: 64 concurrent clients for
60 s per server, texts of mixed lengths, reporting throughput, latency and peak memory.

    python bench/load_test.py [--clients 64] [--seconds 60] [--model all-MiniLM-L6-v2]
                              [--servers bertex,bertex-unbatched,infinity]

Servers (`--servers`, comma-separated): `bertex` (dynamic batching, the default),
`bertex-unbatched` (one request per forward pass), `infinity-torch` and `infinity-optimum`
(infinity-emb 0.0.78 in its own environment, made by bench/peers/envs.py on first use;
`infinity` names both). Every server reads the same model folder, runs alone on the machine
while it is measured, and is sent the same request sequence by the same client: client i
draws its texts from a generator seeded with i (5 to 200 words, long-tailed), one text per
request, as `{"model": ..., "input": [text]}` to /v1/embeddings.

Before the load, each server's vectors for a few texts are compared with the first server's
(cosine after L2 normalization must be > 0.999). Peak RSS is the sum of VmHWM (the kernel's
high-water mark of resident memory) over the server's process tree, read from /proc at the
end of its run. Bounded in count and time: each client stops at the deadline or after
--max-requests; servers listen on 127.0.0.1 only and are stopped at the end, also on error,
Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import serve_infinity  # noqa: E402

WORDS = (
    "the a man woman child dog cat is are was riding playing eating running with on in of "
    "to and hard hat dancing horse guitar river people watch near market city report "
    "government announced tuesday that new policy would affect thousands"
).split()
MIN_WORDS, MAX_WORDS = 5, 200  # within 256 tokens: no server truncates
CHECK_TEXTS = 5
MIN_COSINE = 0.999
MIN_COSINE_INT8 = 0.97  # an int8 mode: bench/speed.py's quality gate (min cosine to fp32)
TARGET_RPS_RATIO = 1.5
ROWS = {  # --servers name -> row of the table
    "bertex": "bertex (dynamic batching)",
    "bertex-unbatched": "bertex, one request per forward pass",
    "bertex-bf16": "bertex torch bf16 (dynamic batching)",
    "bertex-int8": "bertex onnx int8 (dynamic batching)",
    "bertex-ct2-int8": "bertex ctranslate2 int8 (dynamic batching)",
    "infinity-torch": "infinity-emb torch",
    "infinity-optimum": "infinity-emb optimum (ONNX Runtime)",
}
ALL_SERVERS = tuple(ROWS)
GROUPS = {
    "infinity": ("infinity-torch", "infinity-optimum"),
    # the modes that pass bench/speed.py's quality gates
    "bertex-fast": ("bertex-bf16", "bertex-int8", "bertex-ct2-int8"),
}


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str]
    cwd: Path | None = None


@dataclass(frozen=True)
class Server:
    key: str  # its --servers name
    name: str  # its row in the table
    launch: Callable[[int], Launch]  # port -> how to start it (may make the peer's env first)
    path: str = "/v1/embeddings"


def servers(names: list[str], model: str, cache: Path) -> list[Server]:
    folder = model_folder(model)

    def bertex(*extra: str) -> Callable[[int], Launch]:
        return lambda port: Launch(
            [sys.executable, "-m", "bertex.cli.main", "serve", model,
             "--host", "127.0.0.1", "--port", str(port), *extra],
            {**os.environ, "HF_HUB_OFFLINE": "1"},
        )  # fmt: skip

    def infinity(engine: str) -> Callable[[int], Launch]:
        def launch(port: int) -> Launch:
            argv, cwd = serve_infinity.command(engine, folder, cache, port, model)
            return Launch(argv, serve_infinity.environment(cwd), cwd)

        return launch

    launches = {
        "bertex": bertex(),
        "bertex-unbatched": bertex("--max-batch-requests", "1"),
        "bertex-bf16": bertex("--precision", "bf16"),
        "bertex-int8": bertex("--backend", "onnx", "--precision", "int8"),
        "bertex-ct2-int8": bertex("--backend", "ctranslate2", "--precision", "int8"),
        "infinity-torch": infinity("torch"),
        "infinity-optimum": infinity("optimum"),
    }
    return [Server(n, ROWS[n], launches[n]) for n in names]


def parse_servers(value: str) -> list[str]:
    names: list[str] = []
    for item in (s.strip() for s in value.split(",") if s.strip()):
        if item not in ALL_SERVERS and item not in GROUPS:
            valid = ", ".join((*ALL_SERVERS, *GROUPS))
            raise argparse.ArgumentTypeError(f"unknown server {item!r}; valid: {valid}")
        names += [n for n in GROUPS.get(item, (item,)) if n not in names]
    if not names:
        raise argparse.ArgumentTypeError("name at least one server")
    return names


def model_folder(model: str) -> Path:
    """The folder bertex serves for `model`; the peers are pointed at the same folder."""
    from bertex.models.source import resolve

    return Path(resolve(model).folder)


def bench_cache() -> Path:
    from speed import bench_cache as cache  # the exports speed.py's peers keep, beside them

    return cache()


# --- the servers' processes --------------------------------------------------------------


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(server: Server, log: Path, timeout_s: float) -> tuple[subprocess.Popen, str]:
    """Start `server` in a session of its own (its whole tree is stopped with it)."""
    port = _port()
    how = server.launch(port)  # may make the peer's environment or export (once): not timed
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            how.argv, env=how.env, cwd=how.cwd, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        if _ready(proc, url, timeout_s):
            return proc, url
    except BaseException:  # Ctrl-C or SIGTERM while it starts: stop it too
        stop(proc)
        raise
    why = f"exited ({proc.returncode})" if proc.poll() is not None else f"{timeout_s:g} s passed"
    stop(proc)
    tail = log.read_text(errors="replace")[-2000:]
    raise SystemExit(f"{server.name} did not start: {why}; its log ends:\n{tail}")


def _ready(proc: subprocess.Popen, url: str, timeout_s: float) -> bool:
    """Whether the server answers /health before `timeout_s` (False: it exited or timed out)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    return False


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, SIGKILL after 15 s."""
    if proc.poll() is None:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
    _signal_group(proc.pid, signal.SIGKILL)  # children left behind by the leader, if any


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants, from /proc/<pid>/task/<tid>/children."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                todo += [int(c) for c in task.read_text().split()]
            except OSError:
                pass
    return out


def peak_rss_mib(pid: int) -> tuple[float, int]:
    """Sum of VmHWM over the process tree (each process's own peak; an upper bound of the
    tree's peak at any one instant), and the number of processes in it."""
    total_kib = 0
    tree = process_tree(pid)
    for p in tree:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total_kib += int(line.split()[1])
    return total_kib / 1024, len(tree)


# --- the client ----------------------------------------------------------------------------


def text_stream(seed: int):
    """Texts of `MIN_WORDS` to `MAX_WORDS` words, long-tailed (median ~18), from `seed`.

    The same seed gives the same sequence to every server."""
    rng = random.Random(seed)
    while True:
        n = round(rng.lognormvariate(math.log(18), 0.9))
        n = min(MAX_WORDS, max(MIN_WORDS, n))
        yield " ".join(rng.choice(WORDS) for _ in range(n))


async def embed(http: httpx.AsyncClient, url: str, server: Server, model: str, text: str):
    """The one request every server gets: one text, OpenAI's embeddings body."""
    return await http.post(url + server.path, json={"model": model, "input": [text]})


async def client(url, server, model, stop_at, limit, seed, out, errors) -> None:
    texts = text_stream(seed)
    async with httpx.AsyncClient(timeout=120) as http:
        for _ in range(limit):
            if time.monotonic() >= stop_at:
                return
            t0 = time.monotonic()
            try:
                r = await embed(http, url, server, model, next(texts))
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            (out if ok else errors).append(time.monotonic() - t0)


async def load(url: str, server: Server, model: str, clients: int, seconds: float, limit: int):
    out: list[float] = []
    errors: list[float] = []
    t0 = time.monotonic()
    await asyncio.gather(
        *(client(url, server, model, t0 + seconds, limit, i, out, errors) for i in range(clients))
    )
    wall = time.monotonic() - t0
    q = statistics.quantiles(out, n=100) if len(out) > 1 else [0.0] * 99
    return {"ok": len(out), "errors": len(errors), "rps": len(out) / wall,
            "p50": q[49] * 1000, "p99": q[98] * 1000}  # fmt: skip


async def vectors(url: str, server: Server, model: str, texts: list[str]) -> np.ndarray:
    """(N, H) L2-normalized vectors of `texts`, one request each, as the load sends them."""
    rows = []
    async with httpx.AsyncClient(timeout=120) as http:
        for text in texts:
            r = await embed(http, url, server, model, text)
            r.raise_for_status()
            rows.append(r.json()["data"][0]["embedding"])
    v = np.asarray(rows, dtype=np.float64)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def check_texts() -> list[str]:
    """The shortest and the longest texts the load sends, and a few between."""
    stream = text_stream(10_000)
    texts = sorted((next(stream) for _ in range(200)), key=len)
    step = (len(texts) - 1) / (CHECK_TEXTS - 1)
    return [texts[round(i * step)] for i in range(CHECK_TEXTS)]


# --- the run -------------------------------------------------------------------------------


def agree(name: str, v: np.ndarray, reference: dict) -> None:
    """The first server's vectors are the reference; every other server must match them."""
    if "vectors" not in reference:
        reference["vectors"] = (name, v)
        print(f"{name}: the reference vectors ({len(v)} texts, 5 to 200 words)", flush=True)
        return
    ref_name, ref = reference["vectors"]
    cos = float(np.min(np.sum(v * ref, axis=1)))
    print(f"{name}: min cosine to {ref_name} over {len(v)} texts: {cos:.6f}", flush=True)
    if cos <= (MIN_COSINE_INT8 if "int8" in name else MIN_COSINE):
        raise SystemExit(f"{name} computes other vectors (cosine {cos:.6f}): not loaded")


def run_one(server: Server, args, reference: dict, logs: Path) -> dict:
    proc, url = start(server, logs / f"{server.key}.log", args.start_timeout)
    try:
        v = asyncio.run(vectors(url, server, args.model, check_texts()))
        agree(server.name, v, reference)
        r = asyncio.run(
            load(url, server, args.model, args.clients, args.seconds, args.max_requests)
        )
        r["rss"], r["procs"] = peak_rss_mib(proc.pid)
        return r
    finally:
        stop(proc)


def target(rows: dict[str, dict]) -> str | None:
    """bertex's fastest batched row's requests/s >= 1.5x the fastest infinity-emb row's, at an
    equal or lower p99."""
    mine = {k: v for k, v in rows.items() if k.startswith("bertex") and k != "bertex-unbatched"}
    peers = {k: v for k, v in rows.items() if k.startswith("infinity")}
    if not mine or not peers:
        return None
    ours_key, ours = max(mine.items(), key=lambda kv: kv[1]["rps"])
    key, peer = max(peers.items(), key=lambda kv: kv[1]["rps"])
    ratio = ours["rps"] / max(peer["rps"], 1e-9)
    met = ratio >= TARGET_RPS_RATIO and ours["p99"] <= peer["p99"]
    return (
        f"target: bertex requests/s ({ROWS[ours_key]}) >= {TARGET_RPS_RATIO}x infinity-emb's "
        f"(fastest: {ROWS[key]}) "
        f"at an equal or lower p99: {ours['rps']:.1f} vs {peer['rps']:.1f} requests/s = "
        f"{ratio:.2f}x, p99 {ours['p99']:.0f} vs {peer['p99']:.0f} ms -> "
        f"{'met' if met else 'not met'}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--max-requests", type=int, default=100_000, help="per client")
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    ap.add_argument("--servers", type=parse_servers, default=list(ALL_SERVERS),
                    help=f"comma-separated, of: {', '.join((*ALL_SERVERS, *GROUPS))}")  # fmt: skip
    ap.add_argument("--start-timeout", type=float, default=300, help="seconds per server start")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the `finally`s: stop servers
    print(f"{args.clients} clients x {args.seconds:g} s per server, one text per request "
          f"({MIN_WORDS}-{MAX_WORDS} words, long-tailed), {args.model} "
          f"({model_folder(args.model)})\n", flush=True)  # fmt: skip
    rows: dict[str, dict] = {}
    reference: dict = {}
    with tempfile.TemporaryDirectory(prefix="bertex-load-") as tmp:
        for server in servers(args.servers, args.model, bench_cache()):
            rows[server.key] = run_one(server, args, reference, Path(tmp))
    cols = "requests ok | errors | requests/s | p50 ms | p99 ms | peak RSS MiB | processes"
    print(f"\n| server | {cols} |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for key, r in rows.items():
        print(f"| {ROWS[key]} | {r['ok']:,} | {r['errors']} | {r['rps']:.1f} | {r['p50']:.0f} | "
              f"{r['p99']:.0f} | {r['rss']:,.0f} | {r['procs']} |")  # fmt: skip
    print("\npeak RSS: the sum of VmHWM over the server's process tree (/proc), at its run's end")
    batched, unbatched = rows.get("bertex"), rows.get("bertex-unbatched")
    if batched and unbatched:
        print(f"batching gain: {batched['rps'] / max(unbatched['rps'], 1e-9):.2f}x requests/s")
    line = target(rows)
    if line:
        print(line)


if __name__ == "__main__":
    main()
