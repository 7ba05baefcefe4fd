"""Side-by-side speed and agreement of the ways to get sentence vectors on a CPU.

    python bench/speed.py [--corpus generated|stsb|long] [--model all-MiniLM-L6-v2|bert-base]
                          [--n 2000] [--reps 3] [--paths a,b] [--json out.json]

Each path runs in its own process, several repetitions after a warm-up, on the same corpus:
`generated` (seeded, long-tailed lengths, 8 to ~190 tokens), `stsb` (the STS-B dev sentences
of ../shared/data/stsb, with each path's Spearman correlation to the gold scores) or `long`
(documents of 1k-10k tokens: bertex's windowed path; the peers truncate, so they are left
out). `--model bert-base` is a BERT with bert-base-uncased's configuration (12 layers, 768
wide) and seeded random weights, built on the fly with the default model's vocabulary.
Reported: sentences/s and tokens/s (median, min-max), peak memory, the fraction of this
machine's measured fp32 matmul peak, the cosine of each path's vectors to bertex's exact fp32
vectors. Every path mean-pools and L2-normalizes, as all-MiniLM-L6-v2 is meant to be used.
"""

from __future__ import annotations

import argparse
import json
import os
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
    "bertex onnx int8 (calibrated)",
    "bertex onnx int8 (calibrated on corpus)",
    "bertex openvino fp32",
    "bertex openvino bf16",
    "bertex openvino int8 (calibrated)",
    "bertex openvino int8 (calibrated on corpus)",
    "bertex ctranslate2 fp32",
    "bertex ctranslate2 int8",
)
sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
from child_protocol import peak_mib  # noqa: E402
from registry import peers as _peers  # noqa: E402

PEERS = _peers()
ALL_PATHS = (*PATHS, *PEERS)
from corpora import STSB, WORDS, corpus, long_documents, stsb  # noqa: E402,F401
from random_models import bert_base  # noqa: E402


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of ranks (ties broken by order; STS-B scores have few)."""
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def folder_of(model: str) -> str:
    import bertex

    return str(bertex.models.source.resolve(model).folder)


def _mean_pool(hidden, mask):  # (B, L, H), (B, L) -> (B, H), unit length
    import torch

    m = mask.unsqueeze(-1).to(hidden.dtype)
    v = (hidden * m).sum(1) / m.sum(1).clamp(min=1)
    return torch.nn.functional.normalize(v, dim=-1)


CALIBRATION_SAMPLE = 400  # "calibrated on corpus": texts drawn from the corpus (100 held out)


def calibration(path: str, model: str, texts: list[str]) -> list[str] | None:
    """What a calibrated row calibrates on: "(calibrated)" the OpenVINO peer's texts, which are
    not the benchmark's (the generator with another seed, and words of the vocabulary);
    "(calibrated on corpus)" a seeded sample of the job's own corpus, as a user's
    `--calibrate N` draws it. Its held-out quarter is part of the corpus here."""
    if "(calibrated on corpus)" in path:
        from bertex.calibrate import reservoir

        return reservoir(texts, CALIBRATION_SAMPLE)
    if "(calibrated)" in path:
        from peer_openvino import calibration_texts

        return calibration_texts(Path(folder_of(model)) / "vocab.txt")
    return None


def make_runner(path: str, model: str, texts: list[str] | None = None):
    """Returns f(texts) -> (N, H) vectors for one path; loading happens here, untimed (for a
    calibrated row: calibration, or the cached quantized model, and the quality gate)."""
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

    _, backend, precision = path.split()[:3]
    sample = calibration(path, model, texts or [])
    m = bertex.load(model, backend=backend, precision=precision, calibrate=sample)
    record = getattr(m.backend, "quantization", None)
    if record is not None:  # the gate's line, and the row says whether int8 really ran
        from bertex.calibrate import Quantization

        print(Quantization(**record).line(), file=sys.stderr)
        QUANTIZATION.update(record)
    # mean pooling + unit length, as every other path here (a plain BERT defaults to [CLS])
    return lambda texts: m.embed(texts, level="sentence", pooling="mean", normalize=True).vectors


QUANTIZATION: dict = {}  # a calibrated row's gate record (bertex.calibrate.Quantization)


def child(args: argparse.Namespace) -> None:
    """One path in this process: warm up, time `reps` runs, save the vectors, print JSON."""
    import warnings

    warnings.simplefilter("ignore")
    texts = json.loads(Path(args.texts).read_text())
    try:
        run = make_runner(args.path, args.model, texts)
    except ImportError as e:
        print(json.dumps({"error": f"not installed: {e.name}"}))
        return
    run(texts[: max(1, min(64, len(texts) // 8))])
    times = []
    for _ in range(args.reps):
        start = time.perf_counter()
        vectors = run(texts)
        times.append(time.perf_counter() - start)
    np.save(args.vectors, np.asarray(vectors, dtype=np.float32))
    print(json.dumps({"times": times, "peak_mib": peak_mib(), "quantization": QUANTIZATION}))


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


def model_flops(model: str, texts: list[str]) -> tuple[float, int, int]:
    """Useful FLOPs of one pass over the corpus as bertex runs it (real tokens of every
    window, no padding), those tokens, and the longest text's tokens."""
    import bertex

    m = bertex.load(model)
    cfg = m.backend.model.config
    h, layers, inter = cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size
    per_token_dense = 2 * layers * (4 * h * h + 2 * h * inter)
    flops, tokens, longest = 0.0, 0, 0
    for t in m.tokenize(texts):
        longest = max(longest, t.report.seen_tokens)
        for n in window_lengths(t.report.seen_tokens, t.report.n_windows):
            tokens += n
            flops += n * per_token_dense + layers * 4 * n * n * h  # + attention scores, mix
    return flops, tokens, longest


