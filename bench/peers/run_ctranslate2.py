"""One CTranslate2 row of bench/speed.py, run in the peer's own environment (see registry.Peer).

    python run_ctranslate2.py --variant COMPUTE_TYPE --model-dir D --texts T --vectors V --reps R

Loads the converted encoder with `compute_type=COMPUTE_TYPE` (untimed), warms up, then times R
runs over all texts: tokenization (the HF `tokenizers` library, the model's tokenizer.json,
truncation at 256, [CLS] ... [SEP] as bertex), length-sorted batches of 32 through
`Encoder.forward_batch`, mean pooling over each text's real tokens, L2 normalization, input order
restored. Prints {"times": [...], "peak_mib": ...}.

Threads: CTranslate2's CPU parallelism is `intra_threads` (OpenMP threads inside each op) times
`inter_threads` (workers, each running a whole batch, useful only when batches are submitted
concurrently; docs/parallel.md). One worker with all cores (intra_threads = cores,
inter_threads = 1) is used: on this 2-core machine it was as fast as or faster than 2 workers
of 1 thread fed by 2 submitting threads (docs/peers-ctranslate2.md).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import ctranslate2
import numpy as np
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
    cores = len(os.sched_getaffinity(0))
    encoder = ctranslate2.Encoder(str(model_dir), device="cpu", compute_type=compute_type,
                                  intra_threads=cores, inter_threads=1)  # fmt: skip

    def run(texts: list[str]) -> np.ndarray:
        ids = [e.ids for e in tok.encode_batch(texts)]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out: np.ndarray | None = None
        for start in range(0, len(order), BATCH):
            rows = order[start : start + BATCH]
            v = pooled(encoder, [ids[i] for i in rows])
            if out is None:
                out = np.empty((len(ids), v.shape[1]), dtype=np.float32)
            out[rows] = v
        return out

    return run


def main() -> None:
    ap = argparse.ArgumentParser()
    for name in ("--variant", "--model-dir", "--texts", "--vectors"):
        ap.add_argument(name, required=True)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    texts = json.loads(Path(args.texts).read_text())
    run = runner(Path(args.model_dir), args.variant)
    run(texts[: max(1, min(64, len(texts) // 8))])
    times = []
    for _ in range(args.reps):
        start = time.perf_counter()
        vectors = run(texts)
        times.append(time.perf_counter() - start)
    np.save(args.vectors, vectors)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"times": times, "peak_mib": peak}))


if __name__ == "__main__":
    main()
