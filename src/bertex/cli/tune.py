"""`bertex tune TASK`: change the encoder itself (as opposed to `bertex train`, which fits a
head on frozen features). Each task's flags are made from its options dataclasses, when that
task is chosen (its module imports torch; `bertex --help` does not wait for it)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

WHICH = (
    "tune changes the encoder's weights (minutes to hours; a better model for your data); "
    "train fits a linear head on frozen features (seconds; the encoder unchanged)"
)


def add_parser(sub: Any) -> None:
    from ..tune import task as registry

    p = sub.add_parser(
        "tune",
        help="fine-tune the encoder on your data (a better model in minutes; "
        "`train` fits a head in seconds)",
        description=f"Fine-tune the encoder, writing a standard model folder. {WHICH}.",
    )
    kinds = p.add_subparsers(dest="task", required=True, parser_class=_lazy(type(p)))
    for name in registry.names():
        kinds.add_parser(name, help=registry.summary(name), description=registry.summary(name))


def _lazy(base: type) -> type:
    class TaskParser(base):  # type: ignore[misc, valid-type]
        """Adds the task's flags the first time it parses (or prints --help)."""

        filled = False

        def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
            if not self.filled:
                self.filled = True
                add_task_flags(self, self.prog.split()[-1])
            return super().parse_known_args(args, namespace)

    return TaskParser


def add_task_flags(p: argparse.ArgumentParser, name: str) -> None:
    from ..tune import task as registry
    from ..tune.options import TuneOptions

    cls = registry.get(name)
    for options in (TuneOptions, cls.Options):
        for f in dataclasses.fields(options):
            _flag(p, f)
    p.epilog = cls.data_help or None
    p.set_defaults(run=run, task_class=cls, own_defaults=True)


def _flag(p: argparse.ArgumentParser, f: dataclasses.Field) -> None:
    flag = "--" + f.name.replace("_", "-")
    meta, default = f.metadata, f.default
    kwargs: dict[str, Any] = {"dest": f.name, "help": meta.get("help", "")}
    if isinstance(default, bool):
        kwargs["action"] = "store_true"
    else:
        kwargs["default"] = default
        kwargs["type"] = _type(f.type)
        if meta.get("choices"):
            kwargs["choices"] = meta["choices"]
        if meta.get("required"):
            kwargs["required"] = True
            kwargs.pop("default")
        elif default not in (None, ""):
            kwargs["help"] += f" (default: {default})"
    names = [flag, "-m"] if f.name == "model" else [flag]
    p.add_argument(*names, **kwargs)


def _type(annotation: Any) -> Any:
    text = str(annotation)
    return int if text == "int" else float if text == "float" else str


def run(args: argparse.Namespace) -> int:
    from ..tune.options import TuneOptions
    from ..tune.run import run as run_job

    cls = args.task_class
    opts = TuneOptions(**_pick(args, TuneOptions))
    task_opts = cls.Options(**_pick(args, cls.Options))
    result = run_job(cls, opts, task_opts)
    best = result.best
    shown = ", ".join(f"{k} {v:.4f}" for k, v in best["metrics"].items())
    print(f"{result.out}: epoch {best['epoch']} kept (dev {shown})")
    test = result.record.get("test")  # tasks with --test: scored once with the kept weights
    if test:
        scores = ", ".join(f"{k} {v:.4f}" for k, v in test["metrics"].items())
        print(f"{result.out}: test {scores} ({test['path']})")
    return 0


def _pick(args: argparse.Namespace, options: type) -> dict[str, Any]:
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(options)}
