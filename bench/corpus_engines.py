"""Documents/s of a corpus job on the local engine and on a local Ray, same input, same model.

    python bench/corpus_engines.py [N_LINES]

Uses the embedded all-MiniLM-L6-v2 on a seeded generated corpus; each run is a fresh process,
so the figures include start-up (model load, Ray start), as a user would see them.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bertex

WORDS = (
    "the a man woman child dog cat is are was riding playing eating running with on in of "
    "to and hard hat dancing horse guitar river people watch near market city"
).split()


def main(n: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bertex-eng-", dir="/tmp"))
    src = work / "in.txt"
    rng = random.Random(0)
    src.write_text(
        "".join(
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 60))) + "\n" for _ in range(n)
        )
    )
    exe = str(Path(sys.executable).with_name("bertex"))
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "RAY_TMPDIR": str(work),
        "HOME": str(work),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    runs = {
        "local (torch, all cores)": [],
        "ray, 1 actor x 2 CPUs": [
            "--engine",
            "ray",
            "--ray-actors",
            "1",
            "--ray-cpus-per-actor",
            "2",
        ],
        "ray, 2 actors x 1 CPU": [
            "--engine",
            "ray",
            "--ray-actors",
            "2",
            "--ray-cpus-per-actor",
            "1",
        ],
    }
    print(f"{n:,} lines, all-MiniLM-L6-v2, {os.cpu_count()} CPUs\n")
    print("| engine | wall (s) | documents/s | same bytes as local | max abs diff to local |")
    print("|---|---:|---:|---|---:|")
    reference = None
    for k, (name, extra) in enumerate(runs.items()):
        out = work / f"run{k}.parquet"
        start = time.monotonic()
        subprocess.run(
            [exe, "embed", "--input", str(src), "--out", str(out), "--quiet", *extra],
            env=env,
            check=True,
            stderr=subprocess.DEVNULL,
        )
        wall = time.monotonic() - start
        data, vectors = out.read_bytes(), bertex.read(out).vectors
        reference = reference or (data, vectors)
        diff = float(abs(vectors - reference[1]).max())
        same = "yes" if data == reference[0] else "no"
        print(f"| {name} | {wall:.1f} | {n / wall:.0f} | {same} | {diff:.1e} |", flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
