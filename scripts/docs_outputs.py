"""Refresh the outputs shown in the docs: run every page's blocks (as the docs test does) and
write what each block printed into the ```text block after it, where it no longer matches.

    python scripts/docs_outputs.py                 # every page
    python scripts/docs_outputs.py docs/index.md   # some pages
    python scripts/docs_outputs.py --check          # say what differs, write nothing

A shown output that still matches (numbers within tolerance, `...` lines) is left as it is,
so hand-placed `...` lines survive; one that differs is replaced whole by what was printed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from docs_examples import ROOT, PageRun, matches, pages, parse  # noqa: E402


def refresh(page: Path, check: bool) -> int:
    text = page.read_text(encoding="utf-8")
    lines = text.split("\n")
    changes: list[tuple[tuple[int, int], list[str]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        run = PageRun(Path(tmp))
        for block in parse(text):
            if block.skip:
                continue
            got = run.run(block)
            placeholder = (block.expected or "").strip() == "..."  # "fill this in"
            if block.expected_span and (placeholder or not matches(block.expected or "", got)):
                changes.append((block.expected_span, got.rstrip("\n").split("\n")))
                print(f"{page.relative_to(ROOT)}:{block.line}: output differs", file=sys.stderr)
    if changes and not check:
        for (start, end), new in reversed(changes):
            lines[start:end] = [s.rstrip() for s in new]
        page.write_text("\n".join(lines), encoding="utf-8")
    return len(changes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pages", nargs="*", type=Path)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    todo = [p.resolve() for p in args.pages] or pages()
    changed = sum(refresh(p, args.check) for p in todo)
    print(f"{changed} shown output(s) {'differ' if args.check else 'refreshed'}")
    return 1 if changed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
