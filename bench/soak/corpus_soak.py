"""Soak a corpus job: kill -9 loops and (where tmpfs can be mounted) a full disk, each followed
by a resume whose output must be byte-identical to an uninterrupted run's.

    python bench/soak/corpus_soak.py                       # small: ~1 minute on 2 cores
    python bench/soak/corpus_soak.py --rows 20000 --kills 30 --seconds 900

Each round starts `bertex embed --input ... --out ...` as a process, waits until a random number
of shards is committed (or a random delay passes, which lands some kills in the final merge or
clean-up), sends SIGKILL, and goes on; the last round runs to the end. Exit status 0 when every
output matches the reference, 1 otherwise; a JSON summary is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WORDS = "the man is riding a horse and the child plays the guitar near the river".split()


def tiny_model(folder: Path) -> Path:
    from random_models import random_bert
    from transformers import BertConfig

    cfg = BertConfig(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        vocab_size=30522,
        max_position_embeddings=128,
    )
    return random_bert(folder, cfg)


def corpus(path: Path, n: int, seed: int) -> Path:
    rng = random.Random(seed)
    lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 60))) for _ in range(n)]
    for i in range(0, n, 97):
        lines[i] = ""  # bad rows: recorded in the errors file, never dropped silently
    path.write_text("\n".join(lines) + "\n")
    return path


def command(model: Path, src: Path, out: Path, shard_rows: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bertex.cli.main",
        "embed",
        "--model",
        str(model),
        "--input",
        str(src),
        "--out",
        str(out),
        "--shard-rows",
        str(shard_rows),
        "--quiet",
    ]


def committed(out: Path) -> int:
    try:
        manifest = out.with_name(out.name + ".parts") / "manifest.json"
        return len(json.loads(manifest.read_text())["shards"])
    except (OSError, ValueError):
        return 0


def outputs(out: Path) -> dict[str, bytes]:
    return {
        p.name.replace(out.name, "OUT"): p.read_bytes()
        for p in sorted(out.parent.glob(out.name + "*"))
        if p.is_file()
    }


def kill_once(cmd: list[str], out: Path, target: int, delay: float, env: dict) -> str:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start = time.monotonic()
    while proc.poll() is None and committed(out) < target and time.monotonic() - start < delay:
        time.sleep(0.002)
    if proc.poll() is not None:
        return f"ended (exit {proc.returncode})"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = " (the output was already complete: killed in the clean-up or later)"
    return f"killed at {committed(out)} shards" + (done if out.exists() else "")


def kill_loop(
    args: argparse.Namespace,
    model: Path,
    src: Path,
    work: Path,
    env: dict,
    ref: dict[str, bytes],
    deadline: float,
) -> dict:
    rng = random.Random(args.seed)
    out = work / "kill" / "out.parquet"
    out.parent.mkdir()
    shards = -(-args.rows // args.shard_rows)
    events = []
    for _ in range(args.kills):
        if time.monotonic() > deadline:
            break
        target = rng.randint(1, shards + 1)  # shards + 1: the kill lands in finalize or later
        events.append(
            kill_once(
                command(model, src, out, args.shard_rows), out, target, rng.uniform(0.5, 20.0), env
            )
        )
    done = subprocess.run(command(model, src, out, args.shard_rows), env=env, capture_output=True)
    same = done.returncode == 0 and outputs(out) == ref
    return {
        "kills": events,
        "final_exit": done.returncode,
        "identical": same,
        "stderr": done.stderr.decode()[-500:] if not same else "",
    }


def disk_full(
    args: argparse.Namespace, model: Path, src: Path, work: Path, env: dict, ref: dict[str, bytes]
) -> dict:
    mnt = work / "tmpfs"
    mnt.mkdir()
    small = max(64 << 10, sum(len(v) for v in ref.values()) // 2)
    if (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={small}", "tmpfs", str(mnt)], capture_output=True
        ).returncode
        != 0
    ):
        return {"skipped": "mount -t tmpfs is not permitted here"}
    try:
        out = mnt / "out.parquet"
        full = subprocess.run(
            command(model, src, out, args.shard_rows), env=env, capture_output=True
        )
        err = full.stderr.decode().strip().splitlines()
        subprocess.run(["mount", "-o", f"remount,size={small * 8}", str(mnt)], check=True)
        done = subprocess.run(
            command(model, src, out, args.shard_rows), env=env, capture_output=True
        )
        return {
            "full_exit": full.returncode,
            "full_message": err[-1] if err else "",
            "one_line": len(err) == 1 and "Traceback" not in full.stderr.decode(),
            "resumed_exit": done.returncode,
            "identical": done.returncode == 0 and outputs(out) == ref,
        }
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=3000)
    p.add_argument("--shard-rows", type=int, default=100)
    p.add_argument("--kills", type=int, default=5)
    p.add_argument("--seconds", type=float, default=300, help="stop starting kill rounds after")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-disk-full", action="store_true")
    args = p.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    deadline = time.monotonic() + args.seconds
    work = Path(tempfile.mkdtemp(prefix="bertex-soak-"))
    try:
        model = tiny_model(work / "model")
        src = corpus(work / "in.txt", args.rows, args.seed)
        ref_out = work / "ref" / "out.parquet"
        ref_out.parent.mkdir()
        t = time.monotonic()
        subprocess.run(command(model, src, ref_out, args.shard_rows), env=env, check=True)
        report = {
            "rows": args.rows,
            "shard_rows": args.shard_rows,
            "reference_s": round(time.monotonic() - t, 1),
        }
        ref = outputs(ref_out)
        report["kill_loop"] = kill_loop(args, model, src, work, env, ref, deadline)
        if not args.no_disk_full:
            report["disk_full"] = disk_full(args, model, src, work, env, ref)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report, indent=2))
    ok = report["kill_loop"]["identical"] and report.get("disk_full", {}).get("identical", True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