def window_lengths(seen: int, windows: int) -> list[int]:
    return [seen // windows + (i < seen % windows) for i in range(windows)]


def bench_cache() -> Path:
    """Where prepared models (exports, conversions) are kept between runs."""
    cache = Path(os.environ.get("BERTEX_CACHE") or Path.home() / ".cache" / "bertex")
    return cache / "bench"


DEFAULT_PATHS = {"long": [p for p in PATHS if p.startswith("bertex")]}


def load_corpus(kind: str, n: int) -> tuple[list[str], np.ndarray | None]:
    if kind == "stsb":
        return stsb()
    if kind == "long":
        return long_documents(n), None
    return corpus(n), None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="generated", choices=["generated", "stsb", "long"])
    ap.add_argument("--n", type=int, default=2000, help="sentences (documents for --corpus long)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--model", default="all-MiniLM-L6-v2", help="a model, or bert-base")
    ap.add_argument("--paths", help="comma-separated subset of: " + ", ".join(ALL_PATHS))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    ap.add_argument("--texts", help=argparse.SUPPRESS)
    ap.add_argument("--vectors", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.path:
        child(args)
        return
    work = Path(tempfile.mkdtemp(prefix="bertex-speed-"))
    if args.model == "bert-base":
        args.model_name, args.model = (
            "bert-base (random weights)",
            str(bert_base(bench_cache().parent / "bench-bert-base")),
        )
    else:
        args.model_name = args.model
    texts, gold = load_corpus(args.corpus, args.n)
    (work / "corpus.json").write_text(json.dumps(texts))
    flops, tokens, longest = model_flops(args.model, texts)
    peak = matmul_peak()
    paths = args.paths.split(",") if args.paths else DEFAULT_PATHS.get(args.corpus, list(ALL_PATHS))
    rows = {path: measure(path, args, work) for path in paths}
    ref = (
        np.load(rows["bertex torch fp32"]["vectors"])
        if "times" in rows.get("bertex torch fp32", {})
        else None
    )
    table = []
    for path, r in rows.items():
        if "times" not in r:
            table.append({"path": path, "error": r["error"]})
            continue
        table.append(row(path, r, len(texts), tokens, flops, peak, ref, gold))
    doc = {
        "corpus": args.corpus,
        "n": len(texts),
        "reps": args.reps,
        "tokens": tokens,
        "longest": longest,
        "matmul_gflops": peak,
        "model": args.model_name,
        "rows": table,
    }
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2))
    print(render(doc))


