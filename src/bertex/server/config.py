"""The server's one configuration object: defaults from BERTEX_* variables, then flags.

Every limit is checked at start-up: a value that could never be met is refused with one line
naming the flag and its variable, instead of a server that starts and refuses everything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import OptionError

MIN_BODY_BYTES = 1024  # a body smaller than this cannot hold a request worth serving


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """How the server listens and what it bounds (the model comes from LoadOptions)."""

    host: str = "127.0.0.1"  # loopback unless asked otherwise
    port: int = 8080
    api_keys: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()  # Host headers a keyless server answers; () = bound
    # the engine's budget of one pass ACROSS requests (EmbedOptions.batch_tokens is the budget
    # of one forward pass inside it: another setting, another variable, BERTEX_BATCH_TOKENS)
    max_batch_tokens: int = 16384
    max_queue: int = 1024  # texts waiting; past it, 429 at once
    max_inputs: int = 512  # texts per request
    max_chars: int = 100_000  # characters per text, checked before tokenization
    max_body_bytes: int = 8 * 1024 * 1024
    max_output_floats: int = 8_000_000  # numbers in one answer, counted before computing
    deadline_s: float = 60.0  # a request not answered by then gets 503; its work stops
    body_timeout_s: float = 30.0  # a body not fully received by then gets 408
    shutdown_timeout_s: float = 10.0  # on SIGTERM, requests in flight get this long
    batch_wait_ms: float = 2.0  # how long the engine waits for company
    max_batch_requests: int = 256  # requests merged into one pass (1: no batching)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> ServerConfig:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(variable(f.name))
            if raw is not None:
                values[f.name] = _parse(f.name, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        for name in ("api_keys", "allowed_hosts"):
            if name in values:
                values[name] = _nonempty(name, values[name])
        config = cls(**values)
        config.check()
        return config

    def check(self, max_length: int | None = None, dim: int | None = None) -> None:
        """Refuse limits that could never be satisfied (with the model's, when given)."""
        if not 1 <= self.port <= 65535:
            _refuse("port", self.port, "an integer from 1 to 65535")
        for name in _fields_of("int"):
            if name != "port" and int(getattr(self, name)) < 1:
                _refuse(name, getattr(self, name), "a positive integer")
        for name in _fields_of("float"):
            low_ok = name in ("batch_wait_ms", "shutdown_timeout_s")
            if getattr(self, name) < 0 or (getattr(self, name) == 0 and not low_ok):
                _refuse(name, getattr(self, name), "a positive number")
        if self.max_body_bytes < MIN_BODY_BYTES:
            _refuse(
                "max_body_bytes",
                self.max_body_bytes,
                f"an integer >= {MIN_BODY_BYTES}",
                "no request would fit",
            )
        if self.max_queue < self.max_inputs:
            _refuse(
                "max_queue",
                self.max_queue,
                f"an integer >= max_inputs ({self.max_inputs})",
                "a full-size request could never be queued",
            )
        if max_length is not None and self.max_batch_tokens < max_length:
            _refuse(
                "max_batch_tokens",
                self.max_batch_tokens,
                f"an integer >= {max_length}",
                f"one input of the model's maximum length ({max_length} tokens) would never fit",
            )
        if max_length is not None and dim is not None and self.max_output_floats < dim * max_length:
            _refuse(
                "max_output_floats",
                self.max_output_floats,
                f"an integer >= {dim * max_length}",
                "the token vectors of one full-length input would never fit",
            )


def variable(name: str) -> str:
    """The environment variable of a field: BERTEX_PORT, BERTEX_MAX_BATCH_TOKENS, ..."""
    return f"BERTEX_{name.upper()}"


def flag(name: str) -> str:
    return "--" + name.removesuffix("_s").replace("_", "-")


def _refuse(name: str, value: object, valid: str, why: str = "") -> None:
    hint = f"{why} (set by {flag(name)} or {variable(name)})".lstrip()
    raise OptionError(name, value, [valid], hint)


def _nonempty(name: str, values: tuple[str, ...]) -> tuple[str, ...]:
    """Blank entries are dropped; a set that was given but holds nothing is an error (an
    empty key set would serve without a key, failing open)."""
    kept = tuple(v.strip() for v in values if v and v.strip())
    if not kept:
        _refuse(name, values, "at least one non-empty value", "every value given is empty")
    return kept


def _fields_of(kind: str) -> tuple[str, ...]:
    """Names of ServerConfig's fields annotated `kind` ("int", "float", "str", ...)."""
    return tuple(f.name for f in fields(ServerConfig) if f.type == kind)


def flag_names() -> tuple[str, ...]:
    """The fields a command line sets one to one (API keys come from several flags)."""
    return tuple(f.name for f in fields(ServerConfig) if f.name != "api_keys")


def _parse(name: str, raw: str) -> Any:
    if name in ("api_keys", "allowed_hosts"):
        return tuple(k.strip() for k in raw.split(","))
    kind = int if name in _fields_of("int") else float if name in _fields_of("float") else str
    try:
        return kind(raw)
    except ValueError:
        valid = "an integer" if kind is int else "a number"
        raise OptionError(variable(name), raw, [valid]) from None


def read_keys(path: Path) -> tuple[str, ...]:
    """A file of API keys, one per line; blank lines and # comments are ignored."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        why = "it is a folder" if path.is_dir() else getattr(e, "strerror", None) or str(e)
        raise OptionError(
            "--api-key-file", str(path), ["a readable UTF-8 file of keys, one per line"], why
        ) from None
    keys = tuple(s.strip() for s in lines if s.strip() and not s.strip().startswith("#"))
    if not keys:
        raise OptionError(
            "--api-key-file", str(path), ["a file with at least one key"], "it holds no key"
        )
    return keys
