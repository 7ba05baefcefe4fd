"""Every peer engine of the benchmark, by its row name in the tables."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Peer:
    path: str  # the row in the tables, e.g. "fastembed onnx fp32"
    env: str  # its environment (envs.py): one per engine, shared by its variants
    requirements: tuple[str, ...]
    script: str  # run in that environment: bench/peers/<script>
    variant: str  # handed to the script as --variant
    exact: bool  # an fp32 path: compared with bertex's exact path
    # the model as this engine reads it (an ONNX export, a converted folder), made once from
    # the model's folder into a cache folder; runs in bench's own (bertex's) environment
    prepare: Callable[[Path, Path], Path]
    no_deps: tuple[str, ...] = field(default=())

    def command(self, model_dir: Path, texts: Path, vectors: Path, reps: int) -> list[str]:
        from envs import python  # bench/peers is on sys.path (see speed.py)

        exe = python(self.env, list(self.requirements), list(self.no_deps))
        return [str(exe), str(HERE / self.script), "--variant", self.variant,
                "--model-dir", str(model_dir), "--texts", str(texts),
                "--vectors", str(vectors), "--reps", str(reps)]  # fmt: skip


def peers() -> dict[str, Peer]:
    sys.path.insert(0, str(HERE))
    import peer_ctranslate2
    import peer_fastembed
    import peer_openvino

    found = [*peer_fastembed.PEERS, *peer_openvino.PEERS, *peer_ctranslate2.PEERS]
    return {p.path: p for p in found}
