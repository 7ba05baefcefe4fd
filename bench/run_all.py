"""`make bench`: every benchmark in one go, written to BENCHMARKS.md with a chart beside it.

    python bench/run_all.py [--quick]

--quick runs smaller corpora (minutes instead of half an hour).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(script: str, *args: str) -> str:
    p = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if p.returncode:
        return f"(failed: {p.stderr.strip()[-400:]})"
    return p.stdout.strip()


def machine() -> str:
    import numpy
    import onnxruntime
    import torch
    import transformers

    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    import bertex
    from bertex.backends.precision import cpu_flags, native_bf16

    simd = ", ".join(sorted(f for f in cpu_flags() if f.startswith(("avx", "amx")))) or "none"
    return (
        f"- CPU: {cpu}, {__import__('os').cpu_count()} cores; SIMD: {simd}; native bf16: "
        f"{'yes' if native_bf16() else 'no'}\n"
        f"- Python {platform.python_version()}, torch {torch.__version__}, transformers "
        f"{transformers.__version__}, onnxruntime {onnxruntime.__version__}, numpy "
        f"{numpy.__version__}, bertex {bertex.__version__}"
    )


def chart(doc: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in doc["rows"] if "sent_s" in r]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.barh([r["path"] for r in rows], [r["sent_s"] for r in rows], color="#4a7ab5")
    ax.set_xlabel("sentences / s (median)")
    ax.set_title(f"{doc['model']}, {doc['n']:,} sentences, CPU")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    quick = args.quick
    speed_json = Path(tempfile.mkdtemp()) / "speed.json"
    speed = run(
        "speed.py",
        "--n",
        "500" if quick else "2000",
        "--reps",
        "2" if quick else "3",
        "--json",
        str(speed_json),
    )
    if speed_json.exists():
        chart(json.loads(speed_json.read_text()), ROOT / "benchmarks.png")
    memory = run("corpus_memory.py", *(["10000", "100000"] if quick else []))
    engines = run("corpus_engines.py", "1000" if quick else "3000")
    load = run("load_test.py", "--seconds", "20" if quick else "60")
    text = f"""# BENCHMARKS

Written by `make bench` (bench/run_all.py). Machines here are shared and noisy: compare rows
of one run, not numbers across runs.

{machine()}

## Sentence vectors: bertex against the peers

{speed}

![sentences per second](benchmarks.png)

## Corpus jobs: peak memory against corpus size

{memory}

## Corpus jobs: local engine and Ray

{engines}

## Serving: 64 concurrent clients

{load}
"""
    (ROOT / "BENCHMARKS.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
