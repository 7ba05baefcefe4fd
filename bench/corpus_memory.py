"""Peak memory of a corpus job against corpus size: it must not grow with the corpus.

    python bench/corpus_memory.py 10000 100000 1000000

Generates seeded corpora, runs `bertex embed --input ... --out ...parquet` for each in a fresh
process, and prints the peak resident memory of each run. The model is a BERT with the default
model's vocabulary and tiny random weights (2 layers, 32 wide): memory growth is the pipeline's,
not the model's, and a million lines then take minutes instead of hours.
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

WORDS = (
    "the a man woman child dog cat is are was riding playing eating running with on in of "
    "to and hard hat dancing horse guitar river people watch near market city"
).split()


def tiny_model(folder: Path) -> Path:
    from random_models import random_bert  # bench/ is this script's directory
    from transformers import BertConfig

    cfg = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    return random_bert(folder, cfg)


def corpus(path: Path, n: int) -> None:
    rng = random.Random(n)
    with path.open("w") as f:
        for _ in range(n):
            f.write(" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 60))) + "\n")


def peak_of(cmd: list[str]) -> tuple[float, float]:
    """(peak RSS MiB, seconds) of one child process."""
    start = time.monotonic()
    child = subprocess.Popen(cmd)
    _, status, usage = os.wait4(child.pid, 0)
    if status:
        raise SystemExit(f"{cmd} failed with status {status}")
    return usage.ru_maxrss / 1024, time.monotonic() - start


def main(sizes: list[int]) -> None:
    work = Path(tempfile.mkdtemp(prefix="bertex-mem-"))
    model = tiny_model(work / "model")
    bertex_bin = str(Path(sys.executable).with_name("bertex"))
    print("| lines | peak RSS (MiB) | wall (s) | lines/s |\n|---:|---:|---:|---:|")
    for n in sizes:
        src = work / f"c{n}.txt"
        corpus(src, n)
        out = work / f"c{n}.parquet"
        peak, wall = peak_of(
            [
                bertex_bin,
                "embed",
                "--model",
                str(model),
                "--input",
                str(src),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        print(f"| {n:,} | {peak:.0f} | {wall:.0f} | {n / wall:,.0f} |", flush=True)
    shutil.rmtree(work)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10_000, 100_000, 1_000_000])
