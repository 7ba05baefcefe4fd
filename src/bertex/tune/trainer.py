"""The one training loop every task runs on: AdamW with linear warm-up and decay, gradient
accumulation, bf16 autocast, DDP, checkpoints every --save-steps and every epoch, resume, dev
evaluation after every epoch, and the best epoch's weights kept.

Why not transformers' Trainer: its checkpoints are written in place (checkpoint-N/ is read
back by a resume even when a kill -9 left it half-written), and its per-epoch "best model"
needs a checkpoint folder per epoch; this loop is 200 lines that a reader can check, and the
model, losses and collators are the field's own (transformers, sentence-transformers).

Determinism, so that a resumed job ends with the weights of an uninterrupted one: the data
order is a permutation seeded by (seed, epoch); each optimizer step reseeds torch from
(seed, rank, step) before its forward passes (dropout), and collate gets a generator seeded by
(seed, epoch, micro-batch); a checkpoint holds the weights, the optimizer and the scheduler.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from .checkpoint import Progress, WorkFolder
from .options import TuneOptions
from .progress import Reporter
from .runtime import Runtime, evaluating, to_device, wrap
from .task import Base, Metrics, Step, Task, TaskData


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers, stable across runs and platforms.

    >>> derive_seed(42, 0, 7) == derive_seed(42, 0, 7) != derive_seed(42, 0, 8)
    True
    """
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


@dataclass(frozen=True)
class Plan:
    """How the examples fall into micro-batches, steps and epochs.

    >>> p = Plan(examples=10, batch=2, world=1, accum=2, epochs=3, max_steps=0)
    >>> p.micro_per_epoch, p.steps_per_epoch, p.total_steps, p.epochs_needed
    (5, 3, 9, 3)
    """

    examples: int
    batch: int  # per process
    world: int
    accum: int
    epochs: int
    max_steps: int

    @property
    def micro_per_epoch(self) -> int:
        g = self.batch * self.world
        # several processes: only whole global micro-batches (each process needs rows)
        return self.examples // g if self.world > 1 else math.ceil(self.examples / g)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.micro_per_epoch / self.accum)

    @property
    def total_steps(self) -> int:
        return self.max_steps or self.epochs * self.steps_per_epoch

    @property
    def epochs_needed(self) -> int:
        return math.ceil(self.total_steps / self.steps_per_epoch)

    def micro_batches(self, epoch: int, seed: int, rank: int) -> list[list[int]]:
        """This process's rows of every micro-batch of an epoch: global micro-batch j is
        order[j*B*W : (j+1)*B*W]; process r takes its r-th slice of B rows."""
        gen = torch.Generator().manual_seed(derive_seed(seed, epoch))
        order = torch.randperm(self.examples, generator=gen).tolist()
        g = self.batch * self.world
        out = []
        for j in range(self.micro_per_epoch):
            rows = order[j * g : (j + 1) * g]
            out.append(rows[rank * self.batch : (rank + 1) * self.batch])
        return out


