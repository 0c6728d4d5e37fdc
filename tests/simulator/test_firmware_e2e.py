"""Real firmware processes (MicroPython Unix port) against the real hub: press, scan, level, Wi-Fi cut."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlmodel import Session, select

from hub.store.models import ProcessedEvent, Reading
from simulator.firmware import FirmwareProcess
from tests.hub.conftest import HubServer, add_button, sign_up

pytestmark = [pytest.mark.firmware, pytest.mark.broker, pytest.mark.slow]
SENSOR = {"type": "hx711", "slot": "detergent", "unit": "g", "full": 1000, "scale": 420, "offset": 8000}


def test_press_scan_and_level_through_real_firmware(
    start_hub: Callable[..., HubServer], firmware_on: Callable[..., FirmwareProcess]
) -> None:
    server = start_hub()
    api = sign_up(server.url)
    add_button(api, "fw-button")
    api.ok("POST", "/api/v1/devices", json={"kind": "barcode_wand", "id": "fw-wand"})
    api.ok("POST", "/api/v1/devices", json={"kind": "appliance_sensor", "id": "fw-sensor"})

    button = firmware_on("dash_button", "fw-button")
    mark = button.mark()
    button.press("single")
    _seq, code = button.wait_feedback(since=mark, timeout=30)
    assert code == "ordered"
    button.wait("pattern", "ordered", since=mark)
    orders = api.ok("GET", "/api/v1/orders")
    assert [(o["device_id"], o["status"]) for o in orders] == [("fw-button", "pending")]

    wand = firmware_on("barcode_wand", "fw-wand", scan_idle_s=0.5)
    wand.wait("sleep")
    mark = wand.mark()
    wand.scan("4006381333931")
    wand.scan("4006381333931")
    assert wand.wait_feedback(since=mark, timeout=30)[1] == "in_cart"
    cart = api.ok("GET", "/api/v1/cart")
    assert [(line["name"], line["qty"]) for line in cart["lines"]] == [("Coffee beans 1 kg", 2)]

    sensor = firmware_on("appliance_sensor", "fw-sensor", sim={"level": 800.0, "noise": 0}, sensor=dict(SENSOR),
                         sample_s=0.3, min_change=0.05, report_every_h=24)
    sensor.wait_feedback("recorded", timeout=30)
    mark = sensor.mark()
    sensor.level(600)
    sensor.wait_feedback("recorded", since=mark, timeout=30)
    with Session(server.hub.engine) as session:
        values = [r.value for r in session.exec(select(Reading).order_by(Reading.at)).all()]
    assert values[0] == pytest.approx(800, abs=5) and values[-1] == pytest.approx(600, abs=5)


def test_wifi_cut_during_a_press_delivers_the_event_once_after_it_returns(
    start_hub: Callable[..., HubServer], firmware_on: Callable[..., FirmwareProcess]
) -> None:
    server = start_hub()
    api = sign_up(server.url)
    add_button(api, "fw-cut")
    button = firmware_on("dash_button", "fw-cut")
    button.wait("sleep", timeout=30)
    button.wifi(False)
    mark = button.mark()
    button.press("single")
    button.wait("event", since=mark, timeout=30)
    assert api.ok("GET", "/api/v1/orders") == []
    button.wifi(True)
    _seq, code = button.wait_feedback(since=mark, timeout=60)
    assert code == "ordered"
    orders = api.ok("GET", "/api/v1/orders")
    assert len(orders) == 1
    with Session(server.hub.engine) as session:
        keys = session.exec(select(ProcessedEvent).where(ProcessedEvent.device_id == "fw-cut")).all()
    assert len(keys) == 1
