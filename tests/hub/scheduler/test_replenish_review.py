"""A sensor that goes quiet: the periodic slot review still orders in time, once."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest

from hub.scheduler.clock import Clock
from simulator.protocol_device import ProtocolDevice
from tests.conftest import wait_for
from tests.hub.conftest import HubServer, product_id, sign_up

pytestmark = pytest.mark.broker


def test_quiet_sensor_is_reordered_by_the_review(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice]
) -> None:
    clock = Clock()
    server = start_hub(clock=clock, slot_review_seconds=0.2)
    api = sign_up(server.url)
    api.ok("POST", "/api/v1/devices", json={"kind": "appliance_sensor", "id": "quiet-sensor"})
    sensor = devices("quiet-sensor")
    level = 2000.0
    for _day in range(10):
        feedback = sensor.wait_feedback(sensor.send({"type": "level", "slot": "beans", "value": level, "unit": "g"}))
        assert feedback["code"] == "recorded"
        clock.advance(timedelta(days=1))
        level -= 100
    [slot] = api.ok("GET", "/api/v1/slots")
    api.ok("PATCH", f"/api/v1/slots/{slot['id']}", json={
        "product_id": product_id(api, "COF-1KG"), "mode": "auto", "lead_time_days": 3, "safety_days": 2,
        "max_stock": 3000,
    })
    # Last reading 1100 g, about 11 days of use: nothing to order yet, however often the review runs.
    time.sleep(1.0)
    assert api.ok("GET", "/api/v1/orders") == []
    # The sensor says nothing more; a week later the forecast is within lead time + safety margin.
    clock.advance(timedelta(days=7))
    orders = wait_for(lambda: api.ok("GET", "/api/v1/orders"), "the review's replenishment order")
    assert [(o["source"], o["device_id"]) for o in orders] == [("replenish", "quiet-sensor")]
    detail = api.ok("GET", f"/api/v1/orders/{orders[0]['id']}")
    assert detail["timeline"][0]["actor"] == "scheduler"
    time.sleep(1.0)  # several more reviews: still one order for the slot
    assert len(api.ok("GET", "/api/v1/orders")) == 1
