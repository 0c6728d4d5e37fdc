"""Push on a phone: a household adds a push channel (an Apprise URL; a local ntfy stand-in) on the settings page,
the button orders, and the cancel link from the push cancels the order from a signed-out phone-sized browser.
Screenshots of the settings and confirmation pages at desktop and phone size go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from simulator.protocol_device import ProtocolDevice
from tests.e2e.conftest import PHONE, shoot, sign_in
from tests.hub.conftest import HubServer, add_button, sign_up
from tests.hub.notify.test_push import LINK, PUBLIC, PushService
from tests.hub.receiver import serving
from tests.hub.shops import FAST, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.broker]


@pytest.fixture
def push() -> Iterator[PushService]:
    """The ntfy and json:// stand-in on a free port."""
    made = PushService()
    with serving(made.answer) as url:
        made.host = url.removeprefix("http://")
        yield made


def test_a_push_channel_is_added_on_the_phone_and_its_cancel_link_cancels_the_order(
    start_hub: Callable[..., HubServer], page: Page, browser: Browser, push: PushService,
    devices: Callable[..., ProtocolDevice],
) -> None:
    hub = start_hub(http_public_url=PUBLIC, **FAST)
    email = f"{secrets.token_hex(4)}@example.org"
    api = sign_up(hub.url, "Okafor home", email)
    page.set_viewport_size(PHONE)
    sign_in(page, hub.url, email)
    page.goto(hub.url + "/web/settings")

    topic = "okafor-kitchen-91c2"
    page.select_option("#channel-kind", "apprise")
    page.fill("#channel-target", f"ntfy://{push.host}/{topic}")
    page.uncheck("input[name=events][value=device]")
    page.click("text=Add channel")
    expect(page.locator(".notice")).to_have_text("Notification channel added.")
    row = page.locator("#channels .row", has_text="ntfy://")
    expect(row.locator(".badge")).to_have_text("push")
    expect(row.locator("[data-events]")).to_have_attribute("data-events", "orders,supply")
    assert topic not in page.content()  # the secret topic is not shown again
    row.locator("text=Send a test").click()
    expect(row.locator("[data-channel-test]")).to_have_attribute("data-channel-test", "delivered")
    shoot(page, "push-channel-settings")

    button = devices("btn-phone", add_button(api, "btn-phone", sku="COF-1KG"))
    order_id = button.wait_feedback(button.press())["order"]
    _, message = wait_for(lambda: next(iter(push.pushes_about(order_id)), None), "the ntfy push")
    link = LINK.search(message["message"])
    assert link is not None

    # The phone that got the push is not signed in to the dashboard. Its browser keeps to the pages' policy
    # (bypass_csp is off in a new context), and any refusal Chromium reports fails the test.
    phone = browser.new_context(viewport=PHONE, locale="en-GB", timezone_id="Europe/Berlin", bypass_csp=False)
    refused: list[str] = []
    try:
        tab = phone.new_page()
        tab.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
        tab.goto(hub.url + link.group(1))
        expect(tab.locator("h1")).to_have_text("Cancel this order?")
        expect(tab.locator(".act")).to_contain_text(order_id)
        shoot(tab, "push-cancel-confirm")
        assert api.ok("GET", f"/api/v1/orders/{order_id}")["status"] == "pending"
        tab.click("button:has-text('Cancel this order')")
        expect(tab.locator("[data-done]")).to_contain_text("Order cancelled")
        expect(tab.locator("[data-status]")).to_have_attribute("data-status", "cancelled")
        shoot(tab, "push-cancel-done")
        assert api.ok("GET", f"/api/v1/orders/{order_id}")["status"] == "cancelled"
        # Back and tap again: refused, with a page that says why.
        tab.goto(hub.url + link.group(1))
        expect(tab.locator("[data-refused]")).to_contain_text("already been used")
        assert refused == [], f"the confirmation pages broke their Content-Security-Policy: {refused}"
    finally:
        phone.close()
