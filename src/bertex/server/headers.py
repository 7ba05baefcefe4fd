"""Security headers on every answer, in one ASGI middleware.

The explorer page runs its own inline script and style, allowed by their SHA-256 hashes (no
'unsafe-inline'); it may call only its own server (connect-src 'self'), load nothing else, and
no other site may frame it (frame-ancestors 'none'): a page framing it could otherwise trick a
user into typing the API key into it. JSON answers get a policy that allows nothing at all.
Every answer: X-Content-Type-Options: nosniff (a JSON body is never sniffed as HTML),
Referrer-Policy: no-referrer, and X-Frame-Options: DENY for browsers older than CSP 2.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)


def page_policy(html: str) -> str:
    """The CSP for a page whose only script and style are its own inline blocks.

    >>> page_policy("<style>b{}</style><script>go()</script>").split("; ")[1]
    "script-src 'sha256-5KYv+PUboo5h+0+YAtGRPbwv5d/QxzHslP4YGnUaxRw='"
    """
    scripts = " ".join(_hashes(html, "script")) or "'none'"
    styles = " ".join(_hashes(html, "style")) or "'none'"
    return (
        f"default-src 'none'; script-src {scripts}; style-src {styles}; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def _hashes(html: str, tag: str) -> list[str]:
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.S)
    return [
        f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in blocks
    ]


class SecurityHeaders:
    """Adds the headers to every HTTP answer: the page's policy on the pages in `pages`
    (path -> CSP), the API's everywhere else."""

    def __init__(self, app: Any, pages: dict[str, str] | None = None) -> None:
        self.app, self.pages = app, pages or {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        policy = self.pages.get(scope["path"], API_POLICY).encode()

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(b"content-security-policy", policy), *COMMON]
                added = [h for h in extra if h[0] not in have]
                message = {**message, "headers": [*message.get("headers", []), *added]}
            await send(message)

        return await self.app(scope, receive, send_with_headers)
