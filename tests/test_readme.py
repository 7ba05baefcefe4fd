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


@pytest.mark.slow
def test_corpus_example_runs_as_written(tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    repo = README.parent
    shutil.copytree(repo / "examples", tmp_path / "examples")
    block = _block("## Embedding a file or a corpus", "bash")
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"], "HF_HUB_OFFLINE": "1"}
    outputs = []
    for line in block.splitlines():
        if line.startswith(("bertex", "python")):
            p = subprocess.run(line, shell=True, cwd=tmp_path, env=env, capture_output=True)
            assert p.returncode == 0, p.stderr.decode()
            outputs.append(p.stdout.decode())
    assert outputs[-1].strip() == "(40, 384) ['doc-00', 'doc-01']"
    errors = (tmp_path / "vectors.parquet.errors.jsonl").read_text().splitlines()
    assert len(errors) == 2 and '"blank"' in errors[0] and "broken JSON" in errors[1]
