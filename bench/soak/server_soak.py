"""Soak test of `bertex serve` on loopback: the minutes-long versions of the server attacks in
tests/adversarial/test_server_attacks.py. Each scenario starts its own server on 127.0.0.1, is
bounded in time, stops by itself and checks what must hold:

  load        N clients (64) of mixed lengths and levels for --seconds: no 5xx but deadlines,
              /health answers within a second throughout, server memory does not keep growing
  slowloris   N connections trickling a body a byte at a time: each gets 408 at --body-timeout,
              /health stays fast meanwhile, SIGTERM then ends the server within its bound
  disconnect  N clients send long requests and leave (while waiting, and mid-body): their work
              is dropped (counted in /metrics), a short request right after waits at most for
              the pass that was running (not for the work of every client that left), and the
              log grows by one short line per mid-body disconnect at most

    python bench/soak/server_soak.py [--scenario all|load|slowloris|disconnect]
        [--seconds 120] [--clients 64] [--model all-MiniLM-L6-v2]

Exit status 0 when every check held; the summary is one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

WORDS = (
    "the a man woman child dog cat is are was riding playing eating running with on in of "
    "to and hard hat dancing horse guitar river people watch near market city"
).split()


class Server:
    def __init__(self, model: str, *flags: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()
        cmd = [sys.executable, "-m", "bertex.cli.main", "serve", model, "--port", str(self.port)]
        self.proc = subprocess.Popen(
            [*cmd, *flags],
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(600):
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited: {self.output()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit("server did not start")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def metric(self, name: str) -> float:
        text = httpx.get(self.url + "/metrics", timeout=10).text
        return sum(
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith(name + " ") or line.startswith(name + "{")
        )

    def stop(self) -> float:
        """SIGTERM; the seconds it took to exit (killed past 60 s)."""
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return time.monotonic() - start


def text(rng: random.Random, long: bool) -> str:
    n = rng.randint(300, 2500) if long else rng.randint(3, 60)
    return " ".join(rng.choice(WORDS) for _ in range(n))


async def watch_health(url: str, stop: float, worst: list[float]) -> None:
    """Record the slowest /health answer until `stop`."""
    async with httpx.AsyncClient(timeout=30) as http:
        while time.monotonic() < stop:
            t0 = time.monotonic()
            await http.get(url + "/health")
            worst[0] = max(worst[0], time.monotonic() - t0)
            await asyncio.sleep(0.2)


async def load_client(url: str, stop: float, seed: int, codes: list[int], lat: list[float]) -> None:
    rng = random.Random(seed)
    async with httpx.AsyncClient(timeout=120) as http:
        while time.monotonic() < stop:
            level = rng.choice(["sentence"] * 6 + ["token", "word"])
            inputs = [text(rng, rng.random() < 0.1) for _ in range(rng.randint(1, 8))]
            t0 = time.monotonic()
            r = await http.post(url + "/v1/embed", json={"input": inputs, "level": level})
            codes.append(r.status_code)
            lat.append(time.monotonic() - t0)


def scenario_load(args: argparse.Namespace) -> dict:
    s = Server(args.model, "--max-inputs", "8")
    codes: list[int] = []
    lat: list[float] = []
    worst = [0.0]
    rss = [s.rss_mb()]

    async def main() -> None:
        third = args.seconds / 3
        start = time.monotonic()
        stop = start + args.seconds
        health = asyncio.ensure_future(watch_health(s.url, stop, worst))
        clients = [load_client(s.url, stop, i, codes, lat) for i in range(args.clients)]
        sampler = asyncio.ensure_future(_sample_rss(s, stop, third, rss))
        await asyncio.gather(*clients, health, sampler)

    asyncio.run(main())
    bad = [c for c in codes if c >= 500 and c != 503]
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [0.0] * 99
    out = {
        "requests": len(codes),
        "server_errors": len(bad),
        "deadline_503": codes.count(503),
        "p50_s": round(q[49], 3),
        "p99_s": round(q[98], 3),
        "worst_health_s": round(worst[0], 3),
        "rss_mb": [round(r) for r in rss],
        "shutdown_s": round(s.stop(), 2),
    }
    out["ok"] = not bad and worst[0] < 1.0 and (len(rss) < 3 or rss[-1] < rss[1] * 1.5 + 50)
    return out


async def _sample_rss(s: Server, stop: float, every: float, rss: list[float]) -> None:
    while time.monotonic() + every <= stop + 0.01:
        await asyncio.sleep(every)
        rss.append(s.rss_mb())


def scenario_slowloris(args: argparse.Namespace) -> dict:
    timeout = max(2.0, min(30.0, args.seconds / 2))
    s = Server(args.model, "--body-timeout", str(timeout), "--shutdown-timeout", "5")
    socks, answers = [], []
    head = (
        f"POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1:{s.port}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
    ).encode()
    for _ in range(args.clients):
        c = socket.create_connection(("127.0.0.1", s.port))
        c.sendall(head)
        c.setblocking(False)
        socks.append(c)
    worst = [0.0]
    stop = time.monotonic() + timeout + 2
    while time.monotonic() < stop:  # trickle one byte per connection per second
        for c in socks:
            try:
                c.send(b" ")
            except OSError:
                pass
        t0 = time.monotonic()
        httpx.get(s.url + "/health", timeout=30)
        worst[0] = max(worst[0], time.monotonic() - t0)
        time.sleep(1)
    for c in socks:
        try:
            c.settimeout(5)
            answers.append(c.recv(200).split(b" ")[1].decode())
        except (OSError, IndexError):
            answers.append("closed")
    held = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(8)]
    for c in held:
        c.sendall(head)  # partial bodies held while the server is asked to stop
    shutdown = s.stop()
    for c in socks + held:
        c.close()
    out = {
        "connections": len(socks),
        "answered_408": answers.count("408"),
        "worst_health_s": round(worst[0], 3),
        "shutdown_s": round(shutdown, 2),
    }
    out["ok"] = answers.count("408") == len(socks) and worst[0] < 1.0 and shutdown < 15
    return out


def scenario_disconnect(args: argparse.Namespace) -> dict:
    s = Server(args.model, "--max-inputs", "8")
    rng = random.Random(0)
    t0 = time.monotonic()  # one whole storm request, answered: the longest a pass can take
    httpx.post(s.url + "/v1/embed", json={"input": [text(rng, True)] * 8}, timeout=300)
    whole_s = time.monotonic() - t0
    before = len(s.output())

    async def leave_waiting(i: int) -> None:
        async with httpx.AsyncClient(timeout=0.3) as http:
            try:
                await http.post(s.url + "/v1/embed", json={"input": [text(rng, True)] * 8})
            except httpx.TimeoutException:
                pass

    def leave_mid_body() -> None:
        c = socket.create_connection(("127.0.0.1", s.port))
        c.sendall(
            f"POST /v1/embed HTTP/1.1\r\nHost: 127.0.0.1:{s.port}\r\n"
            'Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"input": "a'.encode()
        )
        c.close()

    stop = time.monotonic() + args.seconds
    rounds = 0
    while time.monotonic() < stop:
        asyncio.run(_gather(leave_waiting(i) for i in range(args.clients)))
        for _ in range(args.clients):
            leave_mid_body()
        rounds += 1
    time.sleep(1.0)
    t0 = time.monotonic()
    r = httpx.post(s.url + "/v1/embed", json={"input": "a short text"}, timeout=60)
    after_s = time.monotonic() - t0
    out = {
        "rounds": rounds,
        "clients_per_round": args.clients,
        "dropped_texts": s.metric("bertex_dropped_texts_total"),
        "disconnects": s.metric("bertex_client_disconnects_total"),
        "server_errors": s.metric('bertex_requests_total{status="500"}'),
        "short_request_s": round(after_s, 3),
        "one_whole_request_s": round(whole_s, 3),
        "log_bytes": len(s.output()) - before,
    }
    s.stop()
    mid_body = rounds * args.clients
    out["ok"] = (
        r.status_code == 200
        and after_s < whole_s + 2  # at most the pass that was running when its clients left
        and out["dropped_texts"] > 0
        and out["log_bytes"] < 100 * mid_body + 2000
    )
    return out


async def _gather(coros) -> None:  # noqa: ANN001
    await asyncio.gather(*coros)


SCENARIOS = {
    "load": scenario_load,
    "slowloris": scenario_slowloris,
    "disconnect": scenario_disconnect,
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", choices=["all", *SCENARIOS], default="all")
    p.add_argument("--seconds", type=float, default=120, help="per scenario")
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--model", default="all-MiniLM-L6-v2")
    args = p.parse_args()
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    results = {name: SCENARIOS[name](args) for name in names}
    print(json.dumps(results, indent=2))
    return 0 if all(r["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
