"""The OpenVINO backend's data path, three ways in one process, reps interleaved (issue 32's
design choice; BENCHMARKS.md "OpenVINO concurrency"):

    python bench/ov_paths.py fp32 1000 7        # precision, generated sentences, reps

old: `infer(feeds)` with no lock (the code before the fix); settensor: the shipped path
(fresh input tensors set and the run started under the compiled model's lock, a shape never run
finishing under it); copy: the same lock, copying into the request's own tensors. Prints
seconds per rep and, as JSON, the first rep (new shapes) and the median of the others.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpora import corpus  # noqa: E402

import bertex  # noqa: E402
from bertex.backends import openvino_backend as ovb  # noqa: E402

precision = sys.argv[1]
texts = corpus(int(sys.argv[2]))
reps = int(sys.argv[3])


def old_run(self, _n, feeds):
    out = self._request.infer(feeds)
    return [np.asarray(out[o]) for o in self._outputs]


def copy_run(self, _n, feeds):
    shape = tuple(feeds["input_ids"].shape)
    request, shapes = self._request, self._shapes
    with shapes.lock:
        request.start_async(feeds)
        if shape not in shapes.seen:
            request.wait()
            shapes.seen.add(shape)
    request.wait()
    return [np.array(request.get_tensor(o).data) for o in self._outputs]


variants = {"old": old_run, "settensor": ovb._Request.run, "copy": copy_run}
models = {}
for k in variants:
    m = bertex.load("all-MiniLM-L6-v2", backend="openvino", precision=precision)
    models[k] = m
times = {k: [] for k in variants}
for r in range(reps):
    for k, fn in variants.items() if r % 2 == 0 else list(variants.items())[::-1]:
        ovb._Request.run = fn
        t = time.perf_counter()
        models[k].embed(texts)
        times[k].append(time.perf_counter() - t)
    print(r, {k: round(v[-1], 2) for k, v in times.items()}, flush=True)
print(
    json.dumps(
        {
            "precision": precision,
            **{
                k: {"first": round(v[0], 2), "median_rest": round(float(np.median(v[1:])), 2)}
                for k, v in times.items()
            },
        }
    )
)
