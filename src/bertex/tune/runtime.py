"""Where a job runs: the device, bf16 autocast, and the data-parallel process group.

A resumed job keeps the precision its checkpoint was trained in (`resumed`): --precision auto
resolved again on another machine could switch it mid-run, and the job would no longer end
with an uninterrupted run's weights.

One process: nothing to set up. Under `torchrun` (or `accelerate launch`), WORLD_SIZE > 1 in
the environment: the process group starts (NCCL on GPUs, gloo on CPUs), each process takes its
slice of every global batch, DDP averages the gradients, and `gather_with_grad` lets a loss see
every process's in-batch negatives.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import torch

from ..errors import OptionError


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    precision: str  # "fp32" | "bf16", as resolved from "auto" (or kept from a checkpoint)
    rank: int = 0
    world: int = 1
    notes: tuple[str, ...] = ()  # precision changes over the job's resumes (training.json)

    @property
    def main(self) -> bool:
        """The process that prints and writes files."""
        return self.rank == 0

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.precision != "bf16":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()


def start(device: str, precision: str) -> Runtime:
    """Resolve --device and --precision; join the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = _device(device, local if world > 1 else None)
    rank = 0
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
    return Runtime(dev, _precision(precision, dev), rank, world)


def _device(name: str, local_rank: int | None) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise OptionError("device", name, ["cpu", "auto"], "torch sees no CUDA device here")
    if name == "cuda" and local_rank is not None:
        name = f"cuda:{local_rank}"
    try:
        return torch.device(name)
    except RuntimeError:
        raise OptionError("device", name, ["cpu", "cuda", "cuda:N", "auto"]) from None


def has_bf16(dev: torch.device) -> bool:
    """Whether the device runs bf16 natively (a CPU's avx512_bf16/AMX, a GPU's support)."""
    if dev.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    from ..backends.precision import native_bf16

    return native_bf16()


def _precision(precision: str, dev: torch.device) -> str:
    if precision == "fp32":
        return "fp32"
    has = has_bf16(dev)
    if precision == "bf16" and not has:
        raise OptionError(
            "precision", precision, ["fp32", "auto"], f"this {dev.type.upper()} has no native bf16"
        )
    return "bf16" if has else "fp32"


def resumed(rt: Runtime, checkpoint: dict[str, Any], asked: str) -> tuple[Runtime, str | None]:
    """The runtime a job continues on from `checkpoint` (the checkpoint's meta: its step,
    precision and notes; {} for a fresh job; precision None when an older bertex wrote it),
    and a note when its precision changes now (or is not known).

    With --precision auto the job keeps the checkpoint's precision; one that cannot run here
    is refused, naming the way on. An explicit --precision that differs is the user's choice:
    it runs, and the note (said, and kept in training.json) says so.

    >>> cpu = Runtime(torch.device("cpu"), "bf16")
    >>> resumed(cpu, {"step": 40, "precision": "fp32"}, "auto")[0].precision
    'fp32'
    >>> rt, note = resumed(cpu, {"step": 40, "precision": "fp32"}, "bf16")
    >>> rt.precision, note.split(";")[0]
    ('bf16', 'the checkpoint at step 40 was trained in fp32')
    """
    rt = replace(rt, notes=tuple(checkpoint.get("notes", ())))
    trained = checkpoint.get("precision")
    if checkpoint and trained is None:  # an older bertex's checkpoint: its precision unknown
        note = (
            f"the checkpoint records no precision (an older bertex wrote it); it continues in "
            f"{rt.precision}, which may not be the one it was trained in"
        )
        return replace(rt, notes=(*rt.notes, note)), note
    if trained is None or trained == rt.precision:
        return rt, None
    where = f"the checkpoint at step {checkpoint.get('step')}"
    if asked == "auto":
        if trained == "bf16" and not has_bf16(rt.device):
            raise OptionError(
                "precision", asked, ["fp32"],
                f"{where} was trained in bf16, and this {rt.device.type.upper()} has no native "
                "bf16: pass --precision fp32 to continue it in fp32 (its weights will then "
                "differ from an uninterrupted run), or resume it where bf16 runs",
            )  # fmt: skip
        return replace(rt, precision=trained), None
    note = (
        f"{where} was trained in {trained}; it continues in {rt.precision} (--precision "
        f"{asked}), so the weights will differ from an uninterrupted {trained} run"
    )
    return replace(rt, notes=(*rt.notes, note)), note


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """(B, ...) on each process -> (world*B, ...) in rank order, gradients flowing back to
    each process's own rows. One process: x itself.

    Every process then computes the same global loss; the gather's backward sums the
    gradient each process sends for these rows (world x dL/dx) and DDP averages over the
    processes, so the step equals one process's step on the combined batch."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return x
    if torch.distributed.get_world_size() == 1:
        return x
    import torch.distributed.nn.functional as dfn

    return torch.cat(dfn.all_gather(x), dim=0)


def wrap(model: torch.nn.Module, rt: Runtime) -> torch.nn.Module:
    """DDP around the model under torchrun; the model itself otherwise."""
    if rt.world == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [rt.device.index] if rt.device.type == "cuda" else None
    # some weights (BERT's pooler under mean pooling) get no gradient: find them each step
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


def to_device(batch: Any, device: torch.device) -> Any:
    """Every tensor in a (nested) batch moved to the device."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


@contextlib.contextmanager
def evaluating(model: torch.nn.Module) -> Iterator[None]:
    """eval mode under no_grad, train mode restored after."""
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was)
