"""Prometheus metrics (prometheus_client), one registry per app."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "bertex_requests",
            "HTTP requests by route, status and reason",
            ["route", "status", "reason"],
            registry=r,
        )
        self.tokens = Counter("bertex_tokens", "tokens the model processed", registry=r)
        self.dropped = Counter(
            "bertex_dropped_jobs",
            "queued requests dropped before the model (client gone, deadline)",
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
        self.batch_texts = Histogram(
            "bertex_batch_texts",
            "texts per forward pass",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
            registry=r,
        )
