"""Push notifications through Apprise and their one-tap links.

A local HTTP server stands in for ntfy (Apprise's ntfy plugin posts JSON with the topic; action buttons go in
the X-Actions header) and for a plain `json://` receiver. The hub is real: a press on a protocol-level button
orders, the notifier pushes, and the link from the push is opened and tapped like a phone would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from simulator.protocol_device import ProtocolDevice
from tests.hub.conftest import Api, HubServer, add_button, sign_up
from tests.hub.receiver import Answer, Post, serving
from tests.hub.shops import FAST, wait_for

pytestmark = pytest.mark.broker
PUBLIC = "https://hub.example.test"  # where the links point; the test maps it back to the hub it started
LINK = re.compile(re.escape(PUBLIC) + r"(/act/[A-Za-z0-9._-]+)")


class PushService:
    """ntfy and a JSON receiver on one local port: keeps every message; the ntfy topic `down` answers 500."""

    def __init__(self) -> None:
        self.ntfy: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.json: list[dict[str, Any]] = []
        self.host = ""

    def answer(self, post: Post) -> Answer:
        """Keep the message; the topic `down` fails as ntfy does."""
        body = json.loads(post.body or b"{}")
        status, answer = 200, b'{"id":"m1"}'
        if post.path.startswith("/json"):
            self.json.append(body)
        elif body.get("topic") == "down":
            status, answer = 500, b'{"code":50001,"error":"topic is on fire"}'
        else:
            self.ntfy.append((dict(post.headers), body))
        return status, answer, "application/json"

    def pushes_about(self, order_id: str) -> list[tuple[dict[str, str], dict[str, Any]]]:
        """The ntfy messages that name the order."""
        return [(headers, body) for headers, body in self.ntfy if order_id in body.get("message", "")]


@pytest.fixture
def push() -> Iterator[PushService]:
    """The push stand-in on a free port."""
    made = PushService()
    with serving(made.answer) as url:
        made.host = url.removeprefix("http://")
        yield made


def _path(link: str) -> str:
    match = LINK.fullmatch(link)
    assert match, link
    return match.group(1)


def test_a_press_pushes_product_price_and_a_cancel_link_that_works_once(
    start_hub: Callable[..., HubServer], push: PushService, devices: Callable[..., ProtocolDevice]
) -> None:
    server = start_hub(http_public_url=PUBLIC + "/", **FAST)
    api = sign_up(server.url)
    topic = "restock-kitchen-7f3a"
    ntfy = api.ok("POST", "/api/v1/notifications/channels",
                  json={"kind": "apprise", "target": f"ntfy://{push.host}/{topic}"})
    api.ok("POST", "/api/v1/notifications/channels",
           json={"kind": "apprise", "target": f"json://{push.host}/json", "events": ["orders"]})
    # Secrets are not shown again: the topic is masked in the answer and in the list.
    assert topic not in ntfy["target"] and ntfy["target"].startswith("ntfy://")
    assert all(topic not in c["target"] for c in api.ok("GET", "/api/v1/notifications/channels"))
    assert {tuple(c["events"]) for c in api.ok("GET", "/api/v1/notifications/channels")} == {
        ("orders", "supply", "device"), ("orders",)}

    button = devices("btn-push", add_button(api, "btn-push", sku="COF-1KG", qty=2))
    feedback = button.wait_feedback(button.press())
    order_id = feedback["order"]
    headers, message = wait_for(lambda: next(iter(push.pushes_about(order_id)), None), "the ntfy push")

    # Lock-screen text: what, how many, the total, and what to do; the link is in the text and on a button.
    assert message["topic"] == topic
    assert f"2 × {feedback['product']}" in message["title"] and message["title"].startswith("Ordered")
    order = api.ok("GET", f"/api/v1/orders/{order_id}")
    assert f"{order['total'] / 100:.2f}" in message["title"]
    assert "you can cancel it until" in message["message"]
    link = LINK.search(message["message"])
    assert link is not None and f"Cancel order: {link.group(0)}" in message["message"]
    assert headers["X-Actions"] == f"view, Cancel order, {link.group(0)}"
    # The JSON service got the same words.
    pushed = wait_for(lambda: next((m for m in push.json if order_id in m["message"]), None), "the json push")
    assert link.group(0) in pushed["message"]

    with httpx.Client(base_url=server.url, timeout=20) as phone:  # signed out
        # Opening the link (or a preview fetching it) only shows what will happen.
        page = phone.get(_path(link.group(0)))
        assert page.status_code == 200 and order_id in page.text and "Cancel this order" in page.text
        assert page.headers["cache-control"] == "no-store"
        assert 'method="post"' in page.text
        assert api.ok("GET", f"/api/v1/orders/{order_id}")["status"] == "pending"
        # The tap cancels it.
        done = phone.post(_path(link.group(0)))
        assert done.status_code == 200 and "Order cancelled" in done.text
        assert api.ok("GET", f"/api/v1/orders/{order_id}")["status"] == "cancelled"
        # Once: the same link again, opened or tapped, is refused with a clear page.
        for again in (phone.get(_path(link.group(0))), phone.post(_path(link.group(0)))):
            assert again.status_code == 409 and "already been used" in again.text
        # A changed link is not ours.
        tampered = _path(link.group(0))[:-1] + ("0" if not link.group(0).endswith("0") else "1")
        refused = phone.post(tampered)
        assert refused.status_code == 400 and "not valid" in refused.text
        garbage = phone.get("/act/not-a-token")
        assert garbage.status_code == 400 and "This link cannot be used" in garbage.text

    # The household hears of the cancellation too.
    wait_for(lambda: any(body["title"].startswith("Cancelled") for _, body in push.pushes_about(order_id)),
             "the cancelled push")


def test_expired_and_other_household_links_are_refused_and_approval_links_decide(
    start_hub: Callable[..., HubServer], push: PushService, devices: Callable[..., ProtocolDevice]
) -> None:
    server = start_hub(http_public_url=PUBLIC, **FAST)
    api = sign_up(server.url)
    other: Api = sign_up(server.url, name="Next door")
    # Every order above 0.01 waits for approval.
    api.ok("PATCH", "/api/v1/household", json={"per_order_cap": 1})
    api.ok("POST", "/api/v1/notifications/channels", json={"kind": "apprise", "target": f"ntfy://{push.host}/t"})
    button = devices("btn-approve", add_button(api, "btn-approve", sku="COF-1KG"))
    order_id = button.wait_feedback(button.press())["order"]
    _, message = wait_for(lambda: next(iter(push.pushes_about(order_id)), None), "the approval push")
    assert message["title"].startswith("Approve?")
    assert "(above your limit per order): approve or reject it" in message["message"]
    links = dict(re.findall(r"(Approve|Reject): (\S+)", message["message"]))
    assert set(links) == {"Approve", "Reject"}

    household = api.ok("GET", "/api/v1/household")["id"]
    neighbour = other.ok("GET", "/api/v1/household")["id"]
    signer = server.hub.notifier.links
    now = datetime.now(UTC)
    expired = signer.token(household, order_id, "approve", now - timedelta(seconds=1))
    elsewhere = signer.token(neighbour, order_id, "approve", now + timedelta(days=1))
    with httpx.Client(base_url=server.url, timeout=20) as phone:
        gone = phone.post(f"/act/{expired}")
        assert gone.status_code == 410 and "expired" in gone.text
        foreign = phone.post(f"/act/{elsewhere}")
        assert foreign.status_code == 404 and "does not belong" in foreign.text
        assert api.ok("GET", f"/api/v1/orders/{order_id}")["status"] == "awaiting_approval"
        approved = phone.post(_path(links["Approve"]))
        assert approved.status_code == 200 and "Order approved" in approved.text
        # Approving settled it: the reject link of the same notification comes too late.
        late = phone.post(_path(links["Reject"]))
        assert late.status_code == 409 and "no longer waits for approval" in late.text
    assert api.ok("GET", f"/api/v1/orders/{order_id}")["status"] != "rejected"


def test_apprise_urls_are_checked_and_a_failing_service_is_retried_then_shown_failing(
    start_hub: Callable[..., HubServer], push: PushService, devices: Callable[..., ProtocolDevice]
) -> None:
    server = start_hub(notify_max_attempts=2, **FAST)
    email = "push-fail@example.org"
    api = sign_up(server.url, email=email)
    for bad in ("nonsense://x", "just words"):
        refused = api.post("/api/v1/notifications/channels", json={"kind": "apprise", "target": bad})
        assert refused.status_code == 422, refused.text
    down = api.ok("POST", "/api/v1/notifications/channels",
                  json={"kind": "apprise", "target": f"ntfy://{push.host}/down", "events": ["orders"]})
    # "Send a test" reports the service's own answer.
    tested = api.ok("POST", f"/api/v1/notifications/channels/{down['id']}/test")
    assert not tested["delivered"] and "topic is on fire" in tested["detail"] and "500" in tested["detail"]

    button = devices("btn-down", add_button(api, "btn-down", sku="COF-1KG"))
    order_id = button.wait_feedback(button.press())["order"]

    def given_up() -> dict[str, Any] | None:
        for note in api.ok("GET", "/api/v1/notifications"):
            if note["kind"] == "order.placed" and note["payload"]["order"]["id"] == order_id:
                delivery = note["deliveries"][0]
                return delivery if delivery["status"] == "dead" else None
        return None

    delivery = wait_for(given_up, "the failing push to be given up")
    assert delivery["attempts"] == 2 and "topic is on fire" in delivery["last_error"]

    with httpx.Client(base_url=server.url, timeout=20) as web:
        web.get("/web/signin")
        csrf = web.cookies.get("restock_signin") or ""
        web.post("/web/signin", data={"email": email, "password": "correct horse", "csrf": csrf})
        settings = web.get("/web/settings")
        assert settings.status_code == 200
        assert "Gave up" in settings.text and "topic is on fire" in settings.text
        assert "/down" not in settings.text and "ntfy://" in settings.text
