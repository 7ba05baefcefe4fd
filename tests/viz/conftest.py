"""One headless system Chromium per test session (`.ci/run` installs Debian's), and checks for
the static views: an HTML file opened with every network request refused, a PNG's pixels."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless system Chromium for the session (`.ci/run` installs it; CI never skips)."""
    if not Path(CHROMIUM).exists() and os.environ.get("CI", "").lower() != "true":
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (see .ci/run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def open_offline(browser: Any, path: Path) -> tuple[Any, list[str]]:
    """Open a file; every request that is not file: or data: is aborted and recorded."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    outside: list[str] = []

    def gate(route: Any) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:", "about:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    page.route("**/*", gate)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    assert errors == []
    return page, outside


def assert_drawn(path: Path, ink: float = 0.05) -> None:
    """At least 300x300 pixels, and more than `ink` of them darker than light grey."""
    from PIL import Image

    img = np.asarray(Image.open(path).convert("L"))  # (height, width)
    assert img.shape[0] >= 300 and img.shape[1] >= 300
    assert (img < 200).mean() > ink  # a drawn figure, not a blank canvas
