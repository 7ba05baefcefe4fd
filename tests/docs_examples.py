"""Run the code blocks of a Markdown page and compare what they print with the page.

The convention (every page of README.md, README.zh-CN.md and docs/ follows it):

- every ```python and ```bash (or ```sh) block runs; the python blocks of one page run in order
  in one namespace, in a temporary working folder holding a copy of `examples/`; the bash
  blocks run in that same folder with `bertex` on PATH;
- a ```text block right after a code block (blank lines between allowed) is its expected
  output: python blocks print to stdout; a bash block's output is its stdout followed by its
  stderr. Text must match line by line after collapsing runs of blanks; numbers with a
  decimal point match within 0.011 or 2 %, integers exactly; a line `...` skips any lines;
- `<!-- docs-test: skip (reason) -->` on the line right before a fence opts that block out.

A bash block runs line by line as `bash -e` would: a plain `bertex ...` line (no pipes or
redirections) runs in-process through `bertex.cli.main.main` and `python -c CODE` in-process
too, which saves starting Python and torch per line; `NAME=$(...)` is kept for the lines
after it; any other line runs under `bash -e -o pipefail`, and a block with a heredoc, a
background job, a trap or a loop runs whole as one script.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_LANGS = ("python", "bash", "sh")
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<ticks>`{3,})(?P<lang>[\w.+-]*)[^\n]*$")
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w])")
SHELL_META = re.compile(r"[|&;<>$`()*?~]")


@dataclass
class Block:
    lang: str
    code: str
    line: int  # 1-based line of the opening fence
    expected: str | None = None  # the ```text block after it
    expected_span: tuple[int, int] | None = None  # its body's [start, end) line indices
    skip: str | None = None  # the reason given by a skip marker


def pages() -> list[Path]:
    """Every page the convention covers, in a stable order."""
    docs = sorted((ROOT / "docs").rglob("*.md"))
    return [ROOT / "README.md", ROOT / "README.zh-CN.md", *docs]


def parse(text: str) -> list[Block]:
    """The fenced blocks of a page that run, each with its expected output and skip marker."""
    lines = text.split("\n")
    fences = _fences(lines)
    blocks: list[Block] = []
    for i, (lang, start, end) in enumerate(fences):
        if lang not in RUN_LANGS:
            continue
        block = Block(
            "bash" if lang == "sh" else lang, "\n".join(lines[start + 1 : end]), start + 1
        )
        before = lines[start - 1] if start > 0 else ""
        marker = SKIP.search(before)
        if marker:
            block.skip = marker.group("reason").strip()
        if i + 1 < len(fences):
            nlang, nstart, nend = fences[i + 1]
            between = lines[end + 1 : nstart]
            if nlang == "text" and all(not s.strip() for s in between):
                block.expected = "\n".join(lines[nstart + 1 : nend])
                block.expected_span = (nstart + 1, nend)
        blocks.append(block)
    return blocks


def _fences(lines: list[str]) -> list[tuple[str, int, int]]:
    """(language, opening line, closing line) of each fenced block, indices 0-based."""
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        ticks, j = m.group("ticks"), i + 1
        while j < len(lines) and lines[j].strip() != ticks:
            j += 1
        out.append((m.group("lang").lower(), i, j))
        i = j + 1
    return out


def matches(expected: str, actual: str) -> bool:
    """Line by line; `...` skips any lines; numbers within tolerance (see the module doc)."""
    want = [_squash(s) for s in expected.strip("\n").split("\n")]
    got = [_squash(s) for s in actual.strip("\n").split("\n")] if actual.strip() else []
    return _match(want, got)


def _match(want: list[str], got: list[str]) -> bool:
    if not want:
        return not got
    if want[0] == "...":
        return any(_match(want[1:], got[k:]) for k in range(len(got) + 1))
    return bool(got) and _line_matches(want[0], got[0]) and _match(want[1:], got[1:])


def _squash(line: str) -> str:
    return " ".join(line.split())


def _line_matches(want: str, got: str) -> bool:
    if NUMBER.sub("#", want) != NUMBER.sub("#", got):
        return False
    for w, g in zip(NUMBER.findall(want), NUMBER.findall(got)):
        if "." in w or "e" in w.lower():
            a, b = float(w), float(g)
            if not abs(a - b) <= max(0.011, 0.02 * abs(a)):
                return False
        elif w.lstrip("+") != g.lstrip("+"):
            return False
    return True


class PageRun:
    """One page's working folder, namespace and environment; run its blocks in order."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        shutil.copytree(ROOT / "examples", workdir / "examples")
        self.namespace: dict[str, object] = {"__name__": "__main__"}
        bin_dir = str(Path(sys.executable).parent)
        self.env = {
            **os.environ,
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
            "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
            "NO_COLOR": "1",
            "COLUMNS": "100",
        }

    def run(self, block: Block) -> str:
        """The block's output; raises AssertionError naming the block when it fails."""
        with _chdir(self.workdir):
            if block.lang == "python":
                return self._python(block)
            return self._bash(block)

    def _python(self, block: Block) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(compile(block.code, f"<block at line {block.line}>", "exec"), self.namespace)
        return out.getvalue()

    def _bash(self, block: Block) -> str:
        statements = _statements(block.code)
        if statements is None:  # heredocs, background jobs, traps: the block as one script
            return self._shell(block.code, block)
        return "".join(self._statement(s, block) for s in statements)

    def _statement(self, line: str, block: Block) -> str:
        """One line: `bertex ...` and `python -c CODE` in-process, anything else in bash."""
        assign = re.fullmatch(r"([A-Za-z_]\w*)=(.+)", line)
        if assign:  # NAME=$(...): kept for the lines after it, as a shell would
            value = self._shell(f'{line}; printf %s "${assign.group(1)}"', block)
            self.env[assign.group(1)] = value
            return ""
        expanded = re.sub(
            r'"?\$\{?([A-Za-z_]\w*)\}?"?',
            lambda m: shlex.quote(self.env[m.group(1)]) if m.group(1) in self.env else m.group(0),
            line,
        )
        unquoted = re.sub(r"'[^']*'|\"[^\"$`]*\"", "", expanded)
        if not SHELL_META.search(unquoted):
            argv = shlex.split(expanded)
            if argv[0] == "bertex":
                return self._in_process(argv[1:], block)
            if argv[:2] == ["python", "-c"] and len(argv) == 3:
                return self._python_c(argv[2], block)
        return self._shell(line, block)

    def _python_c(self, code: str, block: Block) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(compile(code, f"<python -c in the block at line {block.line}>", "exec"), {})
        return out.getvalue()

    def _shell(self, script: str, block: Block) -> str:
        p = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if p.returncode != 0:
            raise AssertionError(
                f"bash block at line {block.line} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
            )
        return p.stdout + p.stderr

    def _in_process(self, argv: list[str], block: Block) -> str:
        from bertex.cli.main import main

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as e:  # argparse's exits
                code = e.code if isinstance(e.code, int) else 1
        if code != 0:
            raise AssertionError(
                f"bash block at line {block.line}: `bertex {shlex.join(argv)}` exited {code}:\n"
                f"{out.getvalue()}\n{err.getvalue()}"
            )
        return out.getvalue() + err.getvalue()


def _statements(code: str) -> list[str] | None:
    """The block's commands, one per line (continuations joined, comments dropped), or None
    when the block needs to run as one script (a heredoc, a background job, a trap, a loop)."""
    if re.search(r"<<|&\s*$|\btrap\b|\bfor\b|\bwhile\b|\bif\b|\bkill\b", code, re.MULTILINE):
        return None
    joined = re.sub(r"\\\n\s*", " ", code)
    out = []
    for raw in joined.split("\n"):
        line = "" if raw.lstrip().startswith("#") else re.sub(r"\s+#\s.*$", "", raw).strip()
        if line:
            out.append(line)
    return out


@contextlib.contextmanager
def _chdir(path: Path):  # type: ignore[no-untyped-def]
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)
