"""Environment variables mean one thing each and are documented in one table
(docs/reference/environment.md)."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from bertex.config import EmbedOptions, LoadOptions, env_fields
from bertex.server.config import ServerConfig

ROOT = Path(__file__).resolve().parents[1]


def _table() -> str:
    return (ROOT / "docs" / "reference" / "environment.md").read_text(encoding="utf-8")


def _names(cls: type) -> set[str]:
    names = env_fields(cls) if cls is not ServerConfig else [f.name for f in fields(cls)]
    return {f"BERTEX_{n.upper()}" for n in names}


def test_no_variable_means_two_things():
    objects = [_names(EmbedOptions), _names(LoadOptions), _names(ServerConfig)]
    for i, a in enumerate(objects):
        for b in objects[i + 1 :]:
            assert a & b == set()


def test_every_variable_is_in_the_one_table():
    read_in_code = set(
        re.findall(
            r"(?<![A-Za-z0-9_])BERTEX_[A-Z0-9_]*[A-Z0-9]",  # not a __TEMPLATE_MARK__
            "".join(p.read_text() for p in (ROOT / "src" / "bertex").rglob("*.py")),
        )
    )
    every = read_in_code | _names(EmbedOptions) | _names(LoadOptions) | _names(ServerConfig)
    documented = set(re.findall(r"`(BERTEX_[A-Z0-9_]+)`", _table()))
    assert every - documented == set()
    assert documented - every == set()  # and nothing documented that no code reads
