"""Host cost of bertex's embed path: Python work per input, measured two ways.

    python bench/host_path.py [--n 10000] [--reps 3] [--json out.json]

(a) The per-stage profile of `Model.embed` (tokenize, plan, forward, pool, report, output) in
    microseconds per input, on the default model (all-MiniLM-L6-v2) and on a 1-layer, 32-wide
    random-weight BERT with the default model's tokenizer, where the forward pass is nearly free
    and what is left is host work.
(b) On that tiny BERT, `model.embed` against a minimal loop in the same process: the fast
    tokenizer on length-sorted batches of 64, the forward pass, a masked mean, normalize.
    Both compute the same vectors (checked); the ratio is bertex's host overhead.
(c) Host work itself: the default model (its tokenizer, its width) with the backend's forward
    replaced by zeros of the shape it returns, so everything `model.embed` does but the
    forward pass, in wall and CPU (process time, the tokenizer's helper threads included)
    microseconds per input. The stage timers of (a) are wall clocks on threads that share the
    cores with the forward pass, so on a 2-core machine they also hold time the forward
    pass's threads had the cores; (c) has no such share.
(d) The command a user runs: `bertex embed --input FILE --out FILE.npy --profile` (a corpus
    job, the default model, a fresh process each rep): the stages its profile line prints, wall
    and (for Python's own stages) thread CPU µs per input, median over reps.

Short sentences (5 to 30 words) are the common case this measures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpora import corpus  # noqa: E402
from random_models import random_bert  # noqa: E402
from run_all import machine  # noqa: E402

STAGES = ("tokenize", "plan", "forward", "pool", "report", "output", "write")


def short_sentences(n: int, seed: int = 0) -> list[str]:
    """n sentences of 5 to 30 words (about 7 to 40 tokens), seeded."""
    return corpus(n, seed, mu=2.4, sigma=0.4, most=30)


def tiny_bert(folder: Path) -> Path:
    """1 layer, 32 wide, 2 heads, the default model's 30,522-token vocabulary."""
    from transformers import BertConfig

    if not (folder / "config.json").exists():
        cfg = BertConfig(
            hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
        )
        random_bert(folder, cfg)
    return folder


