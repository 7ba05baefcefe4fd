"""The peers' own Python environments, made by the bench itself and reused between runs.

Each peer engine runs in a virtual environment of its own under `BERTEX_BENCH_ENVS`
(default ~/.cache/bertex/bench-envs/NAME), so that its pins (an older transformers, its own
onnxruntime) never touch bertex's. torch, where a peer needs it, is held to the CPU build of
constraints.txt (an unpinned torch pulls a multi-GB CUDA build). An environment is made once;
a stamp records the requirements it was made for, and a change of them remakes it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def home() -> Path:
    env = os.environ.get("BERTEX_BENCH_ENVS")
    return Path(env) if env else Path.home() / ".cache" / "bertex" / "bench-envs"


def python(name: str, requirements: list[str], no_deps: list[str] = ()) -> Path:
    """The interpreter of environment `name` with `requirements` installed (made if needed).

    `no_deps` are installed after, without their dependencies (e.g. the embedded model)."""
    folder = home() / name
    exe = folder / "bin" / "python"
    spec = "\n".join([*requirements, "--no-deps", *no_deps])
    stamp = folder / ".bench-ready"
    digest = hashlib.sha256(spec.encode()).hexdigest()
    if exe.exists() and stamp.exists() and stamp.read_text() == digest:
        return exe
    print(f"bench: making the environment {folder} (once)", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(folder)], check=True)
    pip = [str(exe), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "-c", str(ROOT / "constraints.txt"), *requirements], check=True)
    if no_deps:
        subprocess.run([*pip, "--no-deps", *no_deps], check=True)
    stamp.write_text(digest)
    return exe
