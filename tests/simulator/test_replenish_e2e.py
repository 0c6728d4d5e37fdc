"""The appliance sensor firmware reporting a falling level to the hub on a controllable clock:
exactly one replenishment order, placed when the forecast says so, none while it is open."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from hub.scheduler.clock import Clock
from simulator.firmware import FirmwareProcess
from tests.hub.conftest import HubServer, product_id, sign_up

pytestmark = [pytest.mark.firmware, pytest.mark.broker, pytest.mark.slow]
SENSOR = {"type": "hx711", "slot": "coffee", "unit": "g", "full": 2000, "scale": 420, "offset": 8000}
DAILY_USE_G = 60.0


def test_falling_level_orders_once_in_time(
    start_hub: Callable[..., HubServer], firmware_on: Callable[..., FirmwareProcess]
) -> None:
    clock = Clock()
    server = start_hub(clock=clock, merchant_step_seconds=6 * 3600)
    api = sign_up(server.url)
    api.ok("POST", "/api/v1/devices", json={"kind": "appliance_sensor", "id": "fw-hopper"})
    level = 1500.0
    sensor = firmware_on("appliance_sensor", "fw-hopper", sim={"level": level, "noise": 0}, sensor=dict(SENSOR),
                         sample_s=0.2, min_change=0.01, report_every_h=24)
    sensor.wait_feedback("recorded", timeout=30)
    [slot] = api.ok("GET", "/api/v1/slots")
    assert (slot["name"], slot["mode"], slot["unit"]) == ("coffee", "notify", "g")
    api.ok("PATCH", f"/api/v1/slots/{slot['id']}", json={
        "product_id": product_id(api, "COF-1KG"), "mode": "auto", "lead_time_days": 3, "safety_days": 2,
        "target_days": 14, "max_stock": 2500,
    })

    codes: list[tuple[float, str]] = []

    def day(change: float) -> None:
        nonlocal level
        clock.advance(timedelta(days=1))
        level += change
        mark = sensor.mark()
        sensor.level(level)
        _seq, code = sensor.wait_feedback(since=mark, timeout=30)
        codes.append((level, code))

    for _ in range(24):
        day(-DAILY_USE_G)
    reordered = [lvl for lvl, code in codes if code == "reordered"]
    assert len(reordered) == 1, codes
    # In time: with more than the lead time (3 days × 60 g = 180 g) still in the hopper, about lead time +
    # safety margin (5 days, 300 g) from empty, and not weeks early.
    assert 180 < reordered[0] <= 600, codes
    orders = api.ok("GET", "/api/v1/orders")
    assert len(orders) == 1 and orders[0]["source"] == "replenish" and orders[0]["device_id"] == "fw-hopper"
    packs = orders[0]["lines"][0]["qty"]
    assert packs >= 1 and reordered[0] + packs * 1000 <= 2500
    # The pack arrives (the demo merchant delivers within a day of hub time) and is loaded: no second order.
    assert orders[0]["status"] in ("pending", "submitted", "confirmed", "shipped", "delivered"), orders
    day(+1000 - DAILY_USE_G)
    for _ in range(5):
        day(-DAILY_USE_G)
    assert [code for _lvl, code in codes].count("reordered") == 1, codes


def test_low_level_on_the_first_readings_orders_once_while_learning(
    start_hub: Callable[..., HubServer], firmware_on: Callable[..., FirmwareProcess]
) -> None:
    # 150 g left of the hopper on the very first readings: far too few readings for a rate, but a household
    # must not be told "nothing to do now" with 15% of a pack left. One order at once, none repeated.
    clock = Clock()
    server = start_hub(clock=clock, merchant_step_seconds=6 * 3600)
    api = sign_up(server.url)
    api.ok("POST", "/api/v1/devices", json={"kind": "appliance_sensor", "id": "fw-low-hopper"})
    level = 150.0
    sensor = firmware_on("appliance_sensor", "fw-low-hopper", sim={"level": level, "noise": 0}, sensor=dict(SENSOR),
                         sample_s=0.2, min_change=0.01, report_every_h=24)
    sensor.wait_feedback("recorded", timeout=30)
    [slot] = api.ok("GET", "/api/v1/slots")
    api.ok("PATCH", f"/api/v1/slots/{slot['id']}", json={
        "product_id": product_id(api, "COF-1KG"), "mode": "auto", "max_stock": 3000,
    })

    codes: list[str] = []
    for _ in range(4):  # two hours apart: still less than a day of readings (the sensor reports 1% changes)
        clock.advance(timedelta(hours=2))
        level -= 25.0
        mark = sensor.mark()
        sensor.level(level)
        _seq, code = sensor.wait_feedback(since=mark, timeout=30)
        codes.append(code)
    assert codes == ["reordered", "recorded", "recorded", "recorded"], codes
    [order] = api.ok("GET", "/api/v1/orders")
    assert (order["source"], order["device_id"], order["lines"][0]["qty"]) == ("replenish", "fw-low-hopper", 1)
    detail = api.ok("GET", f"/api/v1/orders/{order['id']}")
    assert detail["timeline"][0]["note"].startswith("learning how fast it is used, and only 12% of a pack is left")
    [slot] = api.ok("GET", "/api/v1/slots")
    assert slot["forecast"]["decision"] == "none" and slot["forecast"]["reason"] == "an order is already open"
