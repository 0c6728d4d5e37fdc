"""Security headers on every response: pages, API answers, errors, redirects, static files and streams.

The dashboard runs no inline script and sets no inline style, so its policy allows only this origin's files.
The API documentation page (hub/http/docs.py) also runs only this origin's scripts, but Swagger UI styles
its elements from script and shows data: images, so that page brings a policy of its own.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.http.closing import answer_and_close

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
# The docs page shows no household data: inline styles are allowed there (Swagger UI sets them), scripts still
# come from this origin only.
DOCS_CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "font-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        *_SHARED,
    )
)
HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}
def _with_headers(message: Message, policy: str) -> Message:
    headers = MutableHeaders(scope=message)
    for name, value in HEADERS.items():
        headers[name] = value
    # A route may bring its own, stricter policy; the default never overrides it.
    headers.setdefault("content-security-policy", policy)
    return message


class SecurityHeaders:
    """ASGI middleware adding the security headers to every HTTP response; `docs_paths` get the docs policy
    unless their route set one itself."""

    def __init__(self, app: ASGIApp, docs_paths: Collection[str] = ()) -> None:
        self.app = app
        self.docs_paths = frozenset(docs_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        default = DOCS_CSP if scope["path"] in self.docs_paths else CSP
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = _with_headers(message, default)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Unhandled errors are answered by Starlette's outermost layer, which this middleware does not
            # wrap: answer here so the 500 carries the headers too, and let the error travel on to be logged.
            if not started:
                # The server drops the connection after an unhandled error: say so.
                await answer_and_close(send_with_headers, 500, b"text/plain; charset=utf-8", b"Internal Server Error")
            raise
