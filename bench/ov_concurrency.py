"""OpenVINO throughput of two bertex trees side by side in one run (issue 32: the fix that
serializes shape changes must cost under 3%).

    python bench/ov_concurrency.py                    # before: BASELINE, after: this tree
    python bench/ov_concurrency.py --before /tmp/other-tree/src --rounds 5

Each measurement is a fresh process (PYTHONPATH = one tree's src) that loads the default model
on OpenVINO, warms up on 64 texts as bench/speed.py does, then times --reps embeds of the
corpus; the two trees alternate, round by round, so the machine's load falls on both alike.
A row gives sentences/s (median over every timed rep of every round), the first rep alone
(mostly shapes the process has not run yet), and after/before ratios. Prints Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
BASELINE = "452c03d"  # main just before issue 32's fix (a git worktree of it is made here)

CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import bertex
texts = json.load(open(sys.argv[1]))
m = bertex.load("all-MiniLM-L6-v2", backend="openvino", precision=sys.argv[2])
m.embed(texts[:64])
times = []
for _ in range(int(sys.argv[3])):
    start = time.perf_counter()
    m.embed(texts)
    times.append(time.perf_counter() - start)
print(json.dumps({"times": times, "file": bertex.__file__}))
"""


def cpu() -> str:
    text = Path("/proc/cpuinfo").read_text()
    name = next((x.split(":", 1)[1].strip() for x in text.splitlines() if "model name" in x), "?")
    flags = next(
        (x.split(":", 1)[1].split() for x in text.splitlines() if x.startswith("flags")), []
    )
    wanted = sorted(f for f in flags if f.startswith(("avx512", "amx", "avx2")))
    return f"{name}, {os.cpu_count()} cores, {' '.join(wanted)}"


def run(tree: Path, corpus: Path, precision: str, reps: int, bound: float) -> list[float] | None:
    """One child's timed reps, or None when it passed `bound` seconds (a hang: the tree
    before issue 32's fix hung in this benchmark, at 0% CPU)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-c", CHILD, str(corpus), precision, str(reps)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=bound)
    except subprocess.TimeoutExpired:
        return None
    lines = [x for x in p.stdout.splitlines() if x.startswith("{")]
    if not lines:
        raise SystemExit(f"{tree} {precision}: {p.stderr.strip()[-500:]}")
    doc = json.loads(lines[-1])
    assert doc["file"].startswith(str(tree)), doc["file"]  # the tree asked for, not another
    return doc["times"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", type=Path, help=f"a baseline's src (default: {BASELINE})")
    ap.add_argument("--after", type=Path, default=HERE.parent / "src")
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--corpora", default="generated,stsb")
    ap.add_argument("--n", type=int, default=2000, help="sentences of the generated corpus")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--bound", type=float, default=900, help="seconds one child may take")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bertex-ovconc-"))
    if args.before is None:
        git = ["git", "-C", str(HERE.parent)]
        subprocess.run([*git, "worktree", "add", "-q", "--detach", str(work / "base"), BASELINE])
        args.before = work / "base" / "src"
    try:
        return measure(args, work)
    finally:
        if args.before == work / "base" / "src":
            subprocess.run([*git, "worktree", "remove", "--force", str(work / "base")])


def measure(args: argparse.Namespace, work: Path) -> int:
    from corpora import corpus, stsb

    texts = {"generated": corpus(args.n), "stsb": stsb()[0]}
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    times: dict[tuple[str, str, str], list[list[float]]] = {}
    hangs: dict[str, int] = {}
    for r in range(args.rounds):
        for name in args.corpora.split(","):
            path = work / f"{name}.json"
            path.write_text(json.dumps(texts[name]))
            for precision in args.precisions.split(","):
                order = list(trees) if r % 2 == 0 else list(trees)[::-1]
                for tree in order:
                    got = None
                    while got is None:  # a hung child is counted and run again
                        got = run(trees[tree], path, precision, args.reps, args.bound)
                        if got is None:
                            hangs[tree] = hangs.get(tree, 0) + 1
                    times.setdefault((name, precision, tree), []).append(got)
                    print(f"round {r + 1} {name} {precision} {tree}: {got}", file=sys.stderr)
    print(f"CPU: {cpu()}; {args.rounds} rounds x {args.reps} reps, trees alternating; ", end="")
    print(f"children that hung (past {args.bound:g} s, run again): {hangs or 'none'}\n")
    head = "| corpus | precision | before sent/s | after sent/s | after/before | first rep a/b |"
    print(head)
    print("|---|---|---|---|---|---|")
    for name in args.corpora.split(","):
        n = len(texts[name])
        for precision in args.precisions.split(","):
            rate, first = {}, {}
            for tree in trees:
                runs = times[(name, precision, tree)]
                rate[tree] = n / statistics.median(t for ts in runs for t in ts)
                first[tree] = n / statistics.median(ts[0] for ts in runs)
            print(
                f"| {name} ({n:,}) | {precision} | {rate['before']:.1f} | {rate['after']:.1f} | "
                f"{rate['after'] / rate['before']:.3f} | {first['after'] / first['before']:.3f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
