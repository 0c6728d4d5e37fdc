"""A local HTTP receiver standing in for a third-party service (shop, webhook, push service): one per test."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Post:
    """One POST the receiver got."""

    path: str
    headers: Message
    body: bytes


# What the service answers a POST with: status, body and the body's content type.
Answer = tuple[int, bytes, str]


@contextmanager
def serving(answer: Callable[[Post], Answer]) -> Iterator[str]:
    """Serve POSTs on a free loopback port, each answered by `answer`; yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status, body, content_type = answer(Post(self.path, self.headers, raw))
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the hub gave up on this request (it was stopped): nobody reads the answer

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
