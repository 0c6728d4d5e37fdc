"""A press becomes exactly one order, end to end: plain MQTT devices, mosquitto, the running hub."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from simulator.protocol_device import ProtocolDevice
from tests.conftest import example
from tests.hub.conftest import HubServer, add_button, sign_up

pytestmark = pytest.mark.broker


def test_press_gives_one_order_and_a_replay_gets_the_same_feedback(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice]
) -> None:
    server = start_hub()
    api = sign_up(server.url)
    add_button(api, "btn-coffee")
    device = devices("btn-coffee")

    press = example("event_press.json")
    device.publish_raw(json.dumps(press))
    first = device.wait_feedback(press["seq"])  # type: ignore[arg-type]
    assert first["code"] == "ordered"
    assert first["product"] == "Coffee beans 1 kg" and first["total"] == 1299 and first["currency"] == "EUR"
    assert first["cancel_until"].endswith("Z")

    device.publish_raw(json.dumps(press))
    device.wait_feedback(press["seq"], count=2)  # type: ignore[arg-type]
    raw = device.feedback[press["seq"]]  # type: ignore[index]
    assert raw[0] == raw[1], "a replay must get the stored feedback byte for byte"

    orders = api.ok("GET", "/api/v1/orders")
    assert len(orders) == 1
    assert orders[0]["id"] == first["order"] and orders[0]["status"] == "pending"
    # The documented example feedback has the same keys as the real one.
    assert set(example("feedback_ordered.json")) == set(first)


def test_order_protection_long_press_cancel_and_cart_mode(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice]
) -> None:
    server = start_hub()
    api = sign_up(server.url)
    add_button(api, "btn-one")
    add_button(api, "btn-cart", sku="DSH-500", mode="cart", qty=2)
    button, cart_button = devices("btn-one"), devices("btn-cart")

    ordered = button.wait_feedback(button.press())
    duplicate = button.wait_feedback(button.press())
    assert duplicate["code"] == "duplicate" and duplicate["order"] == ordered["order"]
    assert duplicate["reason"] == "protected"
    assert set(example("feedback_duplicate.json")) == set(duplicate)

    cancelled = button.wait_feedback(button.press("long"))
    assert cancelled["code"] == "cancelled" and cancelled["order"] == ordered["order"]
    assert button.wait_feedback(button.press("long"))["code"] == "nothing_to_cancel"
    order = api.ok("GET", f"/api/v1/orders/{ordered['order']}")
    assert order["status"] == "cancelled"
    assert [step["status"] for step in order["timeline"]] == ["pending", "cancelled"]
    assert order["timeline"][1]["actor"] == "device:btn-one"

    # After the cancel, a new press orders again.
    assert button.wait_feedback(button.press())["code"] == "ordered"

    first = cart_button.wait_feedback(cart_button.press())
    second = cart_button.wait_feedback(cart_button.press("double"))
    assert (first["code"], first["qty"]) == ("in_cart", 2)
    assert (second["code"], second["qty"], second["total"]) == ("in_cart", 4, 4 * 199)
    assert set(example("feedback_in_cart.json")) == set(second)
    cart = api.ok("GET", "/api/v1/cart")
    assert [(line["name"], line["qty"]) for line in cart["lines"]] == [("Dish soap 500 ml", 4)]


def test_limits_turn_orders_into_approvals(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice]
) -> None:
    server = start_hub()
    api = sign_up(server.url)
    limits = {"per_order_cap": 2000, "monthly_cap": 3000, "allow_multiple_orders": True}
    api.ok("PATCH", "/api/v1/household", json=limits)
    add_button(api, "btn-filter", sku="FLT-3")  # 24.99 > per-order cap 20.00
    add_button(api, "btn-beans", sku="COF-1KG")  # 12.99
    add_button(api, "btn-ask", sku="DSH-500", mode="approve")
    filt, beans, ask = devices("btn-filter"), devices("btn-beans"), devices("btn-ask")

    over = filt.wait_feedback(filt.press())
    assert (over["code"], over["reason"]) == ("awaiting_approval", "order_cap")
    assert beans.wait_feedback(beans.press())["code"] == "ordered"  # 12.99 this month
    assert beans.wait_feedback(beans.press())["code"] == "ordered"  # 25.98
    month = beans.wait_feedback(beans.press())  # would be 38.97 > 30.00
    assert (month["code"], month["reason"]) == ("awaiting_approval", "month_cap")
    mode = ask.wait_feedback(ask.press())
    assert (mode["code"], mode["reason"]) == ("awaiting_approval", "approval_mode")

    approved = api.ok("POST", f"/api/v1/orders/{mode['order']}/approve")
    assert approved["status"] == "pending"
    rejected = api.ok("POST", f"/api/v1/orders/{over['order']}/reject")
    assert rejected["status"] == "cancelled"
    again = api.post(f"/api/v1/orders/{over['order']}/approve")
    assert again.status_code == 409 and "not awaiting approval" in again.json()["detail"]


def test_price_rise_beyond_tolerance_waits_for_approval(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice]
) -> None:
    from sqlmodel import Session

    from hub.store import repos

    server = start_hub()
    api = sign_up(server.url)
    add_button(api, "btn-rise")
    with Session(server.hub.engine) as session:
        product = repos.product_by_sku(session, "demo", "COF-1KG")
        assert product is not None
        product.price = 1299 * 115 // 100  # +15 % > default tolerance of 10 %
        session.add(product)
        session.commit()
    button = devices("btn-rise")
    feedback = button.wait_feedback(button.press())
    assert (feedback["code"], feedback["reason"], feedback["total"]) == ("awaiting_approval", "price_rise", 1493)


def test_unbound_unclaimed_and_unknown_devices(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice]
) -> None:
    server = start_hub()
    api = sign_up(server.url)
    api.ok("POST", "/api/v1/devices", json={"kind": "dash_button", "id": "btn-bare"})
    bare = devices("btn-bare")
    assert bare.wait_feedback(bare.press())["reason"] == "unbound"

    stranger = devices("btn-nobody")
    stranger.press()
    with pytest.raises(TimeoutError):
        stranger.wait_feedback(1, timeout=1.5)
    letters = api.ok("GET", "/api/v1/household/dead-letters")
    assert [d["reason"] for d in letters] == ["unbound"]
