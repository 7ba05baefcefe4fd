"""Load time of a BERT-base-sized Google TF checkpoint (12 layers, hidden 768, vocab 30522,
random weights, written once): the first load (read, crc32c-check, map, convert, cache), the
cached load, and loading the converted Hugging Face folder directly, each in a fresh process.

    python bench/tf_load.py [--dir /tmp/bertex-tf-bench] [--adam]

--adam also writes the optimizer slots (adam_m, adam_v), as a training checkpoint has them
(Google's released checkpoints do not): 3x the data, skipped by the converter.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

BASE = dict(
    vocab_size=30522,
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    hidden_act="gelu",
    hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1,
    max_position_embeddings=512,
    type_vocab_size=2,
    initializer_range=0.02,
)
LOAD = """
import sys, time, json
t0 = time.perf_counter()
import bertex
from bertex.models.source import resolve
t1 = time.perf_counter()
m = bertex.load(sys.argv[1])
t2 = time.perf_counter()
resolve(sys.argv[1])  # the TF part of a load: find the cached conversion (or a plain folder)
t3 = time.perf_counter()
m.embed("hello world", level="sentence")
times = {"import_s": t1 - t0, "load_s": t2 - t1, "resolve_s": t3 - t2}
print(json.dumps({**times, "path": m.info.path}))
"""


def write(folder: Path, adam: bool) -> None:
    import torch
    from transformers import BertConfig, BertForPreTraining

    from tf_writer import bert_tf_tensors, write_checkpoint

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    state = BertForPreTraining(BertConfig(**BASE)).state_dict()
    write_checkpoint(folder / "bert_model.ckpt", bert_tf_tensors(state, adam=adam))
    (folder / "bert_config.json").write_text(json.dumps(BASE, indent=2))
    words = [f"w{i}" for i in range(BASE["vocab_size"] - 5)]
    (folder / "vocab.txt").write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words)
    )


def timed(path: Path, env: dict) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", LOAD, str(path)], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dir", type=Path, default=Path("/tmp/bertex-tf-bench"))
    p.add_argument("--adam", action="store_true")
    args = p.parse_args()
    folder = args.dir / "uncased_L-12_H-768_A-12"
    if not (folder / "bert_model.ckpt.index").exists():
        t = time.perf_counter()
        write(folder, args.adam)
        print(f"wrote {folder} in {time.perf_counter() - t:.1f} s")
    size = sum(p.stat().st_size for p in folder.glob("bert_model.ckpt.data-*"))
    cache = args.dir / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    env = {**os.environ, "BERTEX_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    first = timed(folder, env)
    cached = timed(folder, env)
    direct = timed(Path(cached["path"]), env)
    print(f"checkpoint data: {size / 1e6:.0f} MB")
    print(f"first load (convert + cache): {first['load_s']:.2f} s")
    print(f"cached load:                  {cached['load_s']:.2f} s")
    print(f"the converted HF folder:      {direct['load_s']:.2f} s")
    print(f"finding the cached conversion: {cached['resolve_s'] * 1000:.0f} ms of the cached load")
    print(f"(import bertex: {first['import_s']:.2f} s, not counted)")


if __name__ == "__main__":
    main()
