"""The CTranslate2 peer (see registry.Peer).

The model is converted once, in float32, by CTranslate2's own converter (run in the peer's
environment: it needs transformers 4.x and torch) into `<bench cache>/ct2-<hash>`; every
variant loads that one folder and quantizes its weights at load time with `compute_type`
(CTranslate2 converts the weights to the requested type when the model is loaded, so one
float32 conversion serves float32 and int8).

No bf16 rows: CTranslate2 computes bfloat16 and int8_bfloat16 on CUDA only (src/types.cc,
`mayiuse_bfloat16` is false for every CPU, avx512_bf16 and AMX included; on this avx512_bf16
machine `Encoder(compute_type="bfloat16")` raises "do not support efficient bfloat16
computation"). CPU_TYPES lists what its CPU build computes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from envs import python  # bench/peers is on sys.path (see registry.peers)
from registry import Peer

ENV = "ctranslate2"
# one environment for the runtime and its converter: transformers 4.x (the converter's BERT
# loader predates transformers 5), torch held to the local CPU build by constraints.txt
REQUIREMENTS = ("ctranslate2==4.8.5", "transformers>=4.40,<5", "torch", "tokenizers", "numpy")
# compute_type -> exact (compared with bertex's exact fp32 path); int8_float32: int8 weights and
# dynamically quantized int8 activations in the matmuls, float32 everywhere else
CPU_TYPES = {"float32": True, "int8_float32": False}


def fingerprint(model_folder: Path) -> str:
    """The model's configuration, its weight files' names and sizes, and the engine's pins."""
    h = hashlib.sha256("\n".join(REQUIREMENTS).encode())
    h.update((model_folder / "config.json").read_bytes())
    for f in sorted(model_folder.glob("*")):
        if f.suffix in (".safetensors", ".bin", ".json") and f.is_file():
            h.update(f"{f.name}:{f.stat().st_size}".encode())
    return h.hexdigest()[:16]


def prepare(model_folder: Path, cache: Path) -> Path:
    """The model in CTranslate2's format (float32 weights), converted once and kept in `cache`."""
    out = cache / f"ct2-{fingerprint(model_folder)}"
    if (out / "model.bin").exists():
        return out
    converter = python(ENV, list(REQUIREMENTS)).parent / "ct2-transformers-converter"
    tmp = out.with_name(out.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    # the folder's config names BertModel: converted as the plain encoder; the runner reads
    # last_hidden_state only (a pooler, if the checkpoint has one, feeds pooler_output alone)
    cmd = [str(converter), "--model", str(model_folder), "--output_dir", str(tmp),
           "--quantization", "float32", "--copy_files", "tokenizer.json"]  # fmt: skip
    subprocess.run(cmd, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    tmp.rename(out)
    return out


def _peer(compute_type: str, exact: bool) -> Peer:
    return Peer(path=f"ctranslate2 {compute_type.removesuffix('_float32')}", env=ENV,
                requirements=REQUIREMENTS, script="run_ctranslate2.py", variant=compute_type,
                exact=exact, prepare=prepare)  # fmt: skip


PEERS: list[Peer] = [_peer(compute_type, exact) for compute_type, exact in CPU_TYPES.items()]
