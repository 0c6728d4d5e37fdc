"""Security headers on every response: pages, API answers, errors, redirects, static files and streams.

The dashboard runs no inline script and sets no inline style, so its policy allows only this origin's files.
The API documentation pages are FastAPI's: they load Swagger UI / ReDoc from a CDN and start them with an
inline script, so they get a policy of their own that names the CDN and the exact inline scripts by hash.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Collection

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SHARED = (
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)
# connect-src covers the live page's fetch and EventSource; img-src the supplies charts.
CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        *_SHARED,
    )
)
CDN = "https://cdn.jsdelivr.net"
# Swagger UI and ReDoc set styles from script and ReDoc ships an inline <style>: 'unsafe-inline' for styles on
# these pages only (no page data is shown there). Scripts stay pinned: the CDN, this origin and the hashes.
_DOCS = (
    "default-src 'none'",
    "script-src 'self' " + CDN,  # + the page's inline script hashes
    "style-src 'self' 'unsafe-inline' " + CDN + " https://fonts.googleapis.com",
    "font-src 'self' https://fonts.gstatic.com",
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    *_SHARED,
)
HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)


def script_hashes(html: bytes) -> list[str]:
    """CSP sources for each inline <script> of a page: 'sha256-…' of its exact text."""
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html)
    ]


def docs_policy(html: bytes) -> str:
    """The policy of an API documentation page, allowing exactly its own inline scripts."""
    default, scripts, *rest = _DOCS
    return "; ".join((default, " ".join((scripts, *script_hashes(html))), *rest))


def _with_headers(message: Message, policy: str) -> Message:
    headers = MutableHeaders(scope=message)
    for name, value in HEADERS.items():
        headers[name] = value
    # A route may bring its own, stricter policy; the default never overrides it.
    headers.setdefault("content-security-policy", policy)
    return message


class SecurityHeaders:
    """ASGI middleware adding the security headers to every HTTP response; `docs_paths` get the docs policy."""

    def __init__(self, app: ASGIApp, docs_paths: Collection[str] = ()) -> None:
        self.app = app
        self.docs_paths = frozenset(docs_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in self.docs_paths:
            await self._docs_page(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = _with_headers(message, CSP)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Unhandled errors are answered by Starlette's outermost layer, which this middleware does not
            # wrap: answer here so the 500 carries the headers too, and let the error travel on to be logged.
            if not started:
                body = b"Internal Server Error"
                await send_with_headers(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()),
                            # The server drops the connection after an unhandled error: say so.
                            (b"connection", b"close"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
            raise

    async def _docs_page(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hold the (small, static) page until it is complete: its policy names hashes of its scripts."""
        start: Message | None = None
        chunks: list[bytes] = []

        async def collect(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                body = b"".join(chunks)
                await send(_with_headers(start, docs_policy(body)))
                await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, collect)
