"""Side-by-side speed and agreement of the ways to get sentence vectors on a CPU.

    python bench/speed.py [--n 2000] [--reps 3] [--model all-MiniLM-L6-v2] [--json out.json]

Each path runs in its own process, several repetitions after a warm-up, on the same seeded
corpus with long-tailed lengths. Reported: sentences/s and tokens/s (median, min-max), peak
memory, the fraction of this machine's measured fp32 matmul peak, and the cosine of each
path's vectors to bertex's exact fp32 vectors. Every path mean-pools and L2-normalizes, as
all-MiniLM-L6-v2 is meant to be used.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PATHS = (
    "tutorial loop",
    "transformers pipeline",
    "sentence-transformers encode",
    "bertex torch fp32",
    "bertex torch bf16",
    "bertex onnx fp32",
    "bertex onnx int8",
)
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


def folder_of(model: str) -> str:
    import bertex

    return str(bertex.loading.resolve(model).folder)


def _mean_pool(hidden, mask):  # (B, L, H), (B, L) -> (B, H), unit length
    import torch

    m = mask.unsqueeze(-1).to(hidden.dtype)
    v = (hidden * m).sum(1) / m.sum(1).clamp(min=1)
    return torch.nn.functional.normalize(v, dim=-1)


def make_runner(path: str, model: str):
    """Returns f(texts) -> (N, H) vectors for one path; loading happens here, untimed."""
    import torch

    folder = folder_of(model)
    if path == "tutorial loop":
        from transformers import AutoModel, AutoTokenizer

        tok, m = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()

        def run(texts):
            out = []
            with torch.no_grad():
                for i in range(0, len(texts), 32):
                    b = tok(
                        texts[i : i + 32],
                        padding=True,
                        truncation=True,
                        max_length=256,
                        return_tensors="pt",
                    )
                    out.append(_mean_pool(m(**b).last_hidden_state, b["attention_mask"]))
            return torch.cat(out).numpy()

        return run
    if path == "transformers pipeline":
        from transformers import pipeline

        pipe = pipeline("feature-extraction", model=folder, framework="pt", device=-1)

        def run(texts):
            # subtle: with batch_size the pipeline hands back padded rows; a plain mean over
            # them averages padding in (cosine 0.66 to the right vectors here), so cut each
            # output to its text's real length
            lengths = [
                len(ids)
                for ids in pipe.tokenizer(texts, truncation=True, max_length=256)["input_ids"]
            ]
            vecs = []
            for n, feats in zip(
                lengths, pipe(texts, batch_size=32, truncation=True, max_length=256)
            ):
                t = torch.tensor(feats[0])[:n]  # (T, H)
                vecs.append(torch.nn.functional.normalize(t.mean(0), dim=-1))
            return torch.stack(vecs).numpy()

        return run
    if path == "sentence-transformers encode":
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(folder, device="cpu")
        return lambda texts: st.encode(texts, batch_size=32, normalize_embeddings=True)
    import bertex

    _, backend, precision = path.split()
    m = bertex.load(model, backend=backend, precision=precision)
    return lambda texts: m.embed(texts, level="sentence").vectors


def child(args: argparse.Namespace) -> None:
    """One path in this process: warm up, time `reps` runs, save the vectors, print JSON."""
    import resource
    import warnings

    warnings.simplefilter("ignore")
    texts = json.loads(Path(args.corpus).read_text())
    try:
        run = make_runner(args.path, args.model)
    except ImportError as e:
        print(json.dumps({"error": f"not installed: {e.name}"}))
        return
    run(texts[:64])
    times = []
    for _ in range(args.reps):
        start = time.perf_counter()
        vectors = run(texts)
        times.append(time.perf_counter() - start)
    np.save(args.vectors, np.asarray(vectors, dtype=np.float32))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"times": times, "peak_mib": peak}))


def matmul_peak() -> float:
    """GFLOP/s of a large fp32 matmul with torch's default threads: the machine's ceiling."""
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    for _ in range(3):
        a @ b
    start, n = time.perf_counter(), 10
    for _ in range(n):
        a @ b
    return 2 * 2048**3 * n / (time.perf_counter() - start) / 1e9


def model_flops(model: str, texts: list[str]) -> tuple[float, int]:
    """Useful FLOPs of one pass over the corpus (real tokens, no padding), and its tokens."""
    import bertex

    m = bertex.load(model)
    cfg = m.backend.model.config
    h, layers, inter = cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size
    per_token_dense = 2 * layers * (4 * h * h + 2 * h * inter)
    flops, tokens = 0.0, 0
    for t in m.tokenize(texts):
        n = min(len(t.ids), m.info.max_length)
        tokens += n
        flops += n * per_token_dense + layers * 4 * n * n * h  # + attention scores and mix
    return flops, tokens


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help=argparse.SUPPRESS)
    ap.add_argument("--vectors", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.path:
        child(args)
        return
    work = Path(tempfile.mkdtemp(prefix="bertex-speed-"))
    texts = corpus(args.n)
    (work / "corpus.json").write_text(json.dumps(texts))
    flops, tokens = model_flops(args.model, texts)
    peak = matmul_peak()
    rows = {}
    for path in PATHS:
        vec = work / f"{PATHS.index(path)}.npy"
        cmd = [
            sys.executable,
            __file__,
            "--path",
            path,
            "--corpus",
            str(work / "corpus.json"),
            "--vectors",
            str(vec),
            "--reps",
            str(args.reps),
            "--model",
            args.model,
        ]
        p = subprocess.run(
            cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
        )
        lines = [x for x in p.stdout.splitlines() if x.startswith("{")]
        rows[path] = json.loads(lines[-1]) if lines else {"error": p.stderr[-300:]}
        rows[path]["vectors"] = str(vec)
        print(f"{path}: {rows[path].get('times', rows[path].get('error'))}", file=sys.stderr)
    ref = np.load(rows["bertex torch fp32"]["vectors"])
    table = []
    for path, r in rows.items():
        if "times" not in r:
            table.append({"path": path, "error": r["error"]})
            continue
        v = np.load(r["vectors"])
        cos = (v * ref).sum(1) / np.linalg.norm(v, axis=1) / np.linalg.norm(ref, axis=1)
        med = statistics.median(r["times"])
        table.append(
            {
                "path": path,
                "sent_s": args.n / med,
                "sent_s_min": args.n / max(r["times"]),
                "sent_s_max": args.n / min(r["times"]),
                "tok_s": tokens / med,
                "peak_mib": r["peak_mib"],
                "peak_frac": flops / med / 1e9 / peak,
                "cos_mean": float(cos.mean()),
                "cos_min": float(cos.min()),
            }
        )
    doc = {
        "n": args.n,
        "reps": args.reps,
        "tokens": tokens,
        "matmul_gflops": peak,
        "model": args.model,
        "rows": table,
    }
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2))
    print(render(doc))


def render(doc: dict) -> str:
    lines = [
        f"{doc['n']:,} sentences ({doc['tokens']:,} tokens), {doc['model']}, median of "
        f"{doc['reps']} runs (min-max); fp32 matmul peak measured at "
        f"{doc['matmul_gflops']:.0f} GFLOP/s\n",
        "| path | sentences/s | tokens/s | vs tutorial | vs s-t encode | of fp32 peak | "
        "peak RSS MiB | cosine to fp32 (mean / min) |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    by = {r["path"]: r for r in doc["rows"]}
    base = by.get("tutorial loop", {}).get("sent_s")
    st = by.get("sentence-transformers encode", {}).get("sent_s")
    for r in doc["rows"]:
        if "error" in r:
            lines.append(f"| {r['path']} | {r['error'][:60]} | | | | | | |")
            continue
        rel = lambda b: f"{r['sent_s'] / b:.2f}x" if b else "-"  # noqa: E731
        lines.append(
            f"| {r['path']} | {r['sent_s']:.0f} ({r['sent_s_min']:.0f}-{r['sent_s_max']:.0f}) | "
            f"{r['tok_s']:,.0f} | {rel(base)} | {rel(st)} | {100 * r['peak_frac']:.0f}% | "
            f"{r['peak_mib']:.0f} | {r['cos_mean']:.5f} / {r['cos_min']:.5f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
