"""Stand-ins for the shop and notification tests: a shop that fails, hangs and calls back; SMTP; a webhook."""

from __future__ import annotations

import json
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from hub.broker.mosquitto import free_port
from hub.merchants.signing import sign, signed_headers, verify
from tests.conftest import wait_for  # noqa: F401 - re-exported for this folder's tests
from tests.hub.conftest import Api, HubServer
from tests.hub.receiver import Answer, Post, serving

JSON = "application/json"

FAST = {
    "merchant_retry_base_s": 0.2,
    "merchant_retry_max_s": 1.0,
    "merchant_timeout_s": 3.0,
    "notify_poll_s": 0.2,
    "notify_timeout_s": 2.0,
    "notify_retry_base_s": 0.5,
}


@dataclass
class ShopRequest:
    """One request the shop received, with whether the hub's signature was valid."""

    key: str
    body: dict[str, Any]
    merchant: str
    signature_ok: bool


@dataclass
class Shop:
    """A shop over HTTP: records requests, keeps one order per idempotency key, answers as scripted."""

    secret: str
    now: Callable[[], datetime]
    # Answers for the next requests, in order: an HTTP status, or "hang" (take the order, never answer).
    script: list[int | str] = field(default_factory=list)
    requests: list[ShopRequest] = field(default_factory=list)
    orders: dict[str, str] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    @property
    def url(self) -> str:
        """Where the hub posts orders."""
        return f"http://127.0.0.1:{self.port}/orders"

    def handle(self, post: Post) -> Answer:
        """Record a request and decide the answer."""
        headers, raw = post.headers, post.body
        body = json.loads(raw)
        try:
            verify(self.secret, headers.get("X-Restock-Timestamp"), headers.get("X-Restock-Signature"), raw,
                   self.now(), 300)
            ok = True
        except Exception:
            ok = False
        key = headers.get("Idempotency-Key", "")
        self.requests.append(ShopRequest(key, body, headers.get("X-Restock-Merchant", ""), ok))
        answer = self.script.pop(0) if self.script else 200
        if answer in (200, "hang"):
            # A real shop stores the order under the key first: a retry of the key gets the same order back.
            self.orders.setdefault(key, f"shop-{len(self.orders) + 1}")
        if answer == "hang":
            self.release.wait(30)
            return 503, b"{}", JSON
        status = int(answer)
        reply = {"ref": self.orders.get(key)} if status == 200 else {"error": "boom"}
        return status, json.dumps(reply).encode(), JSON


@pytest.fixture
def make_shop() -> Iterator[Callable[[Callable[[], datetime]], Shop]]:
    """Start shops on free ports; stopped at the end."""
    with ExitStack() as stack:
        shops: list[Shop] = []

        def make(now: Callable[[], datetime]) -> Shop:
            shop = Shop(secret=secrets.token_urlsafe(24), now=now)
            shop.port = int(stack.enter_context(serving(shop.handle)).rsplit(":", 1)[1])
            shops.append(shop)
            return shop

        yield make
        for shop in shops:
            shop.release.set()  # a hanging answer lets go, so its server can shut down


def callback(
    server: HubServer,
    merchant: str,
    secret: str,
    body: dict[str, Any],
    *,
    at: datetime | None = None,
    forged: bool = False,
) -> httpx.Response:
    """POST a signed shop callback to the hub (signed with a wrong key when `forged`)."""
    raw = json.dumps(body).encode()
    now = at or server.hub.clock.now()
    headers = {"Content-Type": "application/json", "X-Restock-Merchant": merchant,
               **signed_headers("not-the-secret" * 2 if forged else secret, raw, now)}
    return httpx.post(f"{server.url}/api/v1/merchants/callback", content=raw, headers=headers, timeout=20)


def connect_shop(api: Api, shop: Shop, name: str | None = None) -> str:
    """Register the shop as the household's merchant; returns its name."""
    name = name or f"shop-{secrets.token_hex(3)}"
    api.ok("POST", "/api/v1/merchants", json={"name": name, "url": shop.url, "secret": shop.secret})
    return name


def shop_product(api: Api, merchant: str, sku: str, name: str, price: int) -> int:
    """Add a product of the shop to the household catalog."""
    return int(api.ok("POST", f"/api/v1/merchants/{merchant}/products",
                      json={"sku": sku, "name": name, "price": price})["id"])


def bind_button(api: Api, device_id: str, product: int) -> str:
    """Register a button bound to a product (order mode); returns its secret."""
    created = api.ok("POST", "/api/v1/devices", json={"kind": "dash_button", "name": device_id, "id": device_id})
    api.ok("PUT", f"/api/v1/devices/{device_id}/binding", json={"product_id": product, "qty": 1, "mode": "order"})
    return str(created["secret"])


@dataclass
class Mailbox:
    """Messages a local SMTP server received."""

    port: int
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:  # noqa: N802
        """aiosmtpd hook: keep the message."""
        content = envelope.original_content or b""
        self.messages.append(message_from_bytes(content if isinstance(content, bytes) else content.encode()))
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A local SMTP server (aiosmtpd) on a free port."""
    box = Mailbox(port=free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


@pytest.fixture
def silent_webhook() -> Iterator[str]:
    """A URL whose server accepts connections and never answers (the listen backlog takes them)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    sock.close()


def timeline(api: Api, order_id: str) -> list[tuple[str, str]]:
    """(status, actor) of each step of an order."""
    return [(step["status"], step["actor"]) for step in api.ok("GET", f"/api/v1/orders/{order_id}")["timeline"]]


__all__ = ["FAST", "Mailbox", "Shop", "bind_button", "callback", "connect_shop", "shop_product", "sign", "timeline",
           "wait_for"]
