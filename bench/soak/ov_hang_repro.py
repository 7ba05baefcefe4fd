"""Reproduce issue 32: `bertex.load(..., backend="openvino").embed(texts)` that never returns.

    python bench/soak/ov_hang_repro.py --runs 20              # 20 bounded runs, one busy core
    python bench/soak/ov_hang_repro.py --runs 6 --no-hog --texts 500

Each run is a fresh process embedding 2,000 texts of 10 to 1,055 characters (seeded per run)
with the real default model on OpenVINO fp32, on two workers (BERTEX_WORKERS=2 unless set,
as issue 32 ran, whatever the default plan). A run is a hang when
it used under 1 s of CPU in the last --stall seconds (the hang sits near 0% CPU; a live run
on a busy machine still gets far more); a run past --bound seconds that still uses CPU is
counted apart (over-bound). A stopped run gets SIGUSR1 first, so its faulthandler writes
every thread's stack to the log, then SIGKILL. A run that bertex's own bound stopped
(ForwardTimeoutError, issue 32's fix) counts as a hang too. A CPU hog (one process
spinning) runs beside it unless --no-hog. Prints one line per run and a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import faulthandler, json, random, signal, sys, time
faulthandler.register(signal.SIGUSR1, all_threads=True)
import bertex
seed, n, backend, precision = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
rng = random.Random(seed)
words = "the man is riding a horse and the child plays the guitar near the river".split()
texts = []
for _ in range(n):
    target = rng.randint(10, 1055)
    text = ""
    while len(text) < target:
        text += rng.choice(words) + " "
    texts.append(text[:target].strip() or "x")
model = bertex.load("all-MiniLM-L6-v2", backend=backend, precision=precision)
start = time.perf_counter()
try:
    out = model.embed(texts)
except getattr(bertex, "ForwardTimeoutError", ()) as e:  # bertex's own bound stopped a hang
    print(json.dumps({"forward_timeout": str(e)}))
    sys.exit(3)
print(json.dumps({"shape": list(out.vectors.shape), "s": time.perf_counter() - start}))
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its threads, from /proc (0 when gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def watch(proc: subprocess.Popen, bound: float, stall: float) -> tuple[str, float]:
    """Wait for a child: ('done' | 'hang' | 'over-bound', seconds). A hang used under 1 s of
    CPU over the last `stall` seconds (a hung process still ticks a little: its idle threads
    wake; a live one on a loaded machine gets far more); over-bound ran past `bound` seconds
    while still working. Either way the child gets SIGUSR1 (its faulthandler writes every
    thread's stack to its stderr), then SIGKILL."""
    start = time.monotonic()
    samples: list[tuple[float, float]] = []  # (when, CPU seconds so far)
    while proc.poll() is None:
        time.sleep(1)
        now, cpu = time.monotonic(), cpu_seconds(proc.pid)
        samples.append((now, cpu))
        then = [c for t, c in samples if now - t >= stall]
        stalled = bool(then) and cpu - then[-1] < 1.0
        if stalled or now - start > bound:
            proc.send_signal(signal.SIGUSR1)
            time.sleep(2)
            proc.kill()
            proc.wait()
            return ("hang" if stalled else "over-bound"), now - start
    return "done", time.monotonic() - start


def one_run(args: argparse.Namespace, seed: int, log: Path) -> tuple[str, float]:
    """('ok' | 'hang' | 'over-bound' | 'error', seconds) for one bounded child run: a hang
    stalled (no CPU time for --stall seconds); over-bound still ran, slowly (a loaded machine)."""
    # two workers, as issue 32 ran, whatever the default plan
    env = {"BERTEX_WORKERS": "2", **os.environ, "HF_HUB_OFFLINE": "1"}
    with log.open("ab") as err:
        err.write(f"\n=== run seed {seed}\n".encode())
        err.flush()
        cmd = [sys.executable, "-c", CHILD, str(seed), str(args.texts), args.backend]
        proc = subprocess.Popen(cmd + [args.precision], stdout=subprocess.PIPE, stderr=err, env=env)
        kind, seconds = watch(proc, args.bound, args.stall)
        if kind != "done":
            return kind, seconds
        out = proc.stdout.read().decode() if proc.stdout else ""
        kind = "ok" if proc.returncode == 0 and '"shape"' in out else "error"
        if '"forward_timeout"' in out:
            kind = "hang"
        return kind, seconds


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=6)
    p.add_argument("--seconds", type=float, default=None, help="start no run after this long")
    p.add_argument("--texts", type=int, default=2000)
    p.add_argument("--bound", type=float, default=240.0, help="seconds a run may take at most")
    p.add_argument("--stall", type=float, default=45.0, help="seconds without CPU progress")
    p.add_argument("--backend", default="openvino")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--no-hog", action="store_true", help="no busy core beside the runs")
    p.add_argument("--log", type=Path, default=None, help="children's stderr (stacks of hangs)")
    args = p.parse_args()
    log = args.log or Path(tempfile.mkdtemp(prefix="bertex-ovrepro-")) / "stderr.log"
    hog = None
    if not args.no_hog:
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    counts = {"ok": 0, "hang": 0, "over-bound": 0, "error": 0}
    times: list[float] = []
    try:
        began = time.monotonic()
        for k in range(args.runs):
            if args.seconds is not None and time.monotonic() - began > args.seconds:
                break
            seed = random.Random(k).randrange(1 << 30)
            kind, seconds = one_run(args, seed, log)
            counts[kind] += 1
            times.append(seconds)
            print(f"run {k + 1}/{args.runs}: {kind} in {seconds:.1f} s", flush=True)
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    summary = {**counts, "runs": sum(counts.values()), "texts": args.texts, "hog": hog is not None}
    summary.update(backend=args.backend, precision=args.precision, log=str(log))
    summary["median_s"] = sorted(times)[len(times) // 2] if times else None
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
