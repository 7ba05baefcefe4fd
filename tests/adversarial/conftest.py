"""A real HTTP server (uvicorn on a loopback socket, in a thread of the test process) around the
fake backend: real connections, disconnects and timeouts, without loading a model."""

from __future__ import annotations

import socket
import threading
from typing import Any

import httpx
import pytest

from test_server import wait_healthy  # tests/ is on sys.path (its conftest.py)


class ThreadServer:
    def __init__(self, model: Any, **config: Any) -> None:
        import uvicorn

        from bertex.server.app import create_app
        from bertex.server.config import ServerConfig

        self.model = model
        self.app = create_app(model, ServerConfig(**config))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = uvicorn.Config(self.app, log_level="warning", access_log=False)
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, args=([self.sock],), daemon=True)
        self.thread.start()
        wait_healthy(self.url)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        kwargs.setdefault("timeout", 30)
        return httpx.post(self.url + path, json=body, **kwargs)

    def metric(self, name: str, **labels: str) -> float:
        total = 0.0
        for line in httpx.get(self.url + "/metrics").text.splitlines():
            if not (line.startswith(name + " ") or line.startswith(name + "{")):
                continue
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.split()[-1])
        return total

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def serve():
    """serve(model, **config) starts a ThreadServer; each is stopped after the test."""
    started: list[ThreadServer] = []

    def start(model: Any, **config: Any) -> ThreadServer:
        started.append(ThreadServer(model, **config))
        return started[-1]

    yield start
    for s in started:
        s.stop()
