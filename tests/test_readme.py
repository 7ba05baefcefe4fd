"""The README's examples stay true: its Python quick start runs and prints what it says."""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _block(after: str, lang: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(after)
    match = re.search(rf"```{lang}\n(.*?)```", text[start:], re.DOTALL)
    assert match, f"no {lang} block after {after!r}"
    return match.group(1)


@pytest.mark.slow
def test_python_quick_start_prints_what_it_claims():
    code = _block("## Python quick start", "python")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exec(compile(code, str(README), "exec"), {})
    printed = out.getvalue().splitlines()
    claims = [
        line.split("#", 1)[1].strip()
        for line in code.splitlines()
        if line.startswith("print(") and "#" in line
    ]
    assert len(printed) == len(claims)
    for got, claim in zip(printed, claims):
        assert got.strip().startswith(claim.split(",")[0].split(":")[0].strip()), (got, claim)
    assert any("3 of 6 characters" in str(w.message) for w in caught)


def test_cli_quick_start_uses_real_options():
    from bertex.cli.main import build_parser

    parser = build_parser()
    for line in _block("## CLI quick start", "bash").splitlines():
        command = line.split("#")[0].strip()
        if not command.startswith(("bertex", "echo")):
            continue
        command = command.split("| ", 1)[-1]
        import shlex

        args = shlex.split(command)[1:]
        parsed = parser.parse_args(args)  # raises SystemExit(2) on an unknown option
        assert parsed.command in ("embed", "tokens", "info")
