"""The finished folder's own record: training.json, a model card (README.md) and the
loss / dev-score plot (training.png); and the checks on --out before a job starts."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from .._version import __version__
from ..errors import OutputError
from .checkpoint import Progress

FORMAT = "bertex-tune/1"


def previous_job(out: Path) -> str | None:
    """The fingerprint of the bertex tune job whose model --out holds (None if none)."""
    f = out / "training.json"
    if not f.is_file():
        return None
    try:
        return str(json.loads(f.read_text(encoding="utf-8")).get("fingerprint"))
    except (ValueError, UnicodeDecodeError):
        return None


def check_not_base(out: Path, base_folder: Path) -> None:
    """--out may not be the base model's own folder: even under --overwrite, the base would
    be gone, and the same command run again would tune the tuned model."""
    if out.exists() and out.resolve() == base_folder.resolve():
        raise OutputError(
            f"--out {out} is the base model's folder; write the tuned model to another folder"
        )


def check_writable(out: Path) -> None:
    """The folder --out goes in (or its nearest existing ancestor) must be a folder bertex may
    write to: the work folder and the model are made there.

    >>> check_writable(Path("/proc/version/m"))
    Traceback (most recent call last):
    ...
    bertex.errors.OutputError: --out /proc/version/m: /proc/version is not a folder
    """
    import os

    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"--out {out}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"--out {out}: {parent} is not writable")


def check_out(out: Path, fingerprint: str, overwrite: bool) -> bool:
    """True when --out already holds this very job's finished model (nothing to do).
    A file, or a folder with anything else in it, is refused unless --overwrite."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; pass a folder to write the model into")
    check_writable(out)
    if not out.exists() or not any(out.iterdir()):
        return False
    held = previous_job(out)
    if held == fingerprint and not overwrite:
        return True
    if not overwrite:
        what = "another tuning job's model" if held else "files of its own (not this job's model)"
        raise OutputError(
            f"--out {out} holds {what}; choose another --out, or add --overwrite to replace it "
            "(the old folder stays until the new model is complete)"
        )
    return False


def training_record(
    task: str,
    options: dict[str, Any],
    task_options: dict[str, Any],
    fingerprint: str,
    files: dict[str, dict[str, Any]],
    base: dict[str, Any],
    progress: Progress,
    extra: dict[str, Any],
) -> dict[str, Any]:
    kept = options["keep"]
    return {
        "format": FORMAT,
        "bertex_version": __version__,
        "task": task,
        "fingerprint": fingerprint,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "wall_seconds": round(progress.wall_seconds, 2),
        "options": options,
        "task_options": task_options,
        "data": files,
        "base_model": base,
        "steps": progress.global_step,
        "epochs": progress.epochs,
        "best_epoch": None if progress.best_epoch is None else progress.best_epoch + 1,
        "kept": kept,
        "kept_epoch": (
            len(progress.epochs)
            if kept == "last" or progress.best_epoch is None
            else progress.best_epoch + 1
        ),
        "step_losses": [round(x, 6) for x in progress.losses],
        **extra,
    }


def write_record(folder: Path, record: dict[str, Any]) -> None:
    (folder / "training.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    notes = plot(folder / "training.png", record)
    (folder / "README.md").write_text(model_card(record, notes), encoding="utf-8")


def plot(path: Path, record: dict[str, Any]) -> str:
    """Loss per step and the dev score per epoch; '' when written, else why not."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "no plot: matplotlib is not installed (pip install -e '.[analysis]')"
    epochs = record["epochs"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    ax1.plot(range(1, len(record["step_losses"]) + 1), record["step_losses"], lw=0.8)
    ax1.set(xlabel="optimizer step", ylabel="training loss", title="loss")
    if epochs:
        primary = epochs[0]["primary"]
        ax2.plot([e["epoch"] for e in epochs], [e["metrics"][primary] for e in epochs], "o-")
        ax2.set(xlabel="epoch", ylabel=primary, title=f"dev {primary}")
        ax2.set_xticks([e["epoch"] for e in epochs])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return ""


def model_card(record: dict[str, Any], note: str) -> str:
    opts, base = record["options"], record["base_model"]
    rows = "\n".join(
        f"| {e['epoch']} | {e['step']} | {e['train_loss']:.4f} | "
        + ", ".join(f"{k} {v:.4f}" for k, v in e["metrics"].items())
        + " |"
        for e in record["epochs"]
    )
    data = "\n".join(
        f"- {role}: `{d['path']}` ("
        + (f"{d['rows']} rows, " if d.get("rows") is not None else "")
        + f"SHA-256 `{d['sha256'][:16]}…`)"
        for role, d in record["data"].items()
    )
    library, load = (
        "sentence-transformers",
        (
            '`bertex embed --model DIR`, `bertex.load("DIR")`, `transformers.AutoModel` or\n'
            '`sentence_transformers.SentenceTransformer("DIR")`'
        ),
    )
    if record.get("head"):  # a task head (classify, tag, qa): a transformers model folder
        library = "transformers"
        load = f"`transformers.{record['head']}` (its labels are in config.json's id2label)"
    return f"""---
library_name: {library}
base_model: {base["name"]}
tags: [bertex, {record["task"]}]
---

# {record["task"]} model tuned by bertex {record["bertex_version"]}

From `{base["name"]}` (weights SHA-256 `{base["sha256"][:16]}…`), `bertex tune {record["task"]}`,
{record["steps"]} optimizer steps in {record["wall_seconds"]:.0f} s; the weights of epoch
{record["kept_epoch"]} are kept ({record["kept"]}).

{data}
- dev: {record.get("dev_source", "dev file")}{_test_line(record)}

| epoch | step | training loss | dev |
|---|---|---|---|
{rows}

{"![loss and dev score](training.png)" if not note else note}

Options: batch size {opts["batch_size"]}, learning rate {opts["lr"]}, warm-up {opts["warmup"]},
weight decay {opts["weight_decay"]}, max length {opts["max_length"] or "the model limit"},
seed {opts["seed"]}. Everything is in `training.json`.

Load it with {load}.
"""


def _test_line(record: dict[str, Any]) -> str:
    """The --test figures of a task that takes one (scored once, with the kept weights)."""
    test = record.get("test")
    if not test:
        return ""
    shown = ", ".join(f"{k} {v:.4f}" for k, v in test["metrics"].items())
    return f"\n- test (scored once, with the kept weights): `{test['path']}`: {shown}"
