"""Resumable state in a work folder beside --out, written then renamed.

    OUT.tune-state/
      job.json          the job's fingerprint: a resume must be the same job
      state/            the last checkpoint: model.pt (weights), trainer.pt (optimizer,
                        scheduler, RNG states, position, history), meta.json (its step and
                        precision: what a resume checks before it loads anything)
      best.pt           the best epoch's weights (kept unless --keep last)
      output/           the finished folder, before it is renamed onto OUT
      output.done       says output/ is complete (then only the rename is left)

A checkpoint is written to state.tmp/, flushed, then renamed over state/ (the previous one is
moved to state.old/ first and removed after): a kill -9 at any instant leaves state/ or
state.old/ whole, and a .tmp folder is never read.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import OutputError
from ..sinks.atomic import fsync_dir, write_bytes_atomic


@dataclass
class Progress:
    """Where the loop is, and what it has seen: saved in every checkpoint."""

    epoch: int = 0  # the epoch under way (0-based)
    step_in_epoch: int = 0  # optimizer steps done in this epoch
    global_step: int = 0
    wall_seconds: float = 0.0  # training time over every run of this job
    losses: list[float] = field(default_factory=list)  # one per optimizer step
    epochs: list[dict[str, Any]] = field(default_factory=list)  # per-epoch figures
    best_epoch: int | None = None
    best_score: float | None = None


class WorkFolder:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.root = out.with_name(out.name + ".tune-state")

    # --- the job's identity -----------------------------------------------------------
    def fingerprint(self) -> str | None:
        f = self.root / "job.json"
        if not f.exists():
            return None
        return str(json.loads(f.read_text(encoding="utf-8")).get("fingerprint"))

    def claim(self, fingerprint: str, overwrite: bool) -> None:
        """Start or continue a job here: a checkpoint of another job is refused, or cleared
        under --overwrite."""
        held = self.fingerprint()
        if held == fingerprint:
            return
        if held is not None and not overwrite:
            raise OutputError(
                f"{self.root} holds a checkpoint of another tuning job (other data or "
                "options); run that job's command to resume it, or add --overwrite to "
                "start this one from scratch"
            )
        # subtle: no job.json but a folder is what a kill inside this very rmtree can leave
        # (job.json gone, another job's state/ not yet): never resumed, always cleared
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True)
        write_bytes_atomic(
            self.root / "job.json", json.dumps({"fingerprint": fingerprint}).encode()
        )

    # --- checkpoints ------------------------------------------------------------------
    def save(
        self,
        model: torch.nn.Module,
        trainer_state: dict[str, Any],
        meta: dict[str, Any] | None = None,
    ) -> None:
        tmp, cur, old = self._dirs()
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        _save(model.state_dict(), tmp / "model.pt")
        _save(trainer_state, tmp / "trainer.pt")
        if meta is not None:
            with open(tmp / "meta.json", "w", encoding="utf-8") as f:
                json.dump(meta, f)
                f.flush()
                os.fsync(f.fileno())
        fsync_dir(tmp)
        if cur.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(cur, old)
        os.replace(tmp, cur)
        fsync_dir(self.root)
        shutil.rmtree(old, ignore_errors=True)

    def load(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(model state dict, trainer state) of the last whole checkpoint, or None."""
        folder = self._last()
        if folder is None:
            return None
        weights = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
        state = torch.load(folder / "trainer.pt", map_location="cpu", weights_only=False)
        return weights, state

    def meta(self) -> dict[str, Any]:
        """The last whole checkpoint's meta.json, read without loading the checkpoint; {} when
        there is none, {"precision": None} when it was written before checkpoints had one."""
        folder = self._last()
        if folder is None:
            return {}
        if not (folder / "meta.json").is_file():
            return {"precision": None}
        path = folder / "meta.json"
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            meta = type(e).__name__
        if not _valid_meta(meta):  # tampered or half-written: its precision is not trusted
            raise OutputError(
                f"{path} is not a checkpoint record bertex wrote ({str(meta)[:80]!r}; want "
                '{"step": N, "precision": "fp32"|"bf16", "notes": [...]}); remove '
                f"{self.root} to start the job afresh"
            )
        return dict(meta)

    def _last(self) -> Path | None:
        """The folder of the last whole checkpoint: state/, or state.old/ when a kill came
        between a checkpoint's two renames (then old/ is whole and state/ is missing)."""
        _, cur, old = self._dirs()
        for folder in (cur, old):
            if (folder / "trainer.pt").exists() and (folder / "model.pt").exists():
                return folder
        return None

    def _dirs(self) -> tuple[Path, Path, Path]:
        return self.root / "state.tmp", self.root / "state", self.root / "state.old"

    # --- the best epoch's weights -----------------------------------------------------
    def save_best(self, model: torch.nn.Module) -> None:
        import io

        buf = io.BytesIO()
        torch.save(model.state_dict(), buf)
        write_bytes_atomic(self.root / "best.pt", buf.getvalue())

    def best(self) -> dict[str, Any] | None:
        f = self.root / "best.pt"
        return torch.load(f, map_location="cpu", weights_only=True) if f.exists() else None

    # --- the finished output ----------------------------------------------------------
    def output(self) -> Path:
        return self.root / "output"

    def output_done(self) -> bool:
        return (self.root / "output.done").exists()

    def mark_output_done(self) -> None:
        fsync_tree(self.output())
        write_bytes_atomic(self.root / "output.done", b"ok\n")

    def discard(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def publish(self) -> None:
        """Rename the finished folder onto --out (an earlier output moves aside first and is
        removed only once the new one is in place), then drop the work folder."""
        aside = self.root / "previous"
        if self.out.exists():
            shutil.rmtree(aside, ignore_errors=True)
            os.replace(self.out, aside)
        os.replace(self.output(), self.out)
        fsync_dir(self.out.parent)
        shutil.rmtree(self.root, ignore_errors=True)


def _valid_meta(meta: Any) -> bool:
    """meta.json as save() writes it: {"step": int, "precision": "fp32"|"bf16", "notes": [str]}."""
    return (
        isinstance(meta, dict)
        and isinstance(meta.get("step"), int)
        and meta.get("precision") in ("fp32", "bf16")
        and isinstance(meta.get("notes", []), list)
        and all(isinstance(n, str) for n in meta.get("notes", []))
    )


def _save(obj: Any, path: Path) -> None:
    with open(path, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())


def fsync_tree(folder: Path) -> None:
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())
    fsync_dir(folder)
