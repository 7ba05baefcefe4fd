"""The server's one configuration object: defaults from BERTEX_* variables, then flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import OptionError


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    model: str = "all-MiniLM-L6-v2"
    host: str = "127.0.0.1"  # loopback unless asked otherwise
    port: int = 8080
    api_keys: tuple[str, ...] = ()
    batch_tokens: int = 16384  # token budget of one forward pass across requests
    max_queue: int = 1024  # texts waiting; past it, 429 at once
    max_inputs: int = 512  # texts per request
    max_chars: int = 100_000  # characters per text, checked before tokenization
    max_body_bytes: int = 8 * 1024 * 1024
    deadline_s: float = 60.0  # a request not answered by then gets 503 and frees its slot
    batch_wait_ms: float = 2.0  # how long the batcher waits for company
    max_batch_requests: int = 256  # requests merged into one forward pass (1: no batching)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> ServerConfig:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"BERTEX_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _parse(f.name, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "api_keys" in values:
            values["api_keys"] = tuple(k for k in values["api_keys"] if k)
        config = cls(**values)
        config.check()
        return config

    def check(self, max_length: int | None = None) -> None:
        """Refuse limits that could never be satisfied."""
        for name in _fields_of("int"):
            if int(getattr(self, name)) < (0 if name == "port" else 1):
                raise OptionError(name, getattr(self, name), ["a positive integer"])
        if self.deadline_s <= 0:
            raise OptionError("deadline_s", self.deadline_s, ["a positive number of seconds"])
        if max_length is not None and self.batch_tokens < max_length:
            raise OptionError(
                "batch_tokens",
                self.batch_tokens,
                [f"an integer >= {max_length}"],
                f"one input of the model's maximum length ({max_length} tokens) would never fit",
            )
        if self.max_queue < self.max_inputs:
            raise OptionError(
                "max_queue",
                self.max_queue,
                [f"an integer >= max_inputs ({self.max_inputs})"],
                "a full-size request could never be queued",
            )


def _fields_of(kind: str) -> tuple[str, ...]:
    """Names of ServerConfig's fields annotated `kind` ("int", "float", "str", ...)."""
    return tuple(f.name for f in fields(ServerConfig) if f.type == kind)


def flag_names() -> tuple[str, ...]:
    """The fields a command line sets one to one (API keys come from several flags)."""
    return tuple(f.name for f in fields(ServerConfig) if f.name != "api_keys")


def _parse(name: str, raw: str) -> Any:
    if name == "api_keys":
        return tuple(k.strip() for k in raw.split(","))
    if name in _fields_of("int"):
        return int(raw)
    if name in _fields_of("float"):
        return float(raw)
    return raw


def read_keys(path: Path) -> tuple[str, ...]:
    """A file of API keys, one per line; blank lines and # comments are ignored."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return tuple(s.strip() for s in lines if s.strip() and not s.strip().startswith("#"))
