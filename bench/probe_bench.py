"""Probe speed: a linear probe over every layer of the default model costs about one embedding
pass (all hidden states of a batch come from one forward pass) plus the classifier fits.
It runs in `make bench` (bench/run_all.py, 10,000 sentences); by hand:

    python bench/probe_bench.py            # 2,000 sentences
    python bench/probe_bench.py --n 10000  # the issue's size (minutes on 2 CPU cores)

Sentences: the STS-B dev sentences (first of each pair, cycled to reach n), labelled by their
pair's gold score (>= 2.5 "similar", else "different"): a real, if weak, sentence label.
Reported: seconds for one plain embedding pass (last layer, the default pooling), for the
all-layer feature pass the probe makes, and for the k-fold fits of all layers.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from itertools import cycle, islice
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
STSB = ROOT.parent / "shared/data/stsb/stsb-en-dev.csv"


def sentences(n: int) -> tuple[list[str], np.ndarray]:
    with STSB.open(encoding="utf-8", newline="") as f:
        rows = [(r[0], "similar" if float(r[2]) >= 2.5 else "different") for r in csv.reader(f)]
    picked = list(islice(cycle(rows), n))
    return [t for t, _ in picked], np.asarray([y for _, y in picked])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="sentences (10000: the issue's size)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()

    import bertex
    from bertex.analysis.layers import default_pooling, sentence_features
    from bertex.analysis.probe import ProbeOptions, _predict_per_layer

    model = bertex.load()
    texts, y = sentences(args.n)
    pooling = default_pooling(model)
    t0 = time.perf_counter()
    model.embed(texts)
    t1 = time.perf_counter()
    x = sentence_features(model, texts, [pooling], args.batch_size)[pooling]  # (N, L+1, H)
    t2 = time.perf_counter()
    opts = ProbeOptions(folds=args.folds, control=False, batch_size=args.batch_size)
    preds = _predict_per_layer(x, y, None, None, opts)
    t3 = time.perf_counter()
    accuracy = [round(float((p == y).mean()), 3) for p in preds]
    report = {
        "model": model.info.name,
        "sentences": args.n,
        "layers": x.shape[1],
        "plain_embedding_pass_s": round(t1 - t0, 2),
        "all_layer_feature_pass_s": round(t2 - t1, 2),
        "classifier_fits_s": round(t3 - t2, 2),
        "fits": x.shape[1] * args.folds,
        "accuracy_per_layer": accuracy,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