def optimizer_for(model: torch.nn.Module, opts: TuneOptions) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases and LayerNorm weights (as BERT was trained). The
    fused kernel (one pass over all parameters, CPU and CUDA), as transformers' Trainer
    defaults to with torch >= 2.8: the per-parameter loop costs ~5% of a small model's step."""
    decay: list[torch.nn.Parameter] = []
    rest: list[torch.nn.Parameter] = []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (rest if p.ndim < 2 or "LayerNorm" in name or "norm" in name else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": opts.weight_decay},
        {"params": rest, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=opts.lr, fused=True)


def linear_schedule(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> Any:
    """The learning rate rises linearly over `warmup` steps, then falls linearly to 0 at
    `total` (transformers' get_linear_schedule_with_warmup, without importing its trainer).

    >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    >>> s = linear_schedule(opt, 2, 6)
    >>> [round(s.lr_lambdas[0](i), 2) for i in range(7)]
    [0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0]
    """

    def factor(step: int) -> float:
        if step < warmup:
            return step / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class Trainer:
    def __init__(
        self,
        task: Task,
        base: Base,
        data: TaskData,
        opts: TuneOptions,
        rt: Runtime,
        work: WorkFolder,
        reporter: Reporter,
    ) -> None:
        self.task, self.base, self.data, self.opts = task, base, data, opts
        self.rt, self.work, self.report = rt, work, reporter
        self.plan = Plan(
            len(data.train), opts.batch_size, rt.world, opts.grad_accum, opts.epochs, opts.max_steps
        )
        if self.plan.micro_per_epoch == 0:
            from ..errors import DataFileError

            raise DataFileError(
                data.files.get("train", "--train"),
                None,
                f"{len(data.train)} training rows; {rt.world} processes x batch size "
                f"{opts.batch_size} need at least {opts.batch_size * rt.world}",
            )

    def run(self) -> tuple[torch.nn.Module, Progress]:
        torch.manual_seed(self.opts.seed)
        model = self.task.build(self.base, self.data).to(self.rt.device)
        optimizer = optimizer_for(model, self.opts)
        total = self.plan.total_steps
        scheduler = linear_schedule(optimizer, round(self.opts.warmup * total), total)
        progress = Progress()
        saved = self.work.load()
        if saved is not None:
            weights, state = saved
            model.load_state_dict(weights)
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            progress = Progress(**state["progress"])
            self.report.say(
                f"resuming from the checkpoint at step {progress.global_step}/{total} "
                f"(epoch {progress.epoch + 1})"
            )
        ddp = wrap(model, self.rt)
        model.train()
        self.started = time.perf_counter() - progress.wall_seconds
        for epoch in range(progress.epoch, self.plan.epochs_needed):
            self._epoch(epoch, model, ddp, optimizer, scheduler, progress)
            if progress.global_step >= total:
                break
        return model, progress

    def _epoch(
        self, epoch: int, model: Any, ddp: Any, optimizer: Any, scheduler: Any, progress: Progress
    ) -> None:
        plan, opts, total = self.plan, self.opts, self.plan.total_steps
        micro = plan.micro_batches(epoch, opts.seed, self.rt.rank)
        in_epoch = min(plan.steps_per_epoch, total - epoch * plan.steps_per_epoch)
        self.report.start_epoch(epoch, plan.epochs_needed, in_epoch, progress.step_in_epoch)
        start = progress.step_in_epoch * opts.grad_accum
        for first in range(start, len(micro), opts.grad_accum):
            if progress.global_step >= total:
                break
            loss = self._step(epoch, first, micro[first : first + opts.grad_accum], ddp)
            torch.nn.utils.clip_grad_norm_(model.parameters(), opts.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            progress.global_step += 1
            progress.step_in_epoch += 1
            progress.losses.append(loss)
            self.report.step(loss)
            if opts.save_steps and progress.global_step % opts.save_steps == 0:
                self._checkpoint(model, optimizer, scheduler, progress)
        self.report.stop_clock()
        metrics = self._evaluate(model)
        figures = self.report.end_epoch(
            epoch, plan.epochs_needed, self._describe(metrics, progress, epoch)
        )
        self._record(epoch, model, metrics, figures, progress)
        progress.epoch, progress.step_in_epoch = epoch + 1, 0
        self._checkpoint(model, optimizer, scheduler, progress)

    def _step(self, epoch: int, first: int, group: Sequence[list[int]], ddp: Any) -> float:
        """One optimizer step's forward and backward passes over its micro-batches."""
        import contextlib

        torch.manual_seed(derive_seed(self.opts.seed, self.rt.rank, epoch, first))
        total = 0.0
        for i, rows in enumerate(group):
            gen = torch.Generator().manual_seed(derive_seed(self.opts.seed, epoch, first + i))
            batch = self.task.collate(
                [self.data.train[j] for j in rows], Step(epoch, first + i, gen)
            )
            batch = to_device(batch, self.rt.device)
            last = i == len(group) - 1
            sync = contextlib.nullcontext() if last or self.rt.world == 1 else ddp.no_sync()
            with sync:
                with self.rt.autocast():
                    loss = self.task.loss(ddp, batch) / len(group)
                loss.backward()
            total += float(loss.detach())
        return total

    def _evaluate(self, model: torch.nn.Module) -> Metrics:
        with evaluating(model):
            return self.task.evaluate(model, self.data.dev)

    def _describe(self, metrics: Metrics, progress: Progress, epoch: int) -> str:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.values.items())
        best = metrics.better_than(_best(progress))
        return f"dev {shown}" + (" (best so far)" if best and epoch > 0 else "")

    def _record(
        self, epoch: int, model: Any, metrics: Metrics, figures: dict, progress: Progress
    ) -> None:
        if metrics.better_than(_best(progress)):
            progress.best_epoch, progress.best_score = epoch, metrics.score
            if self.rt.main and self.opts.keep == "best":
                self.work.save_best(model)
        progress.epochs.append(
            {
                "epoch": epoch + 1,
                "step": progress.global_step,
                **figures,
                "metrics": metrics.values,
                "primary": metrics.primary,
                "greater_is_better": metrics.greater_is_better,
            }
        )

    def _checkpoint(self, model: Any, optimizer: Any, scheduler: Any, progress: Progress) -> None:
        progress.wall_seconds = time.perf_counter() - self.started
        if self.rt.main:
            state = {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "progress": asdict(progress),
            }
            meta = {
                "step": progress.global_step,
                "precision": self.rt.precision,
                "notes": list(self.rt.notes),
            }
            self.work.save(model, state, meta)
        self.rt.barrier()


def _best(progress: Progress) -> Metrics | None:
    if progress.best_epoch is None or not progress.epochs:
        return None
    row = next(e for e in progress.epochs if e["epoch"] == progress.best_epoch + 1)
    return Metrics(row["metrics"], row["primary"], row["greater_is_better"])
