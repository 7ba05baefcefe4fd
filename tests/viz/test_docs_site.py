"""The documentation site: `mkdocs build --strict` (what `make docs` runs) builds offline with
no warning, the API reference lists every name of bertex.__all__, the CLI reference has a
page per subcommand; in Chromium the front page and a how-to page render without any request
leaving the machine, the nav leads to another page, and search finds "attention".

Screenshots: build/docs-screenshots/front.png and build/docs-screenshots/howto-attention.png
(written on every run; `build/` is ignored by git)."""

from __future__ import annotations

import functools
import http.server
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import assert_drawn

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "docs-screenshots"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_MKDOCS_2_WARNING": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    p = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr
    assert "WARNING" not in p.stderr, p.stderr
    return out


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def test_the_strict_build_has_every_page(site: Path) -> None:
    import bertex
    from bertex.cli.main import build_parser

    assert (site / "index.html").exists() and (site / "zh" / "index.html").exists()
    api = (site / "reference" / "api" / "index.html").read_text("utf-8")
    ids = set(re.findall(r'id="bertex\.([A-Za-z_]\w*)"', api))
    assert set(bertex.__all__) - ids == set()
    commands = [a for a in build_parser()._actions if hasattr(a, "choices") and a.choices]
    for name, parser in commands[0].choices.items():
        page = (site / "reference" / "cli" / f"bertex-{name}" / "index.html").read_text("utf-8")
        assert parser.format_usage().split()[1] in page  # "bertex" "embed" ...: generated
    howtos = list((ROOT / "docs" / "howto").glob("*.md"))
    assert len(howtos) >= 12 and len(list((ROOT / "docs" / "zh").glob("*.md"))) >= 6
    html = "".join(p.read_text("utf-8") for p in site.rglob("*.html"))
    assert "fonts.googleapis.com" not in html and "cdn.jsdelivr" not in html


def _open(browser: Any, url: str) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    outside: list[str] = []
    local = url.split("/", 3)[:3]

    def gate(route: Any) -> None:
        u = route.request.url
        if u.split("/", 3)[:3] == local or u.startswith(("data:", "blob:", "about:")):
            route.continue_()
        else:
            outside.append(u)
            route.abort()

    page.route("**/*", gate)
    page.goto(url)
    page.wait_for_load_state("networkidle")
    return page, outside


def test_front_page_renders_nav_works_and_search_finds_attention(browser: Any, served: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page, outside = _open(browser, served + "/")
    assert "bertex" in page.title()
    page.screenshot(path=str(SHOTS / "front.png"))
    assert_drawn(SHOTS / "front.png", ink=0.02)
    page.click("nav.md-nav--primary a[href$='getting-started/']")
    page.wait_for_url("**/getting-started/")
    assert page.locator("h1").first.inner_text().startswith("Getting started")
    page.click("label.md-search__icon, .md-search__input", force=True)
    page.fill(".md-search__input", "attention")
    page.wait_for_selector(".md-search-result__item", timeout=20_000)
    results = page.locator(".md-search-result__item").all_inner_texts()
    assert any("attention" in r.lower() for r in results), results
    assert outside == []
    page.close()


def test_a_how_to_page_renders_its_code_and_figure(browser: Any, served: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page, outside = _open(browser, served + "/howto/attention/")
    assert page.locator("h1").first.inner_text().startswith("Self-attention")
    assert page.locator("pre code").count() >= 3
    img = page.locator("img[src$='attention.png']").first
    assert img.evaluate("i => i.complete && i.naturalWidth > 100")
    page.screenshot(path=str(SHOTS / "howto-attention.png"), full_page=False)
    assert_drawn(SHOTS / "howto-attention.png", ink=0.02)
    assert outside == []
    page.close()
