"""Request body size limits, enforced while the body arrives instead of after it was read whole.

A declared `Content-Length` above the limit is answered 413 before a byte of the body is read. A body of
unknown length (chunked) is counted as the application reads it; the read that passes the limit fails, and
whatever the application then answers (FastAPI turns a failed body read into a 400) is replaced by the 413.
The server reads the body in small pieces with flow control, so a refused body never sits in memory.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.http.closing import answer_and_close

KIB = 1024
MIB = 1024 * KIB


class BodyTooLarge(Exception):
    """Raised by the limited `receive` once the body passed its limit; answered with 413."""


class BodyLimit:
    """ASGI middleware: at most `default` bytes of request body, or the per-path limit for upload routes."""

    def __init__(self, app: ASGIApp, default: int, per_path: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.default = default
        self.per_path = dict(per_path or {})

    def limit_for(self, path: str) -> int:
        """The body limit of a request path (exact match; upload routes are few and named)."""
        return self.per_path.get(path.rstrip("/") or "/", self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(send, limit)
            return

        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # the application's answer to a cut body; the 413 below replaces it
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            pass
        if exceeded and not started:
            await _too_large(send, limit)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _too_large(send: Send, limit: int) -> None:
    # The rest of the body is never read, so this connection cannot carry another request.
    body = json.dumps({"detail": f"the request body is larger than {limit} bytes"}).encode()
    await answer_and_close(send, 413, b"application/json", body)
