"""What every route shares: the model, the configuration, the engine, the metrics, readiness."""

from __future__ import annotations

import threading
from typing import Any

from ..engine import Engine
from .config import ServerConfig
from .metrics import Metrics


class State:
    def __init__(self, model: Any, config: ServerConfig, routes: tuple[str, ...]) -> None:
        self.model, self.config = model, config
        self.metrics = Metrics(routes)
        self.ready = threading.Event()
        self.engine = Engine(
            model,
            max_batch_tokens=config.max_batch_tokens,
            max_queue=config.max_queue,
            wait_ms=config.batch_wait_ms,
            max_batch_requests=config.max_batch_requests,
            observer=self.metrics,
        )

    def warm_up(self) -> None:
        self.model.embed(["warm up"], level="sentence")
        self.ready.set()
