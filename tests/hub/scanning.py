"""Scan-to-cart helpers: a local stand-in for Open Food Facts, a household with a wand, helpers."""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import (
    ROOT,
    wait_for,  # noqa: F401 - re-exported for this folder's tests
)
from tests.hub.conftest import Api, HubServer, sign_up

# Answers of the documented API v2 product read, GET /api/v2/product/{code}
# (https://openfoodfacts.github.io/openfoodfacts-server/api/ref-v2/): found = 200 with status 1 and the
# product object; not found = 404 with status 0 and "product not found".
OFF_FOUND = "3017620422003"
OFF_NAMELESS = "5449000131805"
OFF_SLOW = "8000500310427"
OFF_THROTTLED = "7622210449283"
OFF_BROKEN = "5000112546415"
SLOW_S = 3.0


@dataclass
class FakeOpenFoodFacts:
    """A local HTTP server answering like Open Food Facts' API v2 product endpoint."""

    server: ThreadingHTTPServer
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, user agent)

    @property
    def url(self) -> str:
        """Base URL to configure as RESTOCK_OFF_URL."""
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def codes(self) -> list[str]:
        """The product codes asked for, in order."""
        return [m.group(1) for path, _ in self.requests if (m := re.search(r"/product/(\d+)", path))]


def _handler(fake: FakeOpenFoodFacts) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            fake.requests.append((self.path, self.headers.get("User-Agent", "")))
            match = re.fullmatch(r"/api/v2/product/(\d+)(\?.*)?", self.path)
            code = match.group(1) if match else ""
            if code == OFF_SLOW:
                time.sleep(SLOW_S)
            if code == OFF_THROTTLED:
                self._send(429, {"status": 0, "status_verbose": "too many requests"}, {"Retry-After": "1"})
            elif code == OFF_BROKEN:
                self._send(500, {"status": 0}, {})
            elif code == OFF_FOUND or code == OFF_SLOW:
                product = {"product_name": "Nutella", "brands": "Ferrero,Nutella", "quantity": "400 g"}
                self._send(200, {"code": code, "product": product, "status": 1, "status_verbose": "product found"})
            elif code == OFF_NAMELESS:
                self._send(200, {"code": code, "product": {}, "status": 1, "status_verbose": "product found"})
            else:
                self._send(404, {"code": code, "status": 0, "status_verbose": "product not found"})

        def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            try:
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up (timeout test)

        def log_message(self, *_args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def off_server() -> Iterator[FakeOpenFoodFacts]:
    """A local Open Food Facts stand-in on a free port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    fake = FakeOpenFoodFacts(server)
    server.RequestHandlerClass = _handler(fake)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


def documented_feedback() -> dict[str, tuple[str, int]]:
    """Feedback codes of docs/protocol.md §5 with the LED colour and blink count its table gives."""
    text = (ROOT / "docs" / "protocol.md").read_text()
    table = text.split("Feedback codes:", 1)[1].split("\n\n", 2)[1]
    codes: dict[str, tuple[str, int]] = {}
    for row in table.splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        code = re.fullmatch(r"`([a-z_]+)`", cells[0])
        led = re.fullmatch(r"([a-z]+), ([0-9]+) (?:long|short)", cells[-1])
        if code:
            codes[code.group(1)] = (led.group(1), int(led.group(2))) if led else ("", 0)
    return codes


@dataclass
class Home:
    """A signed-up household with a registered barcode wand."""

    server: HubServer
    api: Api
    wand: str
    secret: str
    household_id: int


def new_home(server: HubServer, name: str = "Home") -> Home:
    """Sign up a household and register a barcode wand for it."""
    api = sign_up(server.url, name=name)
    wand = f"wand-{secrets.token_hex(3)}"
    created = api.ok("POST", "/api/v1/devices", json={"kind": "barcode_wand", "id": wand, "name": "kitchen wand"})
    return Home(server, api, wand, str(created["secret"]), int(api.ok("GET", "/api/v1/household")["id"]))


def inbox_by_gtin(api: Api) -> dict[str, dict[str, Any]]:
    """The household's inbox keyed by GTIN-14."""
    return {e["gtin"]: e for e in api.ok("GET", "/api/v1/inbox")}


def cart_qty(api: Api) -> dict[str, int]:
    """Cart quantities keyed by product name."""
    return {line["name"]: line["qty"] for line in api.ok("GET", "/api/v1/cart")["lines"]}
