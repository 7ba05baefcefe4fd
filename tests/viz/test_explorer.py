"""`bertex serve --ui`: the explorer page in a real Chromium against a real server process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import bertex
from test_server import KEY, Server  # tests/ is on sys.path (rootdir-relative test modules)

A, B = "the cat sat on the mat ☃", "a dog ran"


@pytest.fixture(scope="module")
def ui_server(bert_dir: Path) -> Iterator[Server]:
    s = Server(bert_dir, "--ui", "--api-key", KEY, "--max-chars", "500")
    yield s
    s.stop()


def look(browser: Any, server: Server, text: str, text2: str = "", key: str = KEY) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/")
    page.fill("#key", key)
    page.fill("#text", text)
    page.fill("#text2", text2)
    page.click("#go")
    page.wait_for_selector("#go:not([disabled])", timeout=30000)  # no eval: the page's CSP
    assert errors == []
    return page


def test_explorer_shows_what_the_api_and_library_say(
    browser: Any, ui_server: Server, tiny_bert: bertex.Model, tmp_path: Path
) -> None:
    page = look(browser, ui_server, A, B)
    assert not page.locator("#error").is_visible()
    tokenized = ui_server.post("/v1/tokenize", {"input": A}).json()["data"][0]
    assert page.locator("#tokens .tok").count() == len(tokenized["tokens"])
    assert page.locator("#tokens .tok.unk").count() == tokenized["unk_count"] == 1
    att = tiny_bert.embed(A, level="token", attentions=True).attentions  # (L, H, T, T)
    assert page.locator("#grid canvas.cell").count() == att.shape[0] * att.shape[1]
    page.click("#grid canvas[data-layer='0'][data-head='1']")
    assert page.locator("#sel").inner_text() == "layer 1, head 2"
    # the head view draws a line per weight >= 0.02 of the clicked map (tokens on both sides)
    assert page.locator("#lines line.att").count() == int((att[0, 1] >= 0.02).sum())
    page.locator("#lines text").first.hover()  # focus the first token: only its lines remain
    assert page.locator("#lines line.att").count() == int((att[0, 1][0] >= 0.02).sum())
    shown = page.locator("#head td.v").all_inner_texts()  # (T, T) row-major, 2 decimals
    assert shown == [f"{v:.2f}" for v in att[0, 1].reshape(-1)]
    t = len(tokenized["tokens"])
    page.select_option("#layer", "0")  # the token-to-token table at layer 0
    assert page.locator("#tsim td.v").count() == t * t
    assert page.locator("#tsim td.v").first.inner_text() == "1.000"
    r = tiny_bert.embed([A, B], layers="all", combine="stack", pooling="cls")  # (2, L+1, H)
    cells = page.locator("#sim td.v").all_inner_texts()  # rows: layers; first column: cls
    for layer in range(r.vectors.shape[1]):
        x, y = r.vectors[0, layer], r.vectors[1, layer]
        assert cells[layer * 4] == f"{x @ y / np.linalg.norm(x) / np.linalg.norm(y):.3f}"
    assert not page.locator("#nnbox").is_visible()  # no --index: no /v1/search, no section
    assert page.locator("#nn tr.hit").count() == 0
    page.screenshot(path=str(tmp_path / "explorer.png"), full_page=True)
    page.close()


DOCS = [
    "The cat sat on the mat. It was a happy cat.",
    "Dogs like to run in the park. They chase balls.",
    "A guitar plays music. The drums keep time.",
    "The sun is a star. It is very hot.",
    "Bread is baked in an oven. It smells good.",
    "Rain falls from clouds. Rivers carry it to the sea.",
]


def test_explorer_shows_the_nearest_neighbours_from_the_index(
    browser: Any, bert_dir: Path, tiny_bert: bertex.Model, tmp_path: Path
) -> None:
    from bertex.cli.main import main

    corpus, ix = tmp_path / "c.jsonl", tmp_path / "ix"
    rows = [json.dumps({"id": f"d{i}", "text": t}) for i, t in enumerate(DOCS)]
    corpus.write_text("\n".join(rows) + "\n", encoding="utf-8")
    build = ["index", "build", str(ix), "--input", str(corpus), "--model", str(bert_dir)]
    assert main([*build, "--split", "sentence", "-q"]) == 0
    server = Server(bert_dir, "--ui", "--index", str(ix))
    try:
        page = look(browser, server, "a cat on a mat", key="")
        assert not page.locator("#error").is_visible() and page.locator("#nnbox").is_visible()
        want = bertex.Index.open(ix, model=tiny_bert).search("a cat on a mat", k=5)
        assert page.locator("#nn tr.hit td.id").all_inner_texts() == list(want.ids)
        assert page.locator("#nn tr.hit td.score").all_inner_texts() == [
            f"{s:.3f}" for s in want.scores
        ]
        assert page.locator("#nn tr.hit td.rank").all_inner_texts() == ["1", "2", "3", "4", "5"]
        marks = page.locator("#nn tr.hit td.text mark").all_inner_texts()  # one sentence each
        assert marks == [t[a:b] for t, (a, b) in zip(want.texts, want.spans)]
        assert all(m and m != t for m, t in zip(marks, want.texts))
        page.screenshot(path=str(tmp_path / "neighbours.png"), full_page=True)
        page.close()
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("text", "key", "says"),
    [(A, "", "401"), ("word " * 200, KEY, "413"), ("", KEY, "422")],
)
def test_explorer_shows_api_errors(
    browser: Any, ui_server: Server, text: str, key: str, says: str, tmp_path: Path
) -> None:
    page = look(browser, ui_server, text, key=key)
    assert page.locator("#error").is_visible()
    assert page.locator("#error").inner_text().startswith(says)
    page.screenshot(path=str(tmp_path / "error.png"))
    page.close()


def test_explorer_renders_chinese(browser: Any, chinese_bert_dir: Path, tmp_path: Path) -> None:
    server = Server(chinese_bert_dir, "--ui")  # a vocabulary with one token per Han character
    try:
        page = look(browser, server, "我们在北京学习", "他们在上海工作", key="")
        assert not page.locator("#error").is_visible()
        shown = page.locator("#tokens .tok").all_inner_texts()
        assert shown[2] == "们1:2" and page.locator("#tokens .tok.unk").count() == 0
        page.screenshot(path=str(tmp_path / "chinese.png"), full_page=True)
        page.close()
    finally:
        server.stop()


def test_explorer_shows_a_429_as_busy(browser: Any, ui_server: Server) -> None:
    """Overload is hard to make on demand; the page's handling of the server's 429 body is not."""
    from bertex.server.errors import ApiError, body

    busy = ApiError(429, "the queue is full (64 texts waiting)", code="overloaded")
    page = browser.new_page()
    page.route(
        "**/v1/tokenize",
        lambda route: route.fulfill(status=429, json=body(busy), headers={"retry-after": "1"}),
    )
    page.goto(ui_server.url + "/")
    page.fill("#key", KEY)
    page.click("#go")
    page.wait_for_selector("#go:not([disabled])")
    assert page.locator("#error").inner_text() == (
        "429: the queue is full (64 texts waiting) (the server is busy: try again in a moment)"
    )
    page.close()


@pytest.mark.parametrize("ui", [True, False])
def test_the_page_is_served_only_with_ui_and_needs_no_key(
    tiny_bert: bertex.Model, ui: bool
) -> None:
    from starlette.testclient import TestClient

    from bertex.server.app import create_app
    from bertex.server.config import ServerConfig

    app = create_app(tiny_bert, ServerConfig(api_keys=[KEY]), ui=ui)
    client = TestClient(app, base_url="http://127.0.0.1")
    page = client.get("/")
    assert page.status_code == (200 if ui else 401)  # without --ui, / is no open route
    if ui:
        assert "bertex explorer" in page.text and "http" not in page.text.split("<body>")[1]
    assert (
        client.post("/v1/tokenize", json={"input": "x"}).status_code == 401
    )  # the API still needs it
    app.state.bertex.engine.close()