def measure(path: str, args: argparse.Namespace, work: Path) -> dict:
    """One path in a fresh process; its timings, peak memory and the file of its vectors."""
    vec = work / f"{len(list(work.glob('*.npy')))}.npy"
    texts = work / "corpus.json"
    peer = PEERS.get(path)
    if peer is not None:  # a peer engine, in its own environment (bench/peers/)
        try:
            model_dir = peer.prepare(Path(folder_of(args.model)), bench_cache())
            cmd = peer.command(model_dir, texts, vec, args.reps)
        except Exception as e:  # noqa: BLE001 - a peer that cannot be set up is a table row
            print(f"{path}: {e}", file=sys.stderr)
            return {"error": f"set-up failed: {str(e)[-200:]}", "vectors": str(vec)}
    else:
        cmd = [sys.executable, __file__, "--path", path, "--texts", str(texts)]
        cmd += ["--vectors", str(vec), "--reps", str(args.reps), "--model", args.model]
    p = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    lines = [x for x in p.stdout.splitlines() if x.startswith("{")]
    out = json.loads(lines[-1]) if lines else {"error": p.stderr.strip()[-300:]}
    out["vectors"] = str(vec)
    print(f"{path}: {out.get('times', out.get('error'))}", file=sys.stderr)
    return out


def row(path, r, n, tokens, flops, peak, ref, gold) -> dict:  # noqa: ANN001
    v = np.load(r["vectors"])
    med = statistics.median(r["times"])
    out = {
        "path": path,
        "exact": PEERS[path].exact if path in PEERS else not {"int8", "bf16"} & set(path.split()),
        "peer": not path.startswith("bertex"),
        "sent_s": n / med,
        "sent_s_min": n / max(r["times"]),
        "sent_s_max": n / min(r["times"]),
        "tok_s": tokens / med,
        "peak_mib": r["peak_mib"],
        "peak_frac": flops / med / 1e9 / peak,
    }
    q = r.get("quantization") or {}
    if q:  # a calibrated row: its own gate (held-out part of its sample), and what really ran
        out["gate"] = {k: q[k] for k in ("passed", "precision", "cosine_mean", "cosine_min")}
        if not q["passed"]:
            out["path"] = f"{path} [gate failed: fp32 ran]"
    if ref is not None:
        cos = (v * ref).sum(1) / np.linalg.norm(v, axis=1) / np.linalg.norm(ref, axis=1)
        out["cos_mean"], out["cos_min"] = float(cos.mean()), float(cos.min())
    if gold is not None:
        half = len(v) // 2
        out["spearman"] = spearman((v[:half] * v[half:]).sum(1), gold)
    return out


def render(doc: dict) -> str:
    what = {"generated": "sentences", "stsb": "STS-B dev sentences", "long": "documents"}
    lines = [
        f"{doc['n']:,} {what[doc['corpus']]} ({doc['tokens']:,} tokens the model sees, the "
        f"longest {doc.get('longest', '?')}: peers truncate at 256), "
        f"{doc['model']}, median of {doc['reps']} runs (min-max); fp32 matmul peak measured at "
        f"{doc['matmul_gflops']:.0f} GFLOP/s\n",
        "| path | per second | tokens/s | vs tutorial | vs s-t encode | of fp32 peak | "
        "peak RSS MiB | cosine to fp32 (mean / min) | STS-B Spearman |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    by = {r["path"]: r for r in doc["rows"]}
    base = by.get("tutorial loop", {}).get("sent_s")
    st = by.get("sentence-transformers encode", {}).get("sent_s")
    for r in doc["rows"]:
        if "error" in r:
            lines.append(f"| {r['path']} | {r['error'][-80:]} | | | | | | | |")
            continue
        rel = lambda b: f"{r['sent_s'] / b:.2f}x" if b else "-"  # noqa: E731
        cos = f"{r['cos_mean']:.5f} / {r['cos_min']:.5f}" if "cos_mean" in r else "-"
        rho = f"{r['spearman']:.4f}" if "spearman" in r else "-"
        lines.append(
            f"| {r['path']} | {r['sent_s']:.1f} ({r['sent_s_min']:.1f}-{r['sent_s_max']:.1f}) | "
            f"{r['tok_s']:,.0f} | {rel(base)} | {rel(st)} | {100 * r['peak_frac']:.0f}% | "
            f"{r['peak_mib']:.0f} | {cos} | {rho} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
