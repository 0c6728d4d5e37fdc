"""Settings: e-mail refused on a hub without SMTP, "Send a test" per channel; binding pickers name the shop; the
page icon. In Debian's Chromium, screenshots at desktop and phone size in test-artifacts/screenshots/.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import shoot, sign_in
from tests.hub.conftest import HubServer, add_button, sign_up
from tests.hub.notify.test_channel_test import Receiver
from tests.hub.receiver import serving

pytestmark = [pytest.mark.slow, pytest.mark.broker]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on a free port (/ok answers 204, /gone 404)."""
    made = Receiver()
    with serving(made.answer) as made.url:
        yield made


def test_email_without_smtp_is_refused_and_every_channel_can_be_tested(
    start_hub: Callable[..., HubServer], page: Page, receiver: Receiver
) -> None:
    hub = start_hub()
    email = f"{secrets.token_hex(4)}@example.org"
    api = sign_up(hub.url, "Haddad home", email)
    sign_in(page, hub.url, email)
    page.goto(hub.url + "/web/settings")
    channels = page.locator("#channels")
    expect(channels.locator("[data-no-smtp]")).to_contain_text("RESTOCK_SMTP_HOST")
    expect(page.locator("#channel-kind option[value=email]")).to_have_text("E-mail (not set up on this hub)")

    page.select_option("#channel-kind", "email")
    page.fill("#channel-target", "me@example.org")
    page.click("text=Add channel")
    expect(page.locator("#channel-target-error")).to_contain_text("RESTOCK_SMTP_HOST")
    assert page.url.endswith("/web/settings#channels")
    assert api.ok("GET", "/api/v1/notifications/channels") == []

    for path in ("/ok", "/gone"):
        page.select_option("#channel-kind", "webhook")
        page.fill("#channel-target", receiver.url + path)
        page.click("text=Add channel")
        expect(page.locator(".notice")).to_have_text("Notification channel added.")
    good = channels.locator(".row", has_text=receiver.url + "/ok")
    good.locator("text=Send a test").click()
    expect(good.locator("[data-channel-test]")).to_have_attribute("data-channel-test", "delivered")
    expect(good).to_contain_text("Test delivered")
    assert [path for path, _, _ in receiver.got] == ["/ok"]
    assert page.url.endswith("/web/settings#channels")

    bad = channels.locator(".row", has_text=receiver.url + "/gone")
    bad.locator("text=Send a test").click()
    outcome = bad.locator("[data-channel-test]")
    expect(outcome).to_have_text("Test not delivered: HTTP 404 Not Found: no such hook sorry")
    expect(good.locator("[data-channel-test]")).to_have_count(0)  # one outcome, at the channel it is about
    shoot(page, "settings-channel-test")
    page.reload()  # the outcome was said once; a reload does not send again
    expect(channels.locator("[data-channel-test]")).to_have_count(0)
    assert len(receiver.got) == 2
    assert api.ok("GET", "/api/v1/notifications") == []  # sent directly, not through the outbox


def test_binding_pickers_name_the_shop_and_pages_have_an_icon(
    start_hub: Callable[..., HubServer], page: Page
) -> None:
    hub = start_hub()
    email = f"{secrets.token_hex(4)}@example.org"
    api = sign_up(hub.url, "Brandt home", email)
    add_button(api, "coffee-button", "COF-1KG")
    shop = f"corner-{secrets.token_hex(2)}"
    api.ok("POST", "/api/v1/merchants", json={"name": shop, "url": "http://127.0.0.1:9/orders", "secret": "s" * 32})
    [demo] = [p for p in api.ok("GET", "/api/v1/products") if p["sku"] == "COF-1KG"]
    twin = api.ok("POST", f"/api/v1/merchants/{shop}/products",
                  json={"sku": "CB-1", "name": demo["name"], "price": demo["price"]})
    sign_in(page, hub.url, email)

    icon = page.locator("head link[rel=icon]")
    expect(icon).to_have_attribute("href", "/favicon.ico")
    served = page.request.get(hub.url + str(icon.get_attribute("href")))
    assert served.status == 200 and served.headers["content-type"].startswith("image/svg+xml")

    page.goto(hub.url + "/web/devices")
    for picker in ("#product-coffee-button", "#substitute-coffee-button"):
        options = page.locator(f"{picker} option")
        expect(options.filter(has_text=f"{demo['name']} · Demo shop ·")).to_have_count(1)
        expect(options.filter(has_text=f"{demo['name']} · {shop} ·")).to_have_count(1)
    expect(page.locator("#product-coffee-button option[selected]")).to_contain_text("Demo shop")
    expect(page.locator("#device-state-coffee-button")).to_contain_text("· Demo shop")
    assert twin["id"] != demo["id"]
    shoot(page, "devices-pickers-with-shop")
