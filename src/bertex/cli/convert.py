"""`bertex convert SRC DST`: a Google TF BERT checkpoint folder -> a Hugging Face folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from . import common


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "convert",
        help="write a Google TF BERT checkpoint folder (bert_config.json, bert_model.ckpt.*, "
        "vocab.txt) as a Hugging Face folder; no TensorFlow needed",
    )
    p.add_argument("src", type=Path, help="the TF checkpoint folder")
    p.add_argument("dst", type=Path, help="the Hugging Face folder to write (new or empty)")
    p.add_argument("--overwrite", action="store_true", help="replace DST if it is not empty")
    p.add_argument("--format", choices=("human", "json"), default="human")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..models.tf_cache import convert_to

    record = convert_to(args.src, args.dst, overwrite=args.overwrite)
    if args.format == "json":
        print(common.dumps({"dst": str(args.dst), **record}))
        return 0
    skipped = ", ".join(f"{k} {v}" for k, v in sorted(record["tensors_skipped"].items()))
    heads = ", ".join(record["heads_kept"]) or "none in the checkpoint"
    print(f"converted {args.src} -> {args.dst}")
    print(f"  tensors loaded   {record['tensors_loaded']} ({record['dtype']})")
    print(f"  skipped          {skipped or 'none'}")
    print(f"  heads kept       {heads}")
    if record["task_heads_skipped"]:
        print(f"  task heads       skipped: {', '.join(record['task_heads_skipped'])}")
    print(f"  lowercase        {record['lowercase']} ({record['casing_reason']})")
    print(f"  checkpoint hash  {record['checkpoint_sha256']}")
    return 0
