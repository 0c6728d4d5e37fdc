"""One whole answer sent straight from a middleware, on a connection that cannot carry another request."""

from __future__ import annotations

from starlette.types import Send


async def answer_and_close(send: Send, status: int, content_type: bytes, body: bytes) -> None:
    """Send a complete response that tells the client the connection ends with it."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
