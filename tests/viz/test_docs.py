"""The "See inside" commands parse as written (docs/howto/explorer.md; they also run in
tests/test_docs_examples.py)."""

from __future__ import annotations

import shlex
from pathlib import Path

from bertex.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]


def see_inside() -> str:
    for doc in (ROOT / "docs" / "howto" / "explorer.md", ROOT / "README.md"):
        text = doc.read_text(encoding="utf-8")
        if "## See inside" in text:
            section = text.split("## See inside", 1)[1].split("\n## ", 1)[0]
            return section.split("```bash", 1)[1].split("```", 1)[0]
    raise AssertionError("no '## See inside' section in docs/howto/explorer.md")


def test_see_inside_commands_use_real_options() -> None:
    parser = build_parser()
    commands = [c.split("#")[0].strip() for c in see_inside().splitlines()]
    commands = [c.rstrip("&").strip() for c in commands if c.startswith("bertex")]
    assert len(commands) >= 6
    for command in commands:
        parsed = parser.parse_args(shlex.split(command)[1:])  # SystemExit(2) on a bad option
        assert parsed.command in ("viz", "embed", "serve")


def test_the_screenshots_are_committed_and_small() -> None:
    for name in ("attention.png", "explorer.png"):
        png = ROOT / "docs" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size < 300_000
