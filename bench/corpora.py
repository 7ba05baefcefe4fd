"""The corpora of bench/speed.py: generated long-tailed sentences, long documents, STS-B dev."""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np

WORDS = (
    "the a man woman child dog cat is are was riding playing eating running with on in of "
    "to and hard hat dancing horse guitar river people watch near market city report "
    "government announced tuesday that new policy would affect thousands"
).split()


def corpus(
    n: int, seed: int = 0, mu: float = 2.8, sigma: float = 0.6, most: int = 180
) -> list[str]:
    """Long-tailed lengths: most sentences short, some long (about 8 to 190 tokens); words
    per sentence log-normal (mu, sigma), from 5 to `most`."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = min(most, max(5, int(rng.lognormvariate(mu, sigma))))
        out.append(" ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + ".")
    return out


def docstring_paragraphs(files: list[Path]) -> Iterator[str]:
    """Every docstring paragraph of the modules, classes and functions of `files`, in order,
    its whitespace collapsed (files Python cannot parse are skipped): real prose."""
    import ast

    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    for f in files:
        try:
            tree = ast.parse(f.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, kinds):
                for para in (ast.get_docstring(node) or "").split("\n\n"):
                    yield " ".join(para.split())


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