def minimal_loop(folder: str) -> Any:
    """texts -> (N, H) unit vectors: what a careful user writes by hand."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()

    def run(texts: list[str]) -> np.ndarray:
        # one torch thread, as each of bertex's forward workers has: on a 32-wide model two
        # OpenMP threads only wait for each other, and on a busy machine they spin for long
        torch.set_num_threads(1)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), model.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for lo in range(0, len(order), 64):
                rows = order[lo : lo + 64]
                b = tok(
                    [texts[i] for i in rows],
                    padding=True,
                    truncation=True,
                    max_length=512,
                    return_tensors="pt",
                )
                hidden = model(**b).last_hidden_state  # (B, L, H)
                m = b["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
                v = (hidden * m).sum(1) / m.sum(1).clamp(min=1)  # (B, H)
                out[rows] = torch.nn.functional.normalize(v, dim=-1).numpy()
        return out

    return run


def bertex_run(folder: str, timings: dict[str, float] | None = None) -> Any:
    import bertex

    model = bertex.load(folder)

    def run(texts: list[str]) -> np.ndarray:
        return model.embed(texts, pooling="mean", normalize=True, timings=timings).vectors

    return run


def interleaved(runs: dict[str, Any], texts: list[str], reps: int) -> dict[str, Any]:
    """Each run `reps` times, taking turns (a busy machine's slow spells hit both alike):
    {name: (times, last vectors)}."""
    for run in runs.values():
        run(texts[:256])  # warm-up
    got: dict[str, Any] = {name: ([], None) for name in runs}
    for _ in range(reps):
        for name, run in runs.items():
            start = time.perf_counter()
            out = run(texts)
            got[name] = (got[name][0] + [time.perf_counter() - start], out)
    return got


def profile(folder: str, texts: list[str], reps: int) -> dict[str, float]:
    """µs per input in each stage of Model.embed, summed over `reps` runs."""
    timings: dict[str, float] = {}
    run = bertex_run(folder, timings)
    run(texts[:256])
    timings.clear()
    for _ in range(reps):
        run(texts)
    return {k: 1e6 * v / (reps * len(texts)) for k, v in timings.items()}


def without_forward(folder: str, texts: list[str], reps: int) -> dict[str, float]:
    """(c): wall and CPU µs per input of `model.embed` with a forward pass that costs nothing
    (zeros of its output's shape), median over `reps` runs."""
    import bertex
    from bertex.types import ModelOutput

    model = bertex.load(folder)
    width = model.info.hidden_size

    def forward(batch: Any, want: Any) -> Any:  # (B, L) -> (B, L, 1, H)
        b, length = batch.input_ids.shape
        return ModelOutput(np.zeros((b, length, 1, width), np.float32), None, None)

    model.runner.backend.forward = forward
    model.embed(texts[:256])
    wall, cpu = [], []
    for _ in range(reps):
        w, c = time.perf_counter(), time.process_time()
        model.embed(texts, pooling="mean", normalize=True)
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    per = 1e6 / len(texts)
    return {"wall_us": statistics.median(wall) * per, "cpu_us": statistics.median(cpu) * per,
            "wall_us_best": min(wall) * per, "cpu_us_best": min(cpu) * per}  # fmt: skip


# a stage of the profile line; an older bertex wrote its share first: "(1%, 21.3 µs/input)"
STAGE = re.compile(r"(\w+) [0-9.]+ s \((?:[0-9]+%, )?([0-9.]+) µs/input(?:, CPU ([0-9.]+))?\)")


def cli_profile(texts: list[str], reps: int, trees: dict[str, str]) -> dict[str, Any]:
    """(d): the profile line of `bertex embed --input FILE --out FILE.npy --profile`, each
    stage's wall ("stage") and CPU ("stage:cpu") µs per input, median over `reps` processes
    per tree ({name: src folder}, "" for this one), the trees taking turns."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.txt"
        src.write_text("\n".join(texts) + "\n", encoding="utf-8")
        # as the `bertex` command runs it (main() reads sys.argv; the process is its own)
        main = (
            "import sys; from bertex.cli.main import main; sys.argv[0] = 'bertex'; sys.exit(main())"
        )
        for _ in range(reps):
            for name, tree in trees.items():
                cmd = [sys.executable, "-c", main, "embed", "--input", str(src), "--out"]
                cmd += [str(Path(tmp) / "out.npy"), "--overwrite", "--profile", "-q"]
                env = {**os.environ, **({"PYTHONPATH": tree} if tree else {})}
                err = subprocess.run(cmd, capture_output=True, text=True, env=env).stderr
                line = next(x for x in err.splitlines() if x.startswith("profile ("))
                got: dict[str, float] = {}
                for stage, wall, cpu in STAGE.findall(line):
                    got[stage] = float(wall)
                    if cpu:
                        got[stage + ":cpu"] = float(cpu)
                runs[name].append(got)
    return {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for n, rs in runs.items()}


def measure(n: int, reps: int, cache: Path, before: str | None = None) -> dict[str, Any]:
    import bertex

    texts = short_sentences(n)
    tiny = str(tiny_bert(cache / "host-path-tiny-bert"))
    default = str(bertex.models.source.resolve("all-MiniLM-L6-v2").folder)
    got = interleaved({"loop": minimal_loop(tiny), "bertex": bertex_run(tiny)}, texts, reps)
    (loop_t, loop_v), (ours_t, ours_v) = got["loop"], got["bertex"]
    cos = (loop_v * ours_v).sum(1)
    return {
        "n": n,
        "reps": reps,
        "cores": len(os.sched_getaffinity(0)),
        "loadavg": os.getloadavg()[0],
        "cpu": machine(),
        "minimal_us": 1e6 * statistics.median(loop_t) / n,
        "bertex_us": 1e6 * statistics.median(ours_t) / n,
        "minimal_us_best": 1e6 * min(loop_t) / n,
        "bertex_us_best": 1e6 * min(ours_t) / n,
        "min_cosine": float(cos.min()),
        "profile_tiny": profile(tiny, texts, reps),
        "profile_default": profile(default, texts, 1),
        "no_forward": without_forward(default, texts, reps),
        **cli_profile(
            texts, reps, {"cli_default": "", **({"cli_before": before} if before else {})}
        ),
    }


def host_us(prof: dict[str, float]) -> float:
    """Host work on the stage clocks (wall): every stage but forward."""
    return sum(v for k, v in prof.items() if k != "forward" and not k.endswith(":cpu"))


def own_cpu_us(prof: dict[str, float]) -> float:
    """The thread CPU of the stages that are Python's own work (bertex/clock.py)."""
    return sum(v for k, v in prof.items() if k.endswith(":cpu"))


def render(doc: dict[str, Any]) -> str:
    ratio = doc["bertex_us"] / doc["minimal_us"]
    best = doc["bertex_us_best"] / doc["minimal_us_best"]
    lines = [
        doc.get("cpu", ""),
        "",
        f"{doc['n']:,} short sentences (5-30 words), median (and best) of {doc['reps']} runs "
        "taking turns, "
        f"{doc['cores']} cores, load average {doc['loadavg']:.1f} at the start",
        "",
        "| 1-layer 32-wide BERT, default tokenizer | µs per input (best) | vs minimal loop "
        "(best) |",
        "|---|---:|---:|",
        f"| minimal loop (sorted batches of 64, forward, masked mean, normalize) | "
        f"{doc['minimal_us']:.0f} ({doc['minimal_us_best']:.0f}) | 1.00x |",
        f"| bertex `model.embed` | {doc['bertex_us']:.0f} ({doc['bertex_us_best']:.0f}) | "
        f"{ratio:.2f}x ({best:.2f}x) |",
        "",
        f"Same vectors: min cosine {doc['min_cosine']:.6f}.",
        "",
        "`--profile` stages, µs per input (forward is the model; the rest is host work):",
        "",
        "| model | " + " | ".join(STAGES) + " | host (all but forward) | CPU of Python's stages |",
        "|---|" + "---:|" * (len(STAGES) + 2),
    ]
    rows = [("tiny BERT", "profile_tiny"), ("all-MiniLM-L6-v2", "profile_default")]
    if "cli_default" in doc:  # (d): the command line's own profile, a corpus job to .npy
        rows.append(("all-MiniLM-L6-v2, `bertex embed --input --out x.npy`", "cli_default"))
    if "cli_before" in doc:  # the same command with --cli-before's tree, taking turns
        rows.append(("the same, `--cli-before` tree", "cli_before"))
    for name, key in rows:
        prof = doc[key]
        cells = " | ".join(f"{prof[s]:.1f}" if s in prof else "-" for s in STAGES)
        lines.append(f"| {name} | {cells} | {host_us(prof):.1f} | {own_cpu_us(prof):.1f} |")
    if "no_forward" in doc:
        nf = doc["no_forward"]
        lines += [
            "",
            "Host work with the forward pass removed (all-MiniLM-L6-v2's tokenizer and width, the "
            "backend returning zeros of its output's shape), µs per input, median (best):",
            "",
            "| wall | CPU (every thread) |",
            "|---:|---:|",
            f"| {nf['wall_us']:.1f} ({nf['wall_us_best']:.1f}) | "
            f"{nf['cpu_us']:.1f} ({nf['cpu_us_best']:.1f}) |",
        ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--cli-before", help="(d) also with this tree's src, taking turns")
    args = ap.parse_args()
    cache = Path(os.environ.get("BERTEX_CACHE") or Path.home() / ".cache" / "bertex") / "bench"
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory():
        doc = measure(args.n, args.reps, cache, args.cli_before)
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2))
    print(render(doc))


if __name__ == "__main__":
    main()
