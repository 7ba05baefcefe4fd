"""The READMEs stay short and true: their quick starts run (tests/test_docs_examples.py runs
every block and checks the shown outputs); here, the sizes, the CLI lines' options, and the
corpus example of docs/howto/corpora.md as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
README_ZH = ROOT / "README.zh-CN.md"


def _block(path: Path, after: str, lang: str) -> str:
    text = path.read_text(encoding="utf-8")
    start = text.index(after)
    match = re.search(rf"```{lang}\n(.*?)```", text[start:], re.DOTALL)
    assert match, f"no {lang} block after {after!r}"
    return match.group(1)


def test_readmes_are_short_and_link_each_other():
    en, zh = README.read_text("utf-8"), README_ZH.read_text("utf-8")
    assert len(en.splitlines()) <= 200 and len(zh.splitlines()) <= 200
    assert "README.zh-CN.md" in en.splitlines()[0] and "README.md" in zh.splitlines()[0]
    prose = re.sub(r"```.*?```", "", zh, flags=re.DOTALL)  # prose: no code, no link targets
    prose = re.sub(r"\]\([^)]*\)", "]", re.sub(r"`[^`]*`", "", prose))
    han = sum("\u4e00" <= c <= "\u9fff" for c in prose)
    latin = sum(c.isascii() and c.isalpha() for c in prose)
    assert han > 1.5 * latin  # mostly Chinese text, not an English page with a Chinese title


def test_readme_links_point_to_pages_that_exist():
    for page in (README, README_ZH):
        for target in re.findall(
            r"\]\(((?:docs/)?[^)#:]+\.(?:md|png))(?:#[^)]*)?\)", page.read_text("utf-8")
        ):
            generated = (
                target.startswith("docs/reference/") and target != "docs/reference/environment.md"
            )
            assert generated or (ROOT / target).exists(), (page.name, target)


def test_cli_quick_start_uses_real_options():
    from bertex.cli.main import build_parser

    parser = build_parser()
    for path in (README, README_ZH):
        for line in _block(path, "```bash\nbertex", "bash").splitlines():
            command = line.split("#")[0].strip()
            if not command.startswith("bertex"):
                continue
            parsed = parser.parse_args(shlex.split(command)[1:])  # SystemExit(2) on a bad option
            assert parsed.command in ("embed", "tokens", "info")


@pytest.mark.slow
def test_corpus_example_runs_as_written(tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    block = _block(ROOT / "docs" / "howto" / "corpora.md", "# Corpora at scale", "bash")
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
