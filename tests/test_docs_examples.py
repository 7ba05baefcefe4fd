"""Every code block of README.md, README.zh-CN.md and docs/ runs and prints what the page shows.

One test per page (see tests/docs_examples.py for the convention). The shown outputs are
produced by `python scripts/docs_outputs.py` (which runs the same code), never typed.
"""

from __future__ import annotations

import difflib

import pytest

from docs_examples import ROOT, PageRun, matches, pages, parse

PAGES = pages()


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_page_blocks_run_and_print_what_is_shown(page, tmp_path):
    blocks = parse(page.read_text(encoding="utf-8"))
    run = PageRun(tmp_path)
    for block in blocks:
        if block.skip:
            continue
        got = run.run(block)
        if block.expected is not None and not matches(block.expected, got):
            diff = "\n".join(
                difflib.unified_diff(
                    block.expected.splitlines(), got.splitlines(), "shown", "printed", lineterm=""
                )
            )
            pytest.fail(f"{page.name}: the block at line {block.line} printed otherwise:\n{diff}")


def test_skips_are_few_and_give_a_reason():
    skipped = [
        (p.name, b.line, b.skip) for p in PAGES for b in parse(p.read_text("utf-8")) if b.skip
    ]
    run = [b for p in PAGES for b in parse(p.read_text("utf-8")) if not b.skip]
    assert all(len(reason) >= 8 for _, _, reason in skipped), skipped
    assert len(skipped) * 4 <= len(run), skipped  # at most one block in five opts out


@pytest.mark.parametrize(
    "shown, printed, ok",
    [
        ("cosine 0.67", "cosine 0.6712", True),
        ("cosine 0.67", "cosine 0.71", False),
        ("(2, 384)", "(2, 384)", True),
        ("(2, 384)", "(2, 385)", False),
        ("a\n...\nz", "a\nb\nc\nz", True),
        ("a\n...\nz", "a\nb\nc", False),
        ("+0.061  +0.041", "-0.001 +0.041", False),
        ("x   y", "x y", True),
        ("doc-00 p08", "doc-01 p08", False),
    ],
)
def test_the_output_comparison(shown, printed, ok):
    assert matches(shown, printed) is ok


def test_the_parser_pairs_blocks_with_outputs_and_skips():
    text = (
        "```python\nprint(1)\n```\n\n```text\n1\n```\n"
        "<!-- docs-test: skip (needs a GPU) -->\n```bash\nnvidia-smi\n```\n"
        "```json\n{}\n```\n"
    )
    blocks = parse(text)
    assert [(b.lang, b.expected, b.skip) for b in blocks] == [
        ("python", "1", None),
        ("bash", None, "needs a GPU"),
    ]
