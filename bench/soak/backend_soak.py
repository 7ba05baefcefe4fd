"""Soak the backends for hangs (issue 32): each backend with two workers (BERTEX_WORKERS=2) runs
thousands of batches of random sizes and lengths, each backend's run bounded in time,
optionally with a CPU hog beside it (the OpenVINO hang of issue 32 needed a busy core).

    python bench/soak/backend_soak.py                                 # every backend, ~minutes
    python bench/soak/backend_soak.py --backends openvino,onnx --batches 1500 --hog
    python bench/soak/backend_soak.py --model all-MiniLM-L6-v2 --batches 500

By default the model is a tiny random-weight BERT built here (2 layers, hidden 64): its passes
take milliseconds, so a run changes input shape thousands of times a minute, which is what
the hang needs. Each backend runs in its own process through the runner's forward threads
(the same path `embed` takes, every wait bounded by --forward-timeout); a process that has
not finished within --bound seconds gets SIGUSR1 (its faulthandler writes every thread's
stack to stderr) and then SIGKILL. Every output is checked for its shape and for finite
values, and the first 16 batches again one at a time (a two-worker run gives the same rows).
Prints a JSON summary; exit status 0 when no backend hung or failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # speed.py
sys.path.insert(0, str(Path(__file__).resolve().parent))  # corpus_soak.py, ov_hang_repro.py

from ov_hang_repro import watch  # noqa: E402

BACKENDS = ("torch", "onnx", "openvino", "ctranslate2")

CHILD = r"""
import faulthandler, json, signal, sys, time, warnings
faulthandler.register(signal.SIGUSR1, all_threads=True)
warnings.simplefilter("ignore")
import numpy as np
import bertex
from bertex.types import Batch, Want

model_path, backend, n, seed, max_len, timeout, budget = sys.argv[1:8]
n, seed, max_len, budget = int(n), int(seed), int(max_len), float(budget)
if hasattr(bertex, "ForwardTimeoutError"):
    model = bertex.load(model_path, backend=backend, forward_timeout=float(timeout))
else:  # a bertex from before issue 32 (a baseline): no bound of its own
    model = bertex.load(model_path, backend=backend)
rng = np.random.default_rng(seed)
vocab = model.info.vocab_size

def batch(k):
    rows, length = int(rng.integers(1, 33)), int(rng.integers(2, max_len + 1))
    real = rng.integers(1, length + 1, rows)
    real[0] = length  # the longest row sets the padded length, as batching does
    mask = (np.arange(length)[None, :] < real[:, None]).astype(np.int64)  # (B, L)
    ids = rng.integers(1000, vocab, (rows, length)) * mask  # (B, L), 0 = [PAD]
    return Batch(np.arange(rows), ids, mask, np.zeros_like(ids))

batches = [batch(k) for k in range(n)]
want = Want(layers=(model.info.num_layers,))
workers = model.backend.workers
start = time.perf_counter()
outs = []
ran = 0

def feed():  # every batch, or those that start within the time budget (0: no budget)
    for b in batches:
        if budget and time.perf_counter() - start > budget:
            return
        yield b

pool = getattr(model.runner, "forwards", None)  # None: a bertex from before issue 32
run = pool.run(feed(), want, workers) if pool else model.runner._forward_all(feed(), want)
try:
    for b, out in run:
        ran += 1
        h = out.hidden  # (B, L, 1, H)
        assert h.shape[:2] == b.input_ids.shape and np.isfinite(h).all(), h.shape
        if len(outs) < 16:
            outs.append(h)
except getattr(bertex, "ForwardTimeoutError", ()) as e:
    print(json.dumps({"forward_timeout": str(e)}))
    sys.exit(3)
seconds = time.perf_counter() - start
alone = [model.backend.forward(b, want) for b in batches[:16]]  # one at a time, this thread
gap = max(float(np.abs(a.hidden - h).max()) for a, h in zip(alone, outs))
print(json.dumps({"batches": ran, "workers": workers, "seconds": seconds, "max_gap": gap}))
"""


def soak_one(model: str, backend: str, args: argparse.Namespace, env: dict) -> dict:
    """One backend in its own bounded process: ok, hang, error or missing (not installed)."""
    cmd = [sys.executable, "-c", CHILD, model, backend, str(args.batches), str(args.seed)]
    cmd += [str(args.max_length), str(args.forward_timeout), str(args.seconds or 0)]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env)
        kind, seconds = watch(proc, args.bound, args.stall)
        out = proc.stdout.read() if proc.stdout else b""
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    if kind != "done":  # stacks: the child's faulthandler wrote them to its stderr
        return {"backend": backend, "result": kind, "seconds": seconds, "stacks": stderr[-6000:]}
    lines = [x for x in out.decode().splitlines() if x.startswith("{")]
    doc = json.loads(lines[-1]) if lines else {}
    if "forward_timeout" in doc:
        return {"backend": backend, "result": "hang", **doc, "stacks": stderr[-6000:]}
    if proc.returncode != 0 or not doc:
        missing = "ExtraMissingError" in stderr or "not installed" in stderr
        kind = "missing" if missing else "error"
        return {"backend": backend, "result": kind, "stderr": stderr.strip()[-800:]}
    ok = doc["max_gap"] <= args.tolerance
    return {"backend": backend, "result": "ok" if ok else "mismatch", **doc}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument("--batches", type=int, default=3000, help="batches per backend at most")
    p.add_argument("--model", default=None, help="a model (default: a tiny random BERT)")
    p.add_argument("--max-length", type=int, default=128, help="longest padded batch")
    p.add_argument("--bound", type=float, default=600.0, help="seconds per backend at most")
    p.add_argument("--forward-timeout", type=float, default=60.0, help="bertex's own bound")
    p.add_argument("--stall", type=float, default=45.0, help="seconds under 1 s of CPU: hung")
    p.add_argument("--hog", action="store_true", help="one process spinning beside the runs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tolerance", type=float, default=1e-4, help="two workers vs one, max gap")
    p.add_argument("--seconds", type=float, default=None, help="stop each backend's run after")
    args = p.parse_args()
    if args.seconds:  # a time budget: batches stop starting then; the bound leaves room to end
        args.bound = args.seconds + args.forward_timeout + 120
    work = Path(tempfile.mkdtemp(prefix="bertex-backend-soak-"))
    from corpus_soak import tiny_model  # the same tiny random BERT (hidden 64, 2 layers)

    model = args.model or str(tiny_model(work / "tiny-bert"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "BERTEX_CACHE": str(work / "cache")}
    # two workers, the concurrency issue 32's lock guards: OpenVINO fp32 and bf16 run one
    # stream by default on 2 cores (threads.one_stream); int8 and BERTEX_WORKERS=2 run two
    env["BERTEX_WORKERS"] = "2"
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.hog else None
    results = []
    try:
        for backend in args.backends.split(","):
            r = soak_one(model, backend.strip(), args, env)
            results.append(r)
            brief = {k: v for k, v in r.items() if k not in ("stacks", "stderr")}
            print(json.dumps(brief), file=sys.stderr, flush=True)
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    bad = [r for r in results if r["result"] not in ("ok", "missing")]
    print(json.dumps({"hog": args.hog, "batches": args.batches, "results": results}, indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
