"""Options shared by the commands, mapped onto the library's one options object."""

from __future__ import annotations

import argparse

from ..config import EmbedOptions, LoadOptions, choices_of, default_of


def add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-m",
        "--model",
        default=None,
        help="a model folder, a hub id, or the embedded "
        f"{default_of(LoadOptions, 'model')} (default; $BERTEX_MODEL)",
    )


def add_backend(p: argparse.ArgumentParser) -> None:
    for name in ("backend", "precision"):
        p.add_argument(
            f"--{name}",
            choices=choices_of(name),
            default=None,
            help=f"default: {default_of(LoadOptions, name)} ($BERTEX_{name.upper()})",
        )
    p.add_argument(
        "--device",
        default=None,
        help="cpu, cuda, cuda:N or auto (default: cpu; $BERTEX_DEVICE)",
    )
    p.add_argument(
        "--forward-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="fail (exit 1) when one forward pass has not returned after this long (default: "
        "20x the slowest pass seen, at least 60 s; $BERTEX_FORWARD_TIMEOUT)",
    )


def load_options(args: argparse.Namespace) -> LoadOptions:
    """Flags over BERTEX_* variables over the library's defaults."""
    return LoadOptions.from_env(
        model=getattr(args, "model", None),
        backend=getattr(args, "backend", None),
        precision=getattr(args, "precision", None),
        device=getattr(args, "device", None),
        forward_timeout=getattr(args, "forward_timeout", None),
    )


def _default(name: str) -> str:
    return f"default: {default_of(EmbedOptions, name)} ($BERTEX_{name.upper()})"


def add_embed_options(p: argparse.ArgumentParser) -> None:
    """Every flag defaults to None: the value comes from EmbedOptions.from_env, so the CLI,
    the library and the environment agree by construction."""
    p.add_argument(
        "-l",
        "--level",
        choices=choices_of("level"),
        default=None,
        dest="explicit_level",
        help="sentence (default: one vector per input; $BERTEX_LEVEL), token, word, window "
        "(one vector per window of a long text) or hidden_states",
    )
    p.add_argument(
        "--layers", help="Hugging Face numbering: 0 embeddings, -1 last; --layers=-4,-3 or all"
    )
    p.add_argument("--combine", choices=choices_of("combine"), help=_default("combine"))
    p.add_argument("--pooling", choices=choices_of("pooling"), help="default: the model's own")
    p.add_argument("--subword", choices=choices_of("subword"), help=_default("subword"))
    p.add_argument("--no-special-tokens", dest="special_tokens", action="store_const", const=False)
    p.add_argument(
        "--normalize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="default: sentence vectors as the model's own configuration says",
    )
    p.add_argument("--dtype", choices=choices_of("dtype"), help=_default("dtype"))
    p.add_argument("--long", choices=choices_of("long"), help=_default("long"))
    p.add_argument("--stride", type=int, help="tokens shared by neighbouring windows")
    p.add_argument("--max-length", type=int, help="tokens per window, special tokens included")
    p.add_argument(
        "--attentions", action="store_const", const=True, help="attention maps (token level)"
    )
    p.add_argument("--batch-tokens", type=int, help=_default("batch_tokens"))


def level_of(args: argparse.Namespace) -> str | None:
    """One rule, as in Python: --level, else BERTEX_LEVEL, else "sentence" (one vector per
    input). Only the deprecated --file keeps its old default, "token"."""
    return args.explicit_level


def embed_kwargs(args: argparse.Namespace) -> dict:
    """The flags given, over BERTEX_* variables, over the library's defaults."""
    given = {
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
        "is_split_into_words": args.split_words or None,
    }
    opts = EmbedOptions.from_env(**given)
    return {k: v for k, v in opts.to_dict().items() if k in given or v is not None}


def print_profile(timings: dict[str, float], inputs: int, idle: str = "") -> None:
    """`--profile` on stderr: each stage's wall seconds and microseconds per input, and the
    thread CPU of the stages that are Python's own work (bertex/clock.py). Stages overlap
    (tokenization runs beside the model), so they can sum past the wall time. `idle` says why
    nothing ran when nothing did; then the seconds of what did run (a resumed job's final write)
    stand alone, with no figure per input."""
    import sys

    from ..clock import CPU

    stages = [k for k in timings if not k.endswith(CPU)]
    if not stages or inputs == 0:
        said = f"profile: nothing was embedded in this run{idle}"
        if stages:
            said += "; " + ", ".join(
                f"{k} {timings[k]:.3f} s"
                + (f" (CPU {timings[k + CPU]:.3f} s)" if k + CPU in timings else "")
                for k in stages
            )
        print(said, file=sys.stderr)
        return
    n = max(1, inputs)

    def part(k: str) -> str:
        cpu = timings.get(k + CPU)
        more = f", CPU {1e6 * cpu / n:.1f}" if cpu is not None else ""
        return f"{k} {timings[k]:.3f} s ({1e6 * timings[k] / n:.1f} µs/input{more})"

    host = [k for k in stages if k != "forward"]
    own = [k for k in host if k + CPU in timings]
    wall = sum(timings[k] for k in host)
    cpu = sum(timings[k + CPU] for k in own)
    print(
        f"profile ({inputs:,} inputs): {', '.join(part(k) for k in stages)}; host work (all "
        f"but forward) {1e6 * wall / n:.1f} µs/input on the stage clocks; CPU of Python's own "
        f"stages ({', '.join(own)}) {1e6 * cpu / n:.1f} µs/input",
        file=sys.stderr,
    )


def dumps(doc: object, **kwargs: object) -> str:
    """JSON as every command prints or writes it: strict, so that jq and JSON.parse read it. A
    number that is not finite (NaN, infinity) is refused here, before anything is written,
    instead of becoming the bare NaN that strict parsers reject."""
    import json

    from ..errors import OutputError

    try:
        return json.dumps(doc, ensure_ascii=False, allow_nan=False, **kwargs)  # type: ignore[arg-type]
    except ValueError as e:
        raise OutputError(
            f"the output holds a number that is not finite ({e}); bertex writes only valid "
            "JSON: check the model's weights (bertex info) or the head file"
        ) from None
