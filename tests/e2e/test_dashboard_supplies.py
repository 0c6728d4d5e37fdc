"""Dashboard pieces of issue 9 in Debian's Chromium: a sensor slot's product, mode and policy with its forecast,
notification channels in settings, and substitutes on a button's binding.

Screenshots of every new state go to test-artifacts/screenshots/ at desktop and phone size.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlmodel import Session, col, select

from hub.store.models import Device, NotifyChannel
from simulator.protocol_device import ProtocolDevice
from tests.e2e.conftest import shoot, sign_in
from tests.hub.conftest import HubServer, add_button, product_id, sign_up

pytestmark = [pytest.mark.slow, pytest.mark.broker]


def _email() -> str:
    return f"{secrets.token_hex(4)}@example.org"


def _choose(select: Locator, starts_with: str) -> None:
    """Pick the option whose text starts with the product name (options also show the price)."""
    value = select.locator("option", has_text=re.compile("^" + re.escape(starts_with))).get_attribute("value")
    assert value
    select.select_option(value=value)


def _chart_loaded(page: Page, card: Locator) -> None:
    chart = card.locator("img.chart")
    page.wait_for_function("img => img.complete && img.naturalWidth > 300", arg=chart.element_handle())


def test_slot_product_mode_and_policy_with_forecast(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice], page: Page
) -> None:
    hub = start_hub()
    email = _email()
    api = sign_up(hub.url, "Moreau house", email)
    created = api.ok(
        "POST", "/api/v1/devices", json={"kind": "appliance_sensor", "name": "Washer", "id": "washer-sensor"}
    )
    sensor = devices("washer-sensor", created["secret"])
    now = int(time.time())
    # Five days of detergent use, a reading every eight hours, about 150 g a day (uneven, so the run-out has a
    # range): about 1150 g left.
    for i in range(16):
        grams = 1900.0 - 50.0 * i + (25.0 if i % 3 == 0 else 0.0)
        event = {"type": "level", "slot": "detergent", "value": grams, "unit": "g", "ts": now - (15 - i) * 8 * 3600}
        assert sensor.wait_feedback(sensor.send(event))["code"] == "recorded"
    [slot] = api.ok("GET", "/api/v1/slots")
    assert slot["mode"] == "notify" and slot["product_id"] is None
    sign_in(page, hub.url, email)

    page.goto(hub.url + "/web/supplies")
    card = page.locator(f"#slot-{slot['id']}")
    expect(card.locator(".seg[aria-pressed=true]")).to_have_text("Notify only")
    expect(card.locator("[data-decision]")).to_contain_text("None yet: choose the product")

    # Auto without a product is refused; what was typed stays.
    card.locator("summary").click()
    card.locator("[name=lead_time_days]").fill("4")
    card.locator("text=Auto-order").click()
    expect(card.locator(f"#product_id-{slot['id']}-error")).to_have_text(
        "Choose a product before switching the slot to auto."
    )
    expect(card.locator("[name=lead_time_days]")).to_have_value("4")
    expect(card.locator(".seg[aria-pressed=true]")).to_have_text("Notify only")
    shoot(page, "supplies-auto-without-product")

    # Detergent is sold by the load, the sensor weighs grams: a pack size in grams is needed, and a cap of
    # at least one pack.
    _choose(card.locator("select[name=product_id]"), "Laundry detergent")
    card.locator("button.primary:text('Save')").click()
    expect(card.locator(".field-error")).to_contain_text("enter how many g one pack holds")
    card.locator("[name=pack_size]").fill("2000")
    card.locator("[name=max_stock]").fill("1500")
    card.locator("button.primary:text('Save')").click()
    expect(card.locator(f"#max_stock-{slot['id']}-error")).to_have_text(
        "Max stock must hold at least one pack (2000 g)."
    )
    expect(card.locator("[name=pack_size]")).to_have_value("2000")
    expect(card.locator("[name=lead_time_days]")).to_have_value("4")
    shoot(page, "supplies-policy-error")
    card.locator("[name=max_stock]").fill("6000")
    card.locator("text=Auto-order").click()
    expect(page.locator(".notice")).to_have_text("Auto-order is on: the hub orders in time for this supply.")
    expect(card.locator(".seg[aria-pressed=true]")).to_have_text("Auto-order")
    expect(card.locator(".card-head .badge")).to_have_text("auto-order")
    saved = api.ok("GET", f"/api/v1/slots/{slot['id']}")
    assert saved["product_id"] == product_id(api, "DET-2L") and saved["mode"] == "auto"
    assert (saved["pack_size"], saved["lead_time_days"], saved["max_stock"]) == (2000, 4, 6000)
    # The forecast: run-out with its range, the reorder point from this slot's lead + safety, the decision.
    run_out = re.compile(r"around \d+ \w+\s*between \d+\s\w+ and \d+\s\w+")
    expect(card.locator("[data-run-out]")).to_contain_text(run_out)
    expect(card).to_contain_text("4 d lead + 3 d safety")
    assert saved["forecast"] is not None
    decision = {"none": "Nothing to do now", "order": "Order due", "notify": "Running low"}
    expect(card.locator("[data-decision]")).to_contain_text(decision[saved["forecast"]["decision"]])
    expect(card.locator("[data-decision]")).to_contain_text(saved["forecast"]["reason"])
    _chart_loaded(page, card)
    shoot(page, "supplies-auto")

    # Enter in a policy field saves without touching the mode.
    card.locator("summary").click()
    card.locator("[name=safety_days]").fill("5")
    card.locator("[name=safety_days]").press("Enter")
    expect(page.locator(".notice")).to_have_text("Supply settings saved.")
    expect(card).to_contain_text("4 d lead + 5 d safety")
    saved = api.ok("GET", f"/api/v1/slots/{slot['id']}")
    assert (saved["mode"], saved["safety_days"]) == ("auto", 5)

    # Pause is one click, even with a broken value typed in the form meanwhile.
    card.locator("summary").click()
    card.locator("[name=target_days]").fill("0")
    card.locator("text=Paused").click()
    expect(card.locator(".form-error")).to_contain_text("Paused. Your other changes were not saved")
    expect(card.locator("[name=target_days]")).to_have_value("0")
    assert api.ok("GET", f"/api/v1/slots/{slot['id']}")["mode"] == "paused"
    page.goto(hub.url + "/web/supplies")
    expect(card.locator(".seg[aria-pressed=true]")).to_have_text("Paused")
    expect(card.locator("[data-decision]")).to_contain_text("Paused")
    _chart_loaded(page, card)
    shoot(page, "supplies-paused")


def test_notification_channels_and_button_substitutes(
    start_hub: Callable[..., HubServer], page: Page
) -> None:
    hub = start_hub(smtp_host="127.0.0.1")  # e-mail channels need an SMTP server (tests/e2e/test_channel_test.py)
    email = _email()
    api = sign_up(hub.url, "Santos flat", email)
    add_button(api, "coffee-button", "COF-1KG")
    sign_in(page, hub.url, email)

    page.goto(hub.url + "/web/settings")
    channels = page.locator("#channels")
    expect(channels).to_contain_text("No channels yet")
    page.fill("#channel-target", "kitchen.example.org")
    page.click("text=Add channel")
    expect(page.locator("#channel-target-error")).to_have_text("Enter an e-mail address like name@example.org.")
    expect(page.locator("#channel-target")).to_have_value("kitchen.example.org")
    page.fill("#channel-target", "kitchen@example.org")
    page.click("text=Add channel")
    expect(page.locator(".notice")).to_have_text("Notification channel added.")
    expect(channels.locator(".row", has_text="kitchen@example.org")).to_contain_text("Nothing sent yet")
    expect(channels.locator("[data-new-secret]")).to_have_count(0)  # e-mail has no secret

    page.select_option("#channel-kind", "webhook")
    page.fill("#channel-target", "https://hooks.example.org/restock")
    page.click("text=Add channel")
    secret = channels.locator("[data-secret]").inner_text()
    [hook] = [c for c in _channels(hub) if c.kind == "webhook"]
    assert hook.secret == secret and len(secret) >= 24
    shoot(page, "settings-channels")
    page.reload()  # shown once
    expect(channels.locator("[data-new-secret]")).to_have_count(0)
    expect(channels.locator(".row")).to_have_count(2)

    row = channels.locator(".row", has_text="kitchen@example.org")
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("text=Remove").click()
    expect(page.locator(".notice")).to_have_text("Notification channel removed: nothing more is sent there.")
    expect(channels.locator(".row")).to_have_count(1)
    assert [c["kind"] for c in api.ok("GET", "/api/v1/notifications/channels")] == ["webhook"]

    page.goto(hub.url + "/web/devices")
    form = page.locator("#device-coffee-button")
    expect(page.locator("#subs-coffee-button")).not_to_be_checked()
    page.check("#subs-coffee-button")
    _choose(page.locator("#substitute-coffee-button"), "Coffee beans 1 kg")
    form.locator("text=Save binding").click()
    expect(page.locator("#substitute-coffee-button-error")).to_contain_text("Choose another product")
    expect(page.locator("#subs-coffee-button")).to_be_checked()
    _choose(page.locator("#substitute-coffee-button"), "Dish soap 500 ml")
    form.locator("text=Save binding").click()
    expect(page.locator(".notice")).to_have_text("Button binding saved.")
    expect(page.locator("#subs-coffee-button")).to_be_checked()
    expect(form.locator(".device-state + .facts")).to_contain_text("substitutes allowed")
    soap = product_id(api, "DSH-500")
    expect(page.locator("#substitute-coffee-button")).to_have_value(str(soap))
    with Session(hub.app.state.engine) as session:
        button = session.get_one(Device, "coffee-button")
        assert (button.binding_allow_substitutes, button.binding_substitute_id) == (True, soap)
    shoot(page, "devices-substitutes")
    page.uncheck("#subs-coffee-button")
    form.locator("text=Save binding").click()
    expect(page.locator(".notice")).to_have_text("Button binding saved.")
    with Session(hub.app.state.engine) as session:
        button = session.get_one(Device, "coffee-button")
        assert (button.binding_allow_substitutes, button.binding_substitute_id) == (False, None)


def _channels(hub: HubServer) -> list[NotifyChannel]:
    """The hub's active channels as stored (the API never shows a secret again)."""
    with Session(hub.app.state.engine) as session:
        return list(session.exec(select(NotifyChannel).where(col(NotifyChannel.active).is_(True))).all())
