"""A shop's signed status callback may carry `expected_delivery`, read like the promise in its order answer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from hub.scheduler.clock import Clock
from simulator.protocol_device import ProtocolDevice
from tests.hub.conftest import HubServer, sign_up
from tests.hub.shops import FAST, Shop, bind_button, callback, connect_shop, shop_product, wait_for

pytestmark = pytest.mark.broker


def test_a_callbacks_promised_date_is_stored_told_and_nonsense_ignored(
    start_hub: Callable[..., HubServer],
    make_shop: Callable[[Callable[[], datetime]], Shop],
    devices: Callable[..., ProtocolDevice],
) -> None:
    clock = Clock()
    server = start_hub(clock=clock, **FAST)
    shop = make_shop(clock.now)  # answers orders with a ref and no promise
    api = sign_up(server.url)
    api.ok("PATCH", "/api/v1/household", json={"cancel_window_s": 0})
    merchant = connect_shop(api, shop)
    product = shop_product(api, merchant, "FLT-4", "Water filter 4-pack", 3199)
    button = devices("btn-promise", bind_button(api, "btn-promise", product))
    order_id = button.wait_feedback(button.press())["order"]
    wait_for(lambda: api.ok("GET", f"/api/v1/orders/{order_id}")["status"] == "submitted", "submission")
    assert api.ok("GET", f"/api/v1/orders/{order_id}")["expected_delivery"] is None

    confirmed = {"event_id": "ev-p1", "order_id": order_id, "status": "confirmed",
                 "expected_delivery": "2026-03-14T18:00:00+01:00"}
    assert callback(server, merchant, shop.secret, confirmed).status_code == 200
    order = api.ok("GET", f"/api/v1/orders/{order_id}")
    assert order["status"] == "confirmed"
    assert datetime.fromisoformat(order["expected_delivery"]) == datetime.fromisoformat("2026-03-14T17:00:00+00:00")

    def told() -> bool:
        return any(n["kind"] == "order.confirmed" and "expected delivery Sat 14 Mar 2026" in n["payload"]["text"]
                   for n in api.ok("GET", "/api/v1/notifications"))

    wait_for(told, "the confirmation with the promised date")

    # Nonsense is ignored as in the order answer: the step is applied and the earlier promise stays.
    shipped = {"event_id": "ev-p2", "order_id": order_id, "status": "shipped", "tracking": "T-1",
               "expected_delivery": "next tuesday"}
    assert callback(server, merchant, shop.secret, shipped).status_code == 200
    order = api.ok("GET", f"/api/v1/orders/{order_id}")
    assert order["status"] == "shipped" and order["expected_delivery"].startswith("2026-03-14T17:00")

    # A later promise (a delay) replaces it; a bare date means the end of that day, UTC.
    delayed = {"event_id": "ev-p3", "order_id": order_id, "status": "delivered", "expected_delivery": "2026-03-16"}
    assert callback(server, merchant, shop.secret, delayed).status_code == 200
    order = api.ok("GET", f"/api/v1/orders/{order_id}")
    assert datetime.fromisoformat(order["expected_delivery"]) == datetime.fromisoformat("2026-03-16T23:59:59+00:00")
