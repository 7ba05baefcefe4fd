"""The corpora of bench/speed.py: generated long-tailed sentences, long documents, STS-B dev."""

from __future__ import annotations

import csv
import math
import random
from pathlib import Path

import numpy as np

WORDS = (
    "the a man woman child dog cat is are was riding playing eating running with on in of "
    "to and hard hat dancing horse guitar river people watch near market city report "
    "government announced tuesday that new policy would affect thousands"
).split()


def corpus(n: int, seed: int = 0) -> list[str]:
    """Long-tailed lengths: most sentences short, some long (about 8 to 190 tokens)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = min(180, max(5, int(rng.lognormvariate(2.8, 0.6))))
        out.append(" ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + ".")
    return out


STSB = Path(__file__).resolve().parents[2] / "shared" / "data" / "stsb" / "stsb-en-dev.csv"


def long_documents(n: int, seed: int = 1) -> list[str]:
    """Documents of about 1,000 to 10,000 tokens, log-uniform, sentences of the same words."""
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        target = int(math.exp(rng.uniform(math.log(900), math.log(9000))))  # words
        sentences, words = [], 0
        while words < target:
            k = max(5, int(rng.lognormvariate(2.5, 0.5)))
            sentences.append(" ".join(rng.choice(WORDS) for _ in range(k)).capitalize() + ".")
            words += k
        docs.append(" ".join(sentences))
    return docs


def stsb() -> tuple[list[str], np.ndarray]:
    """The STS-B dev pairs as one list (first sentences, then second ones) and gold scores."""
    with STSB.open(encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return [r[0] for r in rows] + [r[1] for r in rows], np.array([float(r[2]) for r in rows])
