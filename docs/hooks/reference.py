"""MkDocs hook: the CLI and Python API reference pages, generated at build time.

- `reference/cli/<command>.md`, one page per `bertex` subcommand, from the argparse parsers
  themselves (`bertex.cli.main.build_parser`), so the reference cannot drift from the CLI;
- `reference/api.md`, one mkdocstrings entry per name of `bertex.__all__`.

The nav's "CLI" entry is expanded here into the index and one entry per subcommand.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CLI_INDEX = "reference/cli/index.md"
# pages other engineers write this session: in the nav (under "How-to") and linked from the
# how-to pages once they exist; until then a link to one is shown as its text
OPTIONAL = {
    "tune.md": "Fine-tuning with bertex tune",
    "tune-tasks.md": "Tuning task models",
    "mlm-and-fill.md": "Masked-language modelling and fill",
    "task-models.md": "Task models: predict, answer, rerank",
}
LINK = re.compile(
    r"\[([^\]]+)\]\(((?:\.\./)*)(" + "|".join(map(re.escape, OPTIONAL)) + r")(#[^)]*)?\)"
)


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of each subcommand, in registration order."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) not in seen:  # aliases share a parser
                    seen.add(id(sub))
                    out.append((name, helps.get(name, ""), sub))
    return out


def _parser() -> argparse.ArgumentParser:
    sys.path.insert(0, str(ROOT / "src"))
    os.environ["COLUMNS"] = "100"
    from bertex.cli.main import build_parser

    return build_parser()


def _command_page(name: str, summary: str, parser: argparse.ArgumentParser) -> str:
    parts = [f"# bertex {name}", "", summary + ("." if summary and summary[-1] != "." else ""), ""]
    parts += ["Generated from the command's own parser (`bertex " + name + " --help`).", ""]
    parts += ["```text", parser.format_help().rstrip(), "```", ""]
    for sub_name, sub_help, sub in _subcommands(parser):
        parts += [f"## bertex {name} {sub_name}", "", sub_help, ""]
        parts += ["```text", sub.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


def _cli_pages() -> dict[str, str]:
    commands = _subcommands(_parser())
    index = [
        "# CLI reference",
        "",
        "Every `bertex` command, generated from its argparse parser "
        "when the site is built. A usage error or bad input exits with status 2 and one "
        "line (`bertex: error: ...`).",
        "",
        "| command | what |",
        "|---|---|",
    ]
    index += [f"| [`bertex {n}`](bertex-{n}.md) | {h} |" for n, h, _ in commands]
    pages = {CLI_INDEX: "\n".join(index) + "\n"}
    for name, summary, parser in commands:
        pages[f"reference/cli/bertex-{name}.md"] = _command_page(name, summary, parser)
    return pages


def _api_page() -> str:
    sys.path.insert(0, str(ROOT / "src"))
    import bertex

    lines = [
        "# Python API",
        "",
        "Every public name of `bertex` (its `__all__`), from the "
        "docstrings. `import bertex` then `bertex.NAME`.",
        "",
    ]
    for name in bertex.__all__:
        lines += [f"::: bertex.{name}", "    options:", "      heading_level: 2", ""]
    return "\n".join(lines)


def on_config(config: Any) -> Any:
    names = [n for n, _, _ in _subcommands(_parser())]
    entries = [{"Commands": CLI_INDEX}] + [
        {f"bertex {n}": f"reference/cli/bertex-{n}.md"} for n in names
    ]
    _replace(config["nav"], CLI_INDEX, entries)
    howto = next(i["How-to"] for i in config["nav"] if isinstance(i, dict) and "How-to" in i)
    howto.extend(
        {title: page} for page, title in OPTIONAL.items() if (ROOT / "docs" / page).exists()
    )
    return config


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """A link to another engineer's page that has not landed yet is shown as its text."""

    def keep(m: re.Match[str]) -> str:
        return m.group(0) if (ROOT / "docs" / m.group(3)).exists() else m.group(1)

    return LINK.sub(keep, markdown)


def _replace(nav: list[Any], target: str, entries: list[Any]) -> bool:
    for item in nav:
        for key, value in item.items() if isinstance(item, dict) else []:
            if value == target:
                item[key] = entries
                return True
            if isinstance(value, list) and _replace(value, target, entries):
                return True
    return False


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    generated = {**_cli_pages(), "reference/api.md": _api_page(), "benchmarks.md": _benchmarks()}
    for path, content in generated.items():
        files.append(File.generated(config, path, content=content))
    # the chart lives at the repository's root, beside BENCHMARKS.md: linked, not copied
    files.append(
        File.generated(config, "benchmarks.png", abs_src_path=str(ROOT / "benchmarks.png"))
    )
    return files


def _benchmarks() -> str:
    """BENCHMARKS.md (written by `make bench`) as a page, its chart beside it."""
    return (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
