"""Prometheus metrics (prometheus_client), one registry per app. Metrics also observe the
engine (bertex.engine.Observer). Routes are labelled by their template, and every path the app
does not serve shares one label, so unauthenticated requests cannot grow the label set."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ..engine import Observer
from ..errors import ForwardTimeoutError

OTHER_ROUTE = "other"


class Metrics(Observer):
    def __init__(self, routes: tuple[str, ...] = ()) -> None:
        self.routes = frozenset(routes)
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "bertex_requests",
            "HTTP requests by route template, status and reason",
            ["route", "status", "reason"],
            registry=r,
        )
        self.tokens = Counter("bertex_tokens", "tokens the model processed", registry=r)
        self.dropped_jobs = Counter(
            "bertex_dropped_jobs",
            "requests whose remaining work was dropped (cancelled: client gone; deadline)",
            ["reason"],
            registry=r,
        )
        self.dropped_texts = Counter(
            "bertex_dropped_texts", "texts that never ran, by reason", ["reason"], registry=r
        )
        self.disconnects = Counter(
            "bertex_client_disconnects",
            "clients that left before their answer (while waiting, or mid-body)",
            ["stage"],
            registry=r,
        )
        self.queue_depth = Gauge("bertex_queue_depth", "texts waiting for the model", registry=r)
        self.queue_seconds = Histogram(
            "bertex_queue_seconds", "time from enqueue to the model", registry=r
        )
        self.tokenize_seconds = Histogram(
            "bertex_tokenize_seconds", "tokenization per pass", registry=r
        )
        self.forward_seconds = Histogram(
            "bertex_forward_seconds", "forward pass and pooling", registry=r
        )
        self.healthy = Gauge(
            "bertex_healthy", "1 while every forward pass returned in its bound, else 0", registry=r
        )
        self.healthy.set(1)
        self.forward_timeouts = Counter(
            "bertex_forward_timeouts", "forward passes that never returned (wedged)", registry=r
        )
        self.batch_texts = Histogram(
            "bertex_batch_texts",
            "texts per pass",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
            registry=r,
        )

    def route(self, path: str) -> str:
        """The route template of a path: a served one, or one label for every other path."""
        return path if path in self.routes else OTHER_ROUTE

    def request(self, path: str, status: int, reason: str) -> None:
        self.requests.labels(self.route(path), str(status), reason).inc()

    # -- bertex.engine.Observer -------------------------------------------------------------

    def queued(self, texts: int) -> None:
        self.queue_depth.set(texts)

    def dropped(self, reason: str, texts: int) -> None:
        self.dropped_jobs.labels(reason).inc()
        self.dropped_texts.labels(reason).inc(texts)

    def waited(self, seconds: float) -> None:
        self.queue_seconds.observe(seconds)

    def ran(self, texts: int, tokens: int, timings: dict[str, float]) -> None:
        self.tokenize_seconds.observe(timings.get("tokenize", 0.0))
        self.forward_seconds.observe(timings.get("forward", 0.0))
        self.batch_texts.observe(texts)
        self.tokens.inc(tokens)

    def wedged(self, error: ForwardTimeoutError) -> None:
        self.healthy.set(0)
        self.forward_timeouts.inc()
