"""Options shared by the commands, mapped onto the library's one options object."""

from __future__ import annotations

import argparse
import os

from ..config import COMBINES, DTYPES, LEVELS, LONG_POLICIES, POOLINGS, SUBWORDS


def add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-m",
        "--model",
        default=os.environ.get("BERTEX_MODEL", "all-MiniLM-L6-v2"),
        help="a model folder, a hub id, or the embedded all-MiniLM-L6-v2 (default; $BERTEX_MODEL)",
    )


def add_embed_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-l",
        "--level",
        choices=LEVELS,
        default=None,
        dest="explicit_level",
        help="token (default for TEXT), sentence (default for --input), word, ...",
    )
    p.add_argument(
        "--layers", help="Hugging Face numbering: 0 embeddings, -1 last; --layers=-4,-3 or all"
    )
    p.add_argument("--combine", choices=COMBINES, default="concat")
    p.add_argument("--pooling", choices=POOLINGS, help="sentence level; default: the model's own")
    p.add_argument("--subword", choices=SUBWORDS, default="first")
    p.add_argument("--no-special-tokens", dest="special_tokens", action="store_false")
    p.add_argument("--normalize", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--dtype", choices=DTYPES, default="float32")
    p.add_argument("--long", choices=LONG_POLICIES, default="window")
    p.add_argument("--stride", type=int, help="tokens shared by neighbouring windows")
    p.add_argument("--max-length", type=int, help="tokens per window, special tokens included")
    p.add_argument("--attentions", action="store_true", help="attention maps (token level)")
    p.add_argument("--batch-tokens", type=int, default=2048)


def level_of(args: argparse.Namespace) -> str:
    if args.explicit_level is not None:
        return args.explicit_level
    return "sentence" if getattr(args, "input", None) is not None else "token"


def embed_kwargs(args: argparse.Namespace) -> dict:
    return {
        "level": level_of(args),
        "layers": args.layers,
        "combine": args.combine,
        "pooling": args.pooling,
        "subword": args.subword,
        "special_tokens": args.special_tokens,
        "normalize": args.normalize,
        "dtype": args.dtype,
        "long": args.long,
        "stride": args.stride,
        "max_length": args.max_length,
        "attentions": args.attentions,
        "batch_tokens": args.batch_tokens,
        "is_split_into_words": args.split_words,
    }
