"""The household dashboard in Debian's Chromium: live orders, inbox to cart, supplies chart, errors, isolation.

Every page is saved as a screenshot at desktop and phone size into test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from simulator.protocol_device import ProtocolDevice
from tests.e2e.conftest import shoot, sign_in, wait_live
from tests.hub.conftest import HubServer, add_button, sign_up

pytestmark = [pytest.mark.slow, pytest.mark.broker]

UNKNOWN_EAN = "4012345678901"


def _email() -> str:
    return f"{secrets.token_hex(4)}@example.org"


def test_sign_in_failure_shows_an_error_and_keeps_the_email(start_hub: Callable[..., HubServer], page: Page) -> None:
    hub = start_hub()
    email = _email()
    sign_up(hub.url, "Rivera home", email)
    page.goto(hub.url + "/")
    expect(page).to_have_url(re.compile(r"/web/signin"))
    page.fill("#email", email)
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    expect(page.locator(".form-error")).to_have_text("Wrong e-mail address or password.")
    expect(page.locator("#email")).to_have_value(email)
    shoot(page, "signin-error")
    page.fill("#password", "correct horse")
    page.click("button[type=submit]")
    expect(page).to_have_url(hub.url + "/web/")
    expect(page.locator("header .household")).to_have_text("Rivera home")
    # Sign-out revokes the token: the old cookie no longer opens a page.
    cookie = next(c for c in page.context.cookies() if c["name"] == "restock_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.click("text=Sign out")
    expect(page.locator(".notice")).to_have_text("You are signed out.")
    shoot(page, "signin")
    page.click("text=Create a household")
    expect(page.locator("h1")).to_have_text("Create a household")
    shoot(page, "signup")
    page.context.add_cookies([{"name": cookie["name"], "value": cookie["value"], "url": hub.url}])
    page.goto(hub.url + "/web/orders")
    expect(page).to_have_url(re.compile(r"/web/signin\?next=/web/orders"))


def test_press_shows_the_order_live_and_it_is_cancelled_inside_the_window(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice], page: Page
) -> None:
    hub = start_hub()
    email = _email()
    api = sign_up(hub.url, "Okafor family", email)
    secret = add_button(api, "coffee-button", "COF-1KG")
    button = devices("coffee-button", secret)
    button.publish_raw('{"online": true, "fw": "1.0.0", "battery_mv": 2950, "rssi": -61}', "status", retain=True)
    sign_in(page, hub.url, email)

    page.goto(hub.url + "/web/orders")
    expect(page.locator("#orders")).to_contain_text("No orders yet")
    wait_live(page)
    page.evaluate("window.__notReloaded = true")
    seq = button.press()
    assert button.wait_feedback(seq)["code"] == "ordered"
    row = page.locator("#orders tr[data-status='pending']")
    expect(row).to_contain_text("Coffee beans 1 kg × 1")
    expect(row.locator(".countdown")).to_contain_text("left to cancel")
    assert page.evaluate("window.__notReloaded") is True, "the order appeared through a reload, not live"
    shoot(page, "orders")

    order_id = row.get_attribute("data-key")
    page.goto(f"{hub.url}/web/orders/{order_id}")
    expect(page.locator(".callout .countdown")).to_have_text(re.compile(r"^(29|30):\d\d left to cancel$"))
    shoot(page, "order-pending")
    page.click("text=Cancel order")
    expect(page.locator(".notice")).to_have_text("Order cancelled.")
    expect(page.locator(".page-head .badge")).to_have_text("cancelled")
    expect(page.locator(".timeline li")).to_have_count(2)
    assert api.ok("GET", f"/api/v1/orders/{order_id}")["status"] == "cancelled"
    shoot(page, "order-cancelled")

    page.goto(hub.url + "/web/")
    expect(page.locator("#device-cards")).to_contain_text("Online")
    expect(page.locator("#activity")).to_contain_text("pressed → ordered: Coffee beans 1 kg")
    wait_live(page)
    button.wait_feedback(button.press())  # a new order shows up on the overview too, without a reload
    expect(page.locator("#open-orders .row")).to_have_count(1)
    shoot(page, "overview")

    page.goto(hub.url + "/web/devices")
    page.fill("#name-coffee-button", "")
    page.click("#device-coffee-button >> text=Rename")
    expect(page.locator("#device-coffee-button .field-error")).to_have_text("Name is required.")
    page.fill("#name-coffee-button", "Kitchen coffee")
    page.fill("#qty-coffee-button", "120")
    page.click("text=Save binding")
    expect(page.locator("#device-coffee-button .field-error")).to_have_text("Quantity must be between 1 and 99.")
    expect(page.locator("#qty-coffee-button")).to_have_value("120")
    page.fill("#qty-coffee-button", "2")
    page.click("text=Save binding")
    expect(page.locator(".notice")).to_have_text("Button binding saved.")
    page.fill("#name-coffee-button", "Kitchen coffee")
    page.click("#device-coffee-button >> text=Rename")
    expect(page.locator("#device-coffee-button h2")).to_have_text("Kitchen coffee")
    shoot(page, "devices")

    page.fill("#code", "7K3M-Q9PX-2WTR")
    page.click("button:text('Pair')")
    expect(page.locator("#code-error")).to_have_text("No device has this claim code.")
    expect(page.locator("#code")).to_have_value("7K3M-Q9PX-2WTR")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("text=Revoke this device…")
    expect(page.locator(".notice")).to_have_text("Device revoked: it can no longer connect or order.")
    expect(page.locator("#device-coffee-button .badge")).to_have_text("revoked")
    assert button.wait_feedback(button.press())["reason"] == "revoked"


def test_unknown_barcode_goes_to_the_inbox_is_mapped_and_lands_in_the_cart(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice], page: Page
) -> None:
    hub = start_hub()
    email = _email()
    api = sign_up(hub.url, "Lindqvist flat", email)
    wand_spec = {"kind": "barcode_wand", "name": "Pantry wand", "id": "pantry-wand"}
    created = api.ok("POST", "/api/v1/devices", json=wand_spec)
    wand = devices("pantry-wand", created["secret"])
    sign_in(page, hub.url, email)

    page.goto(hub.url + "/web/inbox")
    expect(page.locator("#inbox")).to_contain_text("The inbox is empty")
    wait_live(page)
    for _ in range(2):
        assert wand.wait_feedback(wand.send({"type": "scan", "code": UNKNOWN_EAN}))["code"] == "inbox"
    entry = page.locator("#inbox article", has_text=UNKNOWN_EAN)
    expect(entry).to_contain_text("scanned 2×")
    shoot(page, "inbox")

    page.click("text=Map and add to cart")  # no product chosen yet
    expect(page.locator("#inbox .field-error")).to_have_text("Choose a product.")
    entry = page.locator("#inbox article", has_text=UNKNOWN_EAN)
    soap = entry.locator("option", has_text="Dish soap 500 ml").get_attribute("value")
    entry.locator("select").select_option(value=soap)
    entry.locator("text=Map and add to cart").click()
    expect(page.locator(".notice")).to_have_text("Barcode mapped; its scans are in the cart.")

    page.goto(hub.url + "/web/cart")
    line = page.locator("#cart-lines tr", has_text="Dish soap 500 ml")
    expect(line.locator("input[name=qty]")).to_have_value("2")
    # Scanning it again now goes straight to the cart, and the open cart page follows.
    wait_live(page)
    assert wand.wait_feedback(wand.send({"type": "scan", "code": UNKNOWN_EAN}))["code"] == "in_cart"
    expect(line.locator("input[name=qty]")).to_have_value("3")
    shoot(page, "cart")

    line.locator("input[name=qty]").fill("1000")
    line.locator("text=Update").click()
    expect(page.locator("#cart-lines .field-error")).to_have_text("Quantity must be between 0 and 999.")
    expect(page.locator("#cart-lines input[name=qty]")).to_have_value("1000")
    page.locator("#cart-lines input[name=qty]").fill("4")
    page.locator("#cart-lines >> text=Update").click()
    expect(page.locator(".notice")).to_have_text("Cart updated.")
    page.click("text=Check out")
    expect(page.locator(".notice")).to_contain_text("Order placed from the cart.")
    expect(page.locator(".page-head .badge")).to_have_text("pending (cancel window)")
    assert api.ok("GET", "/api/v1/cart")["lines"] == []


def test_supplies_chart_and_settings(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice], page: Page
) -> None:
    hub = start_hub()
    email = _email()
    api = sign_up(hub.url, "Nakamura house", email)
    created = api.ok(
        "POST", "/api/v1/devices", json={"kind": "appliance_sensor", "name": "Washer", "id": "washer-sensor"}
    )
    sensor = devices("washer-sensor", created["secret"])
    now = int(time.time())
    # Five days of detergent use, a reading every eight hours, about 150 g a day.
    for i in range(16):
        grams = 1900.0 - 50.0 * i + (7.0 if i % 3 == 0 else 0.0)
        event = {"type": "level", "slot": "detergent", "value": grams, "unit": "g", "ts": now - (15 - i) * 8 * 3600}
        assert sensor.wait_feedback(sensor.send(event))["code"] == "recorded"
    sign_in(page, hub.url, email)

    page.goto(hub.url + "/web/supplies")
    card = page.locator("#slots article", has_text="Detergent")
    expect(card).to_contain_text("16 readings")
    expect(card).to_contain_text("Runs out")
    chart = card.locator("img.chart")
    expect(chart).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 300", arg=chart.element_handle())
    shoot(page, "supplies")

    page.goto(hub.url + "/web/settings")
    page.fill("#cancel_window_min", "15")
    page.fill("#per_order_cap", "twenty")
    page.fill("#monthly_cap", "150")
    page.click("text=Save settings")
    expect(page.locator("#per_order_cap-error")).to_contain_text("must be an amount like 25 or 25.50")
    expect(page.locator("#cancel_window_min")).to_have_value("15")
    expect(page.locator("#per_order_cap")).to_have_value("twenty")
    expect(page.locator("#monthly_cap")).to_have_value("150")
    shoot(page, "settings-error")
    page.fill("#per_order_cap", "40")
    page.click("text=Save settings")
    expect(page.locator(".notice")).to_have_text("Settings saved.")
    household = api.ok("GET", "/api/v1/household")
    assert (household["cancel_window_s"], household["per_order_cap"], household["monthly_cap"]) == (900, 4000, 15000)
    shoot(page, "settings")


def test_another_household_cannot_open_an_order_page(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice], page: Page
) -> None:
    hub = start_hub()
    api_a = sign_up(hub.url, "Household A")
    button = devices("a-button", add_button(api_a, "a-button", "DSH-500"))
    button.wait_feedback(button.press())
    order_id = api_a.ok("GET", "/api/v1/orders")[0]["id"]
    email_b = _email()
    sign_up(hub.url, "Household B", email_b)
    sign_in(page, hub.url, email_b)
    response = page.goto(f"{hub.url}/web/orders/{order_id}")
    assert response is not None and response.status == 404
    expect(page.locator("main")).to_contain_text("There is no such order in your household.")
    shoot(page, "not-found")
    # Nor act on it: the cancel form of A's order is refused the same way, and A's order stays pending.
    assert "restock_session" not in page.evaluate("document.cookie")  # HttpOnly: scripts cannot read it
    page.goto(hub.url + "/web/orders")
    expect(page.locator("#orders")).to_contain_text("No orders yet")
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    post = "async ([url, csrf]) => (await fetch(url, {method: 'POST', body: new URLSearchParams({csrf})})).status"
    status = page.evaluate(post, [f"{hub.url}/web/orders/{order_id}/cancel", token])
    assert status == 404
    assert api_a.ok("GET", f"/api/v1/orders/{order_id}")["status"] == "pending"
