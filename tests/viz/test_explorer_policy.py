"""Issue 30 case 8: the explorer page and the API send a strict Content-Security-Policy,
nosniff and no-referrer; the page still works under its own policy in a real Chromium, the
policy is enforced (an injected script does not run), and no other page can frame it."""

from __future__ import annotations

from typing import Any

import httpx

from test_server import KEY, Server

from .test_explorer import A, B, ui_server  # noqa: F401  (the module's server fixture)


def _headers_of(r: httpx.Response) -> dict[str, str]:
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"
    return {k: v for k, v in r.headers.items()}


def test_case8_every_answer_carries_the_headers(ui_server: Server) -> None:  # noqa: F811
    """Before the fix: no CSP, no nosniff, no frame protection on the page or the API."""
    page = _headers_of(httpx.get(ui_server.url + "/"))["content-security-policy"]
    rules = dict(r.split(" ", 1) for r in page.split("; "))
    assert rules["script-src"].startswith("'sha256-") and "unsafe" not in page
    assert rules["connect-src"] == "'self'" and rules["frame-ancestors"] == "'none'"
    assert rules["default-src"] == "'none'"
    ok = ui_server.post("/v1/tokenize", {"input": "a cat"})
    refused = httpx.post(ui_server.url + "/v1/tokenize", json={"input": "a cat"})  # no key
    for r in (ok, refused, httpx.get(ui_server.url + "/health")):
        csp = _headers_of(r)["content-security-policy"]
        assert csp.startswith("default-src 'none'") and "frame-ancestors 'none'" in csp
    assert (ok.status_code, refused.status_code) == (200, 401)


def test_case8_the_page_works_under_its_own_policy(browser: Any, ui_server: Server) -> None:  # noqa: F811
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    refused: list[str] = []
    errors: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(ui_server.url + "/")
    page.fill("#key", KEY)
    page.fill("#text", A)
    page.fill("#text2", B)
    page.click("#go")
    page.wait_for_selector("#go:not([disabled])", timeout=30000)  # no eval: the page's CSP
    assert not page.locator("#error").is_visible()
    assert page.locator("#tokens .tok").count() > 0 and page.locator("#grid canvas").count() > 0
    assert page.locator("#sim td.v").count() > 0 and not page.locator("#nnbox").is_visible()
    assert refused == [] and errors == []
    ran = page.evaluate(
        """() => { const s = document.createElement('script');
                   s.textContent = 'window.injected = 1'; document.body.appendChild(s);
                   return window.injected === 1; }"""
    )
    assert ran is False and any("Content Security" in m for m in refused)
    page.close()


def test_case8_no_other_page_can_frame_the_explorer(browser: Any, ui_server: Server) -> None:  # noqa: F811
    page = browser.new_page()
    page.set_content(f'<iframe src="{ui_server.url}/" width="600" height="400"></iframe>')
    page.wait_for_timeout(1500)
    child = page.frames[-1]
    assert child is not page.main_frame
    assert child.query_selector("#key") is None  # refused: the key field is never shown framed
    page.close()
