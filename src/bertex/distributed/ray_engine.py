"""`--engine ray`: the corpus job's shards embedded by Ray Data actors that hold the model.

The driver streams the source into shards exactly as the local engine does, hands groups of
shards to `map_batches` on an actor pool (each actor loads the model once per group and
embeds whole shards with the same `embed_shard` code), and commits the results in shard order.
So the output, the manifest and resume are the local engine's, byte for byte.
"""

from __future__ import annotations

import itertools
import logging
import os
import pickle
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..config import EmbedOptions
from ..corpus import Executor, ShardResult, ShardTask, embed_shard
from ..errors import ExtraMissingError


class _Embedder:
    """A Ray Data actor: one model replica, pickled shard tasks in, pickled results out."""

    def __init__(
        self,
        model: str,
        options: dict[str, Any],
        keep_text: bool,
        numeric_ids: bool,
        threads: int,
        backend: str = "torch",
        precision: str = "fp32",
        device: str = "cpu",
    ) -> None:
        import torch

        import bertex

        torch.set_num_threads(max(1, threads))
        os.environ["BERTEX_CPUS"] = str(max(1, threads))  # this actor's share of the cores
        self.model = bertex.load(model, backend=backend, precision=precision, device=device)
        self.options = EmbedOptions(**options)
        self.keep_text, self.numeric_ids = keep_text, numeric_ids

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = []
        for raw in batch["task"]:
            task: ShardTask = pickle.loads(raw)
            result = embed_shard(self.model, task, self.options, self.keep_text, self.numeric_ids)
            out.append(pickle.dumps(result))
        return {"result": np.array(out, dtype=object)}


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ExtraMissingError("ray", "ray[data]", "--engine ray") from None
    return ray


def start(address: str | None, num_cpus: int | None = None) -> Any:
    """Connect to a cluster, or start a local Ray on loopback without a dashboard."""
    ray = _import_ray()
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "configure_logging": False,
        }
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=num_cpus or os.cpu_count(), _node_ip_address="127.0.0.1", **kwargs)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.execution_options.preserve_order = True
    return ray


def ray_executor(
    model: str,
    options: EmbedOptions,
    keep_text: bool,
    numeric_ids: bool,
    *,
    address: str | None = None,
    actors: int | None = None,
    cpus: float = 2.0,
    gpus: float = 0.0,
    group: int | None = None,
    backend: str = "torch",
    precision: str = "fp32",
    device: str = "cpu",
) -> Executor:
    """An Executor that embeds shards on Ray; results come back in shard order."""
    _import_ray()  # fail early, naming the extra

    def run(tasks: Iterator[ShardTask]) -> Iterator[ShardResult]:
        ray = start(address)
        total = ray.cluster_resources().get("CPU", 1.0)
        n = actors or max(1, int(total // cpus))
        per_group = group or n * 8
        ctor = {
            "model": model,
            "options": options.to_dict(),
            "keep_text": keep_text,
            "numeric_ids": numeric_ids,
            "threads": int(cpus),
            "backend": backend,
            "precision": precision,
            "device": device,
        }
        while chunk := list(itertools.islice(tasks, per_group)):
            ds = ray.data.from_items([{"task": pickle.dumps(t)} for t in chunk])
            ds = ds.map_batches(
                _Embedder,
                fn_constructor_kwargs=ctor,
                batch_size=1,
                compute=ray.data.ActorPoolStrategy(size=min(n, len(chunk))),
                num_cpus=cpus,
                num_gpus=gpus,
                batch_format="numpy",
            )
            results = [pickle.loads(r["result"]) for r in ds.take_all()]
            yield from sorted(results, key=lambda r: r.index)

    return run
