"""How bertex's cost grows with sequence length and with the number of inputs.

    python bench/scaling.py [--tokens 16384] [--reps 3] [--paths "torch fp32,onnx int8"]

Length: inputs of exactly 16, 32, ..., 512 tokens (special tokens included), the same number of
tokens at every length, so a flat tokens/s means cost linear in length; attention's L^2 term
shows as a fall at long lengths. Size: the seeded generated corpus at 250 to 4,000 sentences,
to show that throughput does not depend on how many inputs one call gets. Each backend runs
in its own process; medians of `reps` runs after a warm-up. The model is all-MiniLM-L6-v2's
transformer without its sentence-transformers files (which cap inputs at 256 tokens; the
position table holds 512), mean-pooled.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

LENGTHS = (16, 32, 64, 128, 256, 512)
SIZES = (250, 1000, 4000)


def exact_length(model, length: int) -> str:  # noqa: ANN001
    """A text that tokenizes to exactly `length` tokens with the model's special tokens."""
    words = ["river", "horse", "market", "guitar"]
    n = length - model.tokenizer.template.n_special(False)
    text = " ".join(words[i % 4] for i in range(n))
    assert len(model.tokenize(text).ids) == length, length
    return text


def full_length_minilm() -> Path:
    """The default model's transformer and tokenizer files, without the 256-token cap."""
    import shutil

    import bertex

    src = Path(bertex.models.source.resolve("all-MiniLM-L6-v2").folder)
    cache = Path(os.environ.get("BERTEX_CACHE") or Path.home() / ".cache" / "bertex")
    dst = cache / "bench-minilm-512"
    if not (dst / "model.safetensors").exists():
        dst.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "model.safetensors", "special_tokens_map.json"):
            shutil.copy(src / name, dst / name)
        for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
            shutil.copy(src / name, dst / name)
    return dst


def child(path: str, tokens: int, reps: int) -> dict:
    import warnings

    warnings.simplefilter("ignore")
    sys.path.insert(0, str(Path(__file__).parent))
    import speed

    import bertex

    backend, precision = path.split()
    model = bertex.load(full_length_minilm(), backend=backend, precision=precision)
    model.embed(speed.corpus(64))  # warm-up (and the ONNX graph, once)

    def timed(texts: list[str]) -> float:
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            model.embed(texts, level="sentence", pooling="mean", normalize=True)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    by_length = {}
    for n in LENGTHS:
        texts = [exact_length(model, n)] * max(1, tokens // n)
        by_length[n] = len(texts) * n / timed(texts)  # tokens/s
    by_size = {n: n / timed(speed.corpus(n, seed=n)) for n in SIZES}  # sentences/s
    return {"length": by_length, "size": by_size}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=16384)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--paths", default="torch fp32,onnx fp32,onnx int8")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.tokens, args.reps)))
        return
    results = {}
    for path in args.paths.split(","):
        cmd = [sys.executable, __file__, "--child", path, "--tokens", str(args.tokens)]
        cmd += ["--reps", str(args.reps)]
        p = subprocess.run(
            cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
        )
        lines = [x for x in p.stdout.splitlines() if x.startswith("{")]
        results[path] = json.loads(lines[-1]) if lines else {"error": p.stderr.strip()[-300:]}
        print(f"{path}: {results[path]}", file=sys.stderr)
    doc = {"tokens": args.tokens, "reps": args.reps, "results": results}
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2))
    print(render(doc))


def render(doc: dict) -> str:
    ok = {p: r for p, r in doc["results"].items() if "error" not in r}
    bad = [
        f"- bertex {p}: failed ({r['error'][-120:]})"
        for p, r in doc["results"].items()
        if "error" in r
    ]
    head = " | ".join(f"bertex {p}" for p in ok)
    lines = [
        f"Tokens/s by input length ({doc['tokens']:,} tokens per point, median of "
        f"{doc['reps']} runs; all-MiniLM-L6-v2):\n",
        f"| tokens per input | {head} |",
        "|---:|" + "---:|" * len(ok),
    ]
    for n in LENGTHS:
        cells = " | ".join(f"{r['length'][str(n)]:,.0f}" for r in ok.values())
        lines.append(f"| {n} | {cells} |")
    lines += ["", "Sentences/s by number of inputs in one call (generated corpus):\n"]
    lines += [f"| inputs | {head} |", "|---:|" + "---:|" * len(ok)]
    for n in SIZES:
        cells = " | ".join(f"{r['size'][str(n)]:,.0f}" for r in ok.values())
        lines.append(f"| {n:,} | {cells} |")
    return "\n".join(lines + bad)


if __name__ == "__main__":
    main()
