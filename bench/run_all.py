"""`make bench`: every benchmark in one go, written to BENCHMARKS.md with a chart beside it.

    python bench/run_all.py [--quick]

--quick runs smaller corpora (minutes instead of half an hour). The million-line memory run
is `python bench/corpus_memory.py 10000 100000 1000000` (11 minutes; not part of make bench).
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
sys.path.insert(0, str(ROOT / "bench" / "peers"))
from prose import GPU_MEASURED, PEERS_READING, READING, SEARCH_HISTORY  # noqa: E402
from speed import ALL_PATHS  # noqa: E402
from verdicts import verdict, verdict_peers  # noqa: E402


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


def chart(speed: dict, scaling: dict | None, path: Path) -> None:
    """Left: sentences/s of every path on the generated corpus. Right: tokens/s by length."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2 if scaling else 1, figsize=(13 if scaling else 8, 4.2))
    ax = axes[0] if scaling else axes
    rows = [r for r in speed["rows"] if "sent_s" in r]
    colors = ["#4a7ab5" if r["path"].startswith("bertex") else "#9a9a9a" for r in rows]
    ax.barh([r["path"] for r in rows], [r["sent_s"] for r in rows], color=colors)
    for i, r in enumerate(rows):
        ax.text(r["sent_s"], i, f" {r['sent_s']:.0f}", va="center", fontsize=8)
    ax.set_xlabel("sentences / s (median)")
    ax.set_title(f"{speed['model']}, {speed['n']:,} sentences, CPU")
    ax.invert_yaxis()
    if scaling:
        ax = axes[1]
        for name, r in scaling["results"].items():
            if "length" in r:
                xs = sorted(int(k) for k in r["length"])
                ax.plot(xs, [r["length"][str(x)] for x in xs], marker="o", label=f"bertex {name}")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("tokens per input")
        ax.set_ylabel("tokens / s")
        ax.set_title("cost against input length")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def speed_section(tmp: Path, name: str, *args: str) -> tuple[str, dict | None]:
    out = tmp / f"{name}.json"
    text = run("speed.py", *args, "--json", str(out))
    return text, json.loads(out.read_text()) if out.exists() else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    q = args.quick
    tmp = Path(tempfile.mkdtemp())
    reps = "2"
    everything = ",".join(p for p in ALL_PATHS if p != "transformers pipeline")
    speed, speed_doc = speed_section(
        tmp, "speed", "--n", "500" if q else "2000", "--reps", reps, "--paths", everything
    )
    sts, sts_doc = speed_section(
        tmp,
        "stsb",
        "--corpus",
        "stsb",
        "--reps",
        "1" if q else "2",
        "--paths",
        everything,
    )
    long_docs, _ = speed_section(
        tmp,
        "long",
        "--corpus",
        "long",
        "--n",
        "6" if q else "16",
        "--reps",
        "2",
        "--paths",
        "bertex torch fp32,bertex onnx fp32,bertex onnx int8",
    )
    base, base_doc = speed_section(
        tmp,
        "base",
        "--model",
        "bert-base",
        "--n",
        "100" if q else "200",
        "--reps",
        "2",
        "--paths",
        "tutorial loop,sentence-transformers encode,bertex torch fp32,bertex onnx fp32,"
        "bertex onnx int8",
    )
    scaling_json = tmp / "scaling.json"
    scaling = run(
        "scaling.py",
        "--tokens",
        "4096" if q else "16384",
        "--reps",
        reps,
        "--json",
        str(scaling_json),
    )
    scaling_doc = json.loads(scaling_json.read_text()) if scaling_json.exists() else None
    if speed_doc:
        chart(speed_doc, scaling_doc, ROOT / "benchmarks.png")
    memory = run("corpus_memory.py", *(["10000", "100000"] if q else ["10000", "100000"]))
    engines = run("corpus_engines.py", "1000" if q else "3000")
    servers = "bertex,bertex-int8,bertex-ct2-int8,infinity"  # the others: load_test.py alone
    load = run("load_test.py", "--seconds", "20" if q else "60", "--servers", servers)
    search_ann = run("search_bench.py", "ann", "--n", "20000" if q else "100000")

    search_stsb = run("search_bench.py", "stsb")
    probe = run("probe_bench.py", "--n", "2000" if q else "10000")
    host_path = run("host_path.py", "--n", "2000" if q else "10000", "--reps", "3")
    tune = run("tune_bench.py", "--epochs", "1" if q else "2", "--rounds", "5")
    mlm = run("mlm_bench.py", *(["--train-docs", "200", "--epochs", "1"] if q else []))
    ov_conc = run("ov_concurrency.py", "--n", "500" if q else "2000", "--rounds", "3")
    tasks = run("task_bench.py", *(["--epochs", "1"] if q else []))
    text = f"""# BENCHMARKS

Written by `make bench` (bench/run_all.py). Machines here are shared and noisy: compare rows
of one run, not numbers across runs.

{machine()}

## Sentence vectors: bertex against the peers

`python bench/speed.py` (generated corpus, long-tailed lengths)

{speed}

![sentences per second, and cost against input length](benchmarks.png)

### The targets of issue 4, on this run

{verdict({"MiniLM, generated": speed_doc, "MiniLM, STS-B": sts_doc, "BERT-base": base_doc})}

### The targets of issue 14 (the fast engines, at stated quality), on this run

Quality gates: cosine to bertex's fp32 vectors >= 0.99 mean and >= 0.97 min on the corpus,
and STS-B dev Spearman within 0.005 of fp32. Peers run in environments the bench makes
(bench/peers/, ~/.cache/bertex/bench-envs), each in its own process.

{verdict_peers({"MiniLM, generated": speed_doc, "MiniLM, STS-B": sts_doc}, sts_doc)}

Issue 29 raises the exact target to 1.05x, on the same gates:

{verdict_peers({"MiniLM, generated": speed_doc, "MiniLM, STS-B": sts_doc}, sts_doc, 1.05)}

{PEERS_READING}

### On a GPU

{GPU_MEASURED}

{READING}

### STS-B dev sentences (with each path's Spearman to the gold scores)

`python bench/speed.py --corpus stsb`

{sts}

### Long documents (1k-10k tokens, bertex's windowed path; the peers truncate)

`python bench/speed.py --corpus long`

{long_docs}

### A BERT-base-sized model (bert-base-uncased's configuration, random weights)

`python bench/speed.py --model bert-base`

{base}

## Host cost: the Python work per input

`python bench/host_path.py` (the per-stage profile in µs per input, and bertex against a
minimal hand-written loop on a 1-layer, 32-wide BERT whose forward pass is nearly free)

{host_path}

## Cost against input length and number of inputs

`python bench/scaling.py`

{scaling}

## Corpus jobs: peak memory against corpus size

`python bench/corpus_memory.py 10000 100000` (a BERT with tiny random weights: the memory is
the pipeline's). A million lines, run separately (`... 1000000`, 11 minutes): 565 MiB peak.

{memory}

## Corpus jobs: local engine and Ray

`python bench/corpus_engines.py 3000` (each engine a fresh process, start-up included)

{engines}

## Serving: 64 concurrent clients

`python bench/load_test.py --seconds 60`

{load}

## Search: the ANN index against exact search, and retrieval on STS-B

`python bench/search_bench.py ann --n 100000`: real vectors, the default model's on 100,000
docstring paragraphs of the installed Python packages (real English prose, 40-1,000
characters), 1,000 more held out as queries; each store built through `Index.add`; recall@10
of the graph path against exact numpy search; one query at a time, its embedding excluded.
Targets (embedded store): recall@10 >= 0.98, p50 <= 2 ms.

{search_ann}

{SEARCH_HISTORY}
`python bench/search_bench.py stsb` (the default model; queries are STS-B dev pairs scored >= 4)

{search_stsb}

## Probes: one embedding pass for every layer

`python bench/probe_bench.py --n 10000` (the time split: a plain embedding pass, the all-layer
feature pass, and the per-layer classifier fits)

{probe}

## Fine-tuning

`python bench/tune_bench.py --epochs 2 --rounds 5`: `bertex tune pairs` against
sentence-transformers' own trainer (same data, batch, loss, hyper-parameters and CPU, in one
run), and `bertex tune simcse`; held-out Spearman on STS-B pairs that no training sees.

{tune}

## Fine-tuning: masked-language modelling

`python bench/mlm_bench.py`: `bertex tune mlm` from the default model (a masked-LM head made
from its tied word embeddings) on the running Python's standard-library docstrings, a seeded
split into training and held-out paragraphs; held-out masked-token accuracy and perplexity
under one fixed masking, before and after each epoch, and `bertex fill` before and after.

{mlm}

## OpenVINO concurrency: the shape lock of issue 32 against the code before it

`python bench/ov_concurrency.py`: the OpenVINO backend of this tree against the tree just before
issue 32's fix (commit 452c03d, a git worktree), each measurement a fresh process, the trees
alternating round by round; target: after/before >= 0.97 for fp32 and bf16.

{ov_conc}

## Fine-tuning: task models

`python bench/task_bench.py` (`bertex tune classify|tag|qa` against a frozen linear head from
`bertex train`, the same base model and held-out split; real data shipped in packages)

{tasks}
"""
    (ROOT / "BENCHMARKS.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
