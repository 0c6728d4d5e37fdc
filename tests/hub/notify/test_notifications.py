"""Household notifications: e-mail through a local SMTP server, the live stream, a dead webhook, device checks."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from hub.notify import outbox
from hub.scheduler.clock import Clock
from simulator.protocol_device import ProtocolDevice
from tests.hub.conftest import Api, HubServer, add_button, sign_up
from tests.hub.shops import FAST, Mailbox, wait_for

pytestmark = pytest.mark.broker


def _stream(server: HubServer, email: str, seen: list[dict[str, Any]], stop: threading.Event) -> None:
    """Sign in to the dashboard (cookie) and read its SSE stream, keeping the notification frames."""
    with httpx.Client(base_url=server.url, timeout=30) as web:
        form = web.get("/web/signin")
        csrf = web.cookies.get("restock_signin") or ""
        assert form.status_code == 200 and csrf
        signed_in = web.post("/web/signin", data={"email": email, "password": "correct horse", "csrf": csrf})
        assert signed_in.status_code in (200, 303), signed_in.text[:200]
        while not stop.is_set():
            try:
                _read(web, seen, stop)
            except httpx.HTTPError:
                return  # the hub stopped at the end of the test


def _read(web: httpx.Client, seen: list[dict[str, Any]], stop: threading.Event) -> None:
    """Read one stream (it ends on its own after a while) and keep its notification frames."""
    with web.stream("GET", "/web/events") as response:
        assert response.status_code == 200
        kind = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind == "notification":
                seen.append(json.loads(line.removeprefix("data: ")))
            if stop.is_set():
                return


def test_email_and_live_stream_arrive_while_a_dead_webhook_keeps_failing(
    start_hub: Callable[..., HubServer],
    mailbox: Mailbox,
    silent_webhook: str,
    devices: Callable[..., ProtocolDevice],
) -> None:
    clock = Clock()
    server = start_hub(clock=clock, smtp_host="127.0.0.1", smtp_port=mailbox.port, **FAST)
    email = "home-notify@example.org"
    api = sign_up(server.url, email=email)
    # Two broken webhooks (one hangs, one refuses) and one working e-mail channel.
    hook = api.ok("POST", "/api/v1/notifications/channels", json={"kind": "webhook", "target": silent_webhook})
    assert hook["secret"]
    api.ok("POST", "/api/v1/notifications/channels", json={"kind": "webhook", "target": "http://127.0.0.1:9/x"})
    mail = api.ok("POST", "/api/v1/notifications/channels", json={"kind": "email", "target": email})
    assert all("secret" not in c for c in api.ok("GET", "/api/v1/notifications/channels"))

    seen: list[dict[str, Any]] = []
    stop = threading.Event()
    listening = server.hub.bus.subscriber_count()
    reader = threading.Thread(target=_stream, args=(server, email, seen, stop), daemon=True)
    reader.start()
    wait_for(lambda: server.hub.bus.subscriber_count() > listening, "the dashboard stream to subscribe")

    button = devices("btn-note", add_button(api, "btn-note", sku="COF-1KG"))
    feedback = button.wait_feedback(button.press())
    order_id = feedback["order"]

    # The e-mail names the product, the total and the end of the cancel window, while the silent webhook
    # has not answered its first attempt yet.
    message = wait_for(lambda: next((m for m in mailbox.messages if order_id in str(m["Subject"])), None),
                       "the order e-mail")
    text = message.get_payload()
    assert feedback["product"] in str(message["Subject"]) and "cancel it until" in str(message["Subject"])
    assert isinstance(text, str) and "Cancel until:" in text and str(feedback["total"]) in text

    # The mail server has the e-mail a moment before the hub has recorded the delivery as sent.
    def sent() -> dict[str, Any] | None:
        notes = api.ok("GET", "/api/v1/notifications")
        placed = next(n for n in notes if n["kind"] == "order.placed" and n["payload"]["order"]["id"] == order_id)
        by_channel = {d["channel_id"]: d for d in placed["deliveries"]}
        return placed if by_channel[mail["id"]]["status"] == "sent" else None

    placed = wait_for(sent, "the e-mail delivery to be recorded")
    by_channel = {d["channel_id"]: d for d in placed["deliveries"]}
    assert by_channel[hook["id"]]["status"] == "pending"

    # The live stream carried the same notification, with product and total.
    live = wait_for(lambda: next((n for n in seen if n["kind"] == "order.placed"), None), "the live notification")
    assert live["order"]["id"] == order_id and live["order"]["product"] == feedback["product"]
    assert live["order"]["total"] == feedback["total"] and live["order"]["cancel_until"]

    # The order itself is not held up: cancel it, and that step reaches the household by e-mail too.
    api.ok("POST", f"/api/v1/orders/{order_id}/cancel")
    wait_for(lambda: any("cancelled" in str(m["Subject"]) and order_id in str(m["Subject"])
                         for m in mailbox.messages), "the cancel e-mail")
    # The dead webhooks are retried, and keep their error for the household to see.
    def retried() -> Any:
        note = next(n for n in api.ok("GET", "/api/v1/notifications") if n["id"] == placed["id"])
        dead = [d for d in note["deliveries"] if d["channel_id"] != mail["id"]]
        return all(d["attempts"] >= 2 and d["last_error"] for d in dead) and dead
    failing = wait_for(retried, "retries of the dead webhooks")
    assert {d["status"] for d in failing} == {"pending"}
    stop.set()


def test_return_flow_and_device_checks_reach_the_household(
    start_hub: Callable[..., HubServer], mailbox: Mailbox, devices: Callable[..., ProtocolDevice]
) -> None:
    clock = Clock()
    server = start_hub(clock=clock, smtp_host="127.0.0.1", smtp_port=mailbox.port, merchant_step_seconds=0.1,
                       low_battery_mv=2500, offline_after_h=1, **FAST)
    api: Api = sign_up(server.url)
    api.ok("PATCH", "/api/v1/household", json={"cancel_window_s": 0})
    api.ok("POST", "/api/v1/notifications/channels", json={"kind": "email", "target": "me@example.org"})
    button = devices("btn-ret", add_button(api, "btn-ret", sku="COF-1KG"))
    order_id = button.wait_feedback(button.press())["order"]
    wait_for(lambda: api.ok("GET", f"/api/v1/orders/{order_id}")["status"] == "delivered", "delivery (demo store)")
    refused = api.post(f"/api/v1/orders/{order_id}/return", json={"reason": ""})
    assert refused.status_code == 422
    api.ok("POST", f"/api/v1/orders/{order_id}/return", json={"reason": "wrong roast"})
    again = api.post(f"/api/v1/orders/{order_id}/return", json={"reason": "twice"})
    assert again.status_code == 409
    wait_for(lambda: api.ok("GET", f"/api/v1/orders/{order_id}")["status"] == "returned", "the return")
    steps = api.ok("GET", f"/api/v1/orders/{order_id}")["timeline"]
    assert [s["status"] for s in steps][-2:] == ["return_requested", "returned"]
    assert steps[-2]["actor"].startswith("user:") and steps[-1]["actor"] == "merchant:demo"
    assert steps[-2]["note"] == "wrong roast"
    kinds = ["order.placed", "order.submitted", "order.confirmed", "order.shipped", "order.delivered",
             "order.return_requested", "order.returned"]
    def told(kind: str) -> bool:
        return any(n["kind"] == kind for n in api.ok("GET", "/api/v1/notifications"))

    for kind in kinds:
        wait_for(lambda: told(kind), kind)  # noqa: B023 - called before the loop moves on
    shipped = next(n for n in api.ok("GET", "/api/v1/notifications") if n["kind"] == "order.shipped")
    assert shipped["payload"]["order"]["tracking"] and "tracking" in shipped["payload"]["text"]
    wait_for(lambda: len(mailbox.messages) >= len(kinds), "an e-mail per step")

    # A battery below the threshold, then silence for longer than allowed: one low-battery notification, and no
    # "offline" one, since a button sleeps until it is pressed (tests/hub/notify/test_device_offline.py).
    button.publish_raw(json.dumps({"online": True, "kind": "dash_button", "fw": "0.1.0", "battery_mv": 2300,
                                   "rssi": -60, "uptime": 5, "outbox": 0, "dropped": 0}), channel="status",
                       retain=True)
    wait_for(lambda: api.ok("GET", "/api/v1/devices/btn-ret")["battery_mv"] == 2300, "the status")
    clock.advance(timedelta(hours=2))
    server.hub.notifier.check_devices_now()
    def kinds_seen() -> set[str]:
        return {n["kind"] for n in api.ok("GET", "/api/v1/notifications")}

    wait_for(lambda: "device.low_battery" in kinds_seen(), "the device notifications")
    server.hub.notifier.check_devices_now()
    with Session(server.hub.engine) as session:
        assert outbox.device_checks(session, clock.now(), timedelta(hours=1), 2500) == []
    kinds_now = [n["kind"] for n in api.ok("GET", "/api/v1/notifications")]
    assert kinds_now.count("device.low_battery") == 1 and kinds_now.count("device.offline") == 0
