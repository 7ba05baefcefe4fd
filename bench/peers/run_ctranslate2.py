"""One CTranslate2 row of bench/speed.py, run in the peer's own environment (see registry.Peer).

    python run_ctranslate2.py --variant COMPUTE_TYPE --model-dir D --texts T --vectors V --reps R

Loads the converted encoder with `compute_type=COMPUTE_TYPE` (untimed), warms up, then times R
runs over all texts: tokenization (the HF `tokenizers` library, the model's tokenizer.json,
truncation at 256, [CLS] ... [SEP] as bertex), length-sorted batches of 32 through
`Encoder.forward_batch`, mean pooling over each text's real tokens, L2 normalization, input order
restored. Prints {"times": [...], "peak_mib": ...}.

Threads: CTranslate2's CPU parallelism is `intra_threads` (OpenMP threads inside each op) times
`inter_threads` (workers, each running whole batches, in parallel only when batches are submitted
concurrently: CTranslate2's docs/parallel.md, "Data parallelism"). Used: one worker per core with
one thread each, the batches submitted from as many Python threads (forward_batch releases the
GIL); on the 2-core dev machine this beat one worker of 2 OpenMP threads in every try
(docs/peers-ctranslate2.md).
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ctranslate2
import numpy as np
from child_protocol import time_runs  # beside this script
from tokenizers import Tokenizer

MAX_TOKENS, BATCH = 256, 32


def tokenizer(model_dir: Path) -> Tokenizer:
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()  # all-MiniLM-L6-v2's tokenizer.json pads and truncates to 128: undo both
    tok.enable_truncation(MAX_TOKENS)
    return tok


def pooled(encoder: ctranslate2.Encoder, batch: list[list[int]]) -> np.ndarray:
    """Mean over each row's real tokens, unit length: (B, H)."""
    out = encoder.forward_batch(batch)
    hidden = np.asarray(out.last_hidden_state.to(ctranslate2.DataType.float32))  # (B, T, H)
    lengths = np.array([len(ids) for ids in batch])  # (B,)
    mask = np.arange(hidden.shape[1])[None, :] < lengths[:, None]  # (B, T)
    v = (hidden * mask[..., None]).sum(1) / lengths[:, None]
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def runner(model_dir: Path, compute_type: str):
    tok = tokenizer(model_dir)
    workers = len(os.sched_getaffinity(0))
    encoder = ctranslate2.Encoder(str(model_dir), device="cpu", compute_type=compute_type,
                                  intra_threads=1, inter_threads=workers)  # fmt: skip
    pool = ThreadPoolExecutor(workers)  # submits batches concurrently, one per CT2 worker

    def run(texts: list[str]) -> np.ndarray:
        ids = [e.ids for e in tok.encode_batch(texts)]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        batches = [[ids[i] for i in order[s : s + BATCH]] for s in range(0, len(order), BATCH)]
        ordered = np.concatenate(list(pool.map(lambda b: pooled(encoder, b), batches)))  # (N, H)
        out = np.empty_like(ordered)
        out[order] = ordered  # back to the input order
        return out

    return run


def main() -> None:
    ap = argparse.ArgumentParser()
    for name in ("--variant", "--model-dir", "--texts", "--vectors"):
        ap.add_argument(name, required=True)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    run = runner(Path(args.model_dir), args.variant)
    time_runs(run, Path(args.texts), Path(args.vectors), args.reps)


if __name__ == "__main__":
    main()
