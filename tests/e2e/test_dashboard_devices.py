"""Dashboard devices in Debian's Chromium: a sleeping battery device is asleep, not offline; its battery as a
percentage with a warning and a forecast; level activity with its value; a fresh hub's empty states.

Screenshots at desktop (1280x800) and phone (390x844) go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlmodel import Session

from hub.store.models import BatteryReading
from simulator.protocol_device import ProtocolDevice
from tests.e2e.conftest import DESKTOP, PHONE, shoot, sign_in
from tests.hub.conftest import HubServer, add_button, sign_up

pytestmark = [pytest.mark.slow, pytest.mark.broker]


def _email() -> str:
    return f"{secrets.token_hex(4)}@example.org"


def _spans_its_section(page: Page, box: Locator) -> None:
    """The element is as wide as the section around it, at desktop and phone size."""
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        inner = box.bounding_box()
        outer = box.locator("xpath=ancestor::section[1] | ancestor::main[1]").last.bounding_box()
        assert inner is not None and outer is not None
        padding = 0 if box.locator("xpath=ancestor::section[1]").count() else 64
        assert inner["width"] >= outer["width"] - padding - 2, (size, inner, outer)
    page.set_viewport_size(DESKTOP)


def test_a_fresh_household_is_told_how_to_pair_its_first_device(
    start_hub: Callable[..., HubServer], page: Page
) -> None:
    hub = start_hub()
    email = _email()
    sign_up(hub.url, "New home", email)
    sign_in(page, hub.url, email)

    empty = page.locator("#device-cards .empty")
    expect(empty).to_contain_text("claim code")
    expect(page.locator("#device-cards")).not_to_contain_text("restock device")
    expect(page.locator("#device-cards")).not_to_contain_text("API")
    _spans_its_section(page, empty)
    shoot(page, "fresh-overview")

    page.click("#device-cards .empty a")
    expect(page).to_have_url(hub.url + "/web/devices#code")
    empty = page.locator("main > .empty")
    expect(empty).to_contain_text("claim code")
    _spans_its_section(page, empty)
    shoot(page, "fresh-devices")


def test_a_sleeping_button_is_asleep_with_its_battery_and_a_forecast(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice], page: Page
) -> None:
    hub = start_hub()
    email = _email()
    api = sign_up(hub.url, "Battery home", email)
    button = devices("sleepy-button", add_button(api, "sleepy-button", "COF-1KG"))
    # A LiFePO4 button that lost a little charge each day for two months (history as the hub keeps it), then
    # woke, reported 3.26 V and went back to sleep: its last will says offline.
    now = datetime.now(UTC)
    with Session(hub.app.state.engine) as session:
        for day in range(60, 0, -1):
            session.add(BatteryReading(device_id="sleepy-button", at=now - timedelta(days=day), millivolts=3240 + day))
        session.commit()
    button.publish_raw('{"online": true, "fw": "1.0.0", "battery_mv": 3240, "rssi": -61}', "status", retain=True)
    button.publish_raw('{"online": false}', "status", retain=True)
    # A sensor on a nearly flat Li-ion cell, still connected.
    created = api.ok("POST", "/api/v1/devices", json={"kind": "appliance_sensor", "name": "Washer", "id": "low-washer"})
    sensor = devices("low-washer", created["secret"])
    sensor.publish_raw('{"online": true, "fw": "1.0.0", "battery_mv": 3420, "rssi": -70}', "status", retain=True)
    deadline = time.monotonic() + 15
    while not all(
        d["id"] != "sleepy-button" or d.get("online") is False for d in api.ok("GET", "/api/v1/devices")
    ) and time.monotonic() < deadline:
        time.sleep(0.05)
    sign_in(page, hub.url, email)

    card = page.locator("#device-cards article[data-key='sleepy-button']")
    expect(card.locator(".device-state")).to_contain_text("Asleep")
    expect(card.locator(".device-state")).not_to_contain_text("Offline")
    expect(card.locator(".device-state")).to_contain_text("wakes when used")
    expect(card.locator(".battery")).to_have_text("50 %")
    expect(card).to_contain_text("months left")
    expect(card).not_to_contain_text("low:")
    washer = page.locator("#device-cards article[data-key='low-washer']")
    expect(washer.locator(".device-state")).to_contain_text("Online")
    expect(washer.locator(".battery-low")).to_have_text("5 %")
    expect(washer).to_contain_text("low: charge or replace it")
    shoot(page, "overview-devices-battery")

    page.goto(hub.url + "/web/devices")
    expect(page.locator("#device-state-sleepy-button")).to_contain_text("Asleep")
    expect(page.locator("#device-state-sleepy-button")).to_contain_text("months left")
    shoot(page, "devices-battery")


def test_a_level_reading_says_how_much_is_left(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice], page: Page
) -> None:
    hub = start_hub()
    email = _email()
    api = sign_up(hub.url, "Laundry home", email)
    created = api.ok("POST", "/api/v1/devices", json={"kind": "appliance_sensor", "name": "Washer", "id": "lvl-washer"})
    sensor = devices("lvl-washer", created["secret"])
    event = {"type": "level", "slot": "detergent", "value": 412.0, "unit": "g", "ts": int(time.time()) - 5}
    assert sensor.wait_feedback(sensor.send(event))["code"] == "recorded"
    sign_in(page, hub.url, email)

    expect(page.locator("#activity")).to_contain_text("Washer reported 412 g left of detergent")
    expect(page.locator("#device-cards")).to_contain_text("reported 412 g left of detergent")
    shoot(page, "overview-level-activity")
