"""One tuning job from options to a published folder: check everything, train, write, rename.

Order matters for "bad input loses nothing": the options, the base model, the data and --out
are all checked before the work folder is touched or anything trains.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import task as registry
from .checkpoint import WorkFolder
from .data import sha256
from .encoder import load_base
from .options import TuneOptions, fingerprint, split_kwargs, to_dict
from .output import check_not_base, check_out, training_record, write_record
from .progress import Reporter
from .runtime import resumed, start
from .task import Task


@dataclass(frozen=True)
class TuneResult:
    """What `bertex.tune` returns: the folder and its training.json, read back."""

    out: Path
    record: dict[str, Any]
    already_done: bool = False

    @property
    def best(self) -> dict[str, Any]:
        """The kept epoch's figures."""
        return self.record["epochs"][self.record["kept_epoch"] - 1]


def tune(task: str, **kwargs: Any) -> TuneResult:
    """Tune `task` ("pairs", "simcse", ...) with the options of `bertex tune TASK --help`,
    as keyword arguments (train=, out=, model=, epochs=, ...). Returns a TuneResult."""
    cls = registry.get(task)
    common, own = split_kwargs(cls.Options, kwargs)
    return run(cls, TuneOptions(**common), cls.Options(**own))


def run(cls: type[Task], opts: TuneOptions, task_opts: Any, stream: Any = None) -> TuneResult:
    import json

    out = Path(opts.out).expanduser()
    base = load_base(opts)
    check_not_base(out, base.source.folder)
    task = cls(opts, task_opts)
    data = task.read(base)
    hashes = {role: sha256(path) for role, path in data.files.items()}
    hashes["model"] = base.sha256
    job = fingerprint(cls.name, to_dict(opts, task_opts), hashes)
    rt = start(opts.device, opts.precision)
    report = Reporter(rt.main, opts.quiet, stream)
    if check_out(out, job, opts.overwrite):
        report.say(f"{out} already holds this job's finished model (same data and options)")
        if rt.main and WorkFolder(out).fingerprint() == job:  # killed after the rename
            WorkFolder(out).discard()
        return TuneResult(out, json.loads((out / "training.json").read_text("utf-8")), True)
    work = WorkFolder(out)
    if rt.main:
        work.claim(job, opts.overwrite)
    rt.barrier()
    if not work.output_done():
        rt, changed = resumed(rt, work.meta(), opts.precision)  # a checkpoint's precision
        for note in (*data.notes, *([changed] if changed else [])):
            report.say(note)
        report.say(
            f"tuning {base.name} ({cls.name}): {len(data.train)} training rows, dev: "
            f"{data.dev_source}; {rt.device.type}, {rt.precision}"
            + (f", {rt.world} processes" if rt.world > 1 else "")
        )
        try:
            _train_and_write(cls, task, base, data, opts, task_opts, rt, work, report, job, hashes)
        except KeyboardInterrupt:
            report.say(
                f"stopped; the same command resumes from the last checkpoint in {work.root} "
                f"(one every {opts.save_steps} steps and every epoch)"
            )
            raise
    if rt.main:
        work.publish()
        report.say(f"wrote {out}")
    rt.barrier()
    return TuneResult(out, json.loads((out / "training.json").read_text("utf-8")))


def _train_and_write(
    cls: type[Task], task: Task, base: Any, data: Any, opts: TuneOptions, task_opts: Any,
    rt: Any, work: WorkFolder, report: Reporter, job: str, hashes: dict[str, str],
) -> None:  # fmt: skip
    import shutil

    from .trainer import Trainer

    model, progress = Trainer(task, base, data, opts, rt, work, report).run()
    if not rt.main:
        return
    if opts.keep == "best":
        best = work.best()
        if best is not None:
            model.load_state_dict(best)
    folder = work.output()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    model.to("cpu")
    task.save(model, base, folder)
    files = {
        role: {"path": str(p), "sha256": hashes[role], "rows": _rows(data, role)}
        for role, p in data.files.items()
    }
    base_info = {"name": base.name, "path": str(base.folder), "sha256": base.sha256}
    extra = {
        "dev_source": data.dev_source,
        "notes": [*data.notes, *rt.notes],
        "world_size": rt.world,
        "device": rt.device.type,
        "precision": rt.precision,
        **task.describe(),
    }
    record = training_record(
        cls.name, dataclasses.asdict(opts), dataclasses.asdict(task_opts), job, files,
        base_info, progress, extra,
    )  # fmt: skip
    write_record(folder, record)
    work.mark_output_done()


def _rows(data: Any, role: str) -> int | None:
    rows = {"train": data.train, "dev": data.dev}.get(role)
    return None if rows is None else len(rows)
