"""Order pages in Debian's Chromium: expected delivery, named actors, order again, one approval decision, shops
in product pickers. Screenshots at desktop and phone size go to test-artifacts/screenshots/."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import shoot, sign_in
from tests.hub.conftest import Api, HubServer, product_id, sign_up

pytestmark = [pytest.mark.slow, pytest.mark.broker]


def _household(hub: HubServer, page: Page, **settings: object) -> tuple[Api, str]:
    email = f"{secrets.token_hex(4)}@example.org"
    api = sign_up(hub.url, "Nakamura home", email)
    if settings:
        api.ok("PATCH", "/api/v1/household", json=settings)
    sign_in(page, hub.url, email)
    return api, email


def _checkout(api: Api, sku: str = "COF-1KG", qty: int = 2) -> str:
    api.ok("PUT", f"/api/v1/cart/{product_id(api, sku)}", json={"qty": qty})
    return str(api.ok("POST", "/api/v1/cart/checkout")["id"])


def test_an_order_shows_its_expected_delivery_named_actors_and_can_be_ordered_again(
    start_hub: Callable[..., HubServer], page: Page
) -> None:
    hub = start_hub()
    api, email = _household(hub, page, cancel_window_s=0)
    order_id = _checkout(api)
    # The demo shop takes it at the next scheduler tick and promises delivery three of its steps (1 h) later.
    page.goto(f"{hub.url}/web/orders/{order_id}")
    expect(page.locator(".badge")).to_have_text("submitted", timeout=20_000)
    page.reload()
    promised = api.ok("GET", f"/api/v1/orders/{order_id}")["expected_delivery"]
    assert promised is not None
    expect(page.locator(".facts .expected-delivery time")).to_have_attribute("datetime", re.compile(promised[:16]))
    timeline = page.locator(".timeline")
    expect(timeline.locator(".actor").first).to_have_text(email)
    expect(timeline.locator(".actor").last).to_have_text("Demo shop")
    expect(timeline).not_to_contain_text("merchant:")
    expect(timeline).not_to_contain_text("user:")
    expect(page.locator(".facts")).to_contain_text("Demo shop")
    shoot(page, "order-expected-delivery")

    page.goto(f"{hub.url}/web/orders")
    row = page.locator(f"tr[data-key='{order_id}']")
    expect(row.locator(".expected-delivery time")).to_have_count(1)
    shoot(page, "orders-expected-delivery")

    # Order again: a new order of the same product and quantity, under the household's window and limits.
    api.ok("PATCH", "/api/v1/household", json={"cancel_window_s": 1800})
    page.goto(f"{hub.url}/web/orders/{order_id}")
    page.click("button:text('Order again')")
    expect(page.locator(".notice")).to_contain_text("Ordered again")
    again_id = page.url.rsplit("/", 1)[-1].split("?", 1)[0]
    assert again_id != order_id
    again = api.ok("GET", f"/api/v1/orders/{again_id}")
    assert again["status"] == "pending" and again["source"] == "again"
    assert [(line["product_id"], line["qty"]) for line in again["lines"]] == [
        (product_id(api, "COF-1KG"), 2)
    ]
    assert again["cancel_until"] is not None
    expect(page.locator("button:text('Cancel order')")).to_have_count(1)
    expect(page.locator(".facts .expected-delivery")).to_contain_text("the shop gives a date")
    shoot(page, "order-again")


def test_an_order_waiting_for_approval_offers_one_decision(start_hub: Callable[..., HubServer], page: Page) -> None:
    hub = start_hub()
    api, _email = _household(hub, page, per_order_cap=100)
    order_id = _checkout(api)
    page.goto(f"{hub.url}/web/orders/{order_id}")
    decision = page.locator(".callout .actions")
    expect(decision.locator("button")).to_have_text(["Approve", "Reject"])
    expect(decision.locator("button.primary")).to_have_text("Approve")
    expect(page.locator("button:text('Cancel order')")).to_have_count(0)
    shoot(page, "order-approval")
    page.goto(f"{hub.url}/web/orders")
    expect(page.locator(f"tr[data-key='{order_id}'] .actions button")).to_have_text(["Approve", "Reject"])
    page.locator(f"tr[data-key='{order_id}'] button:text('Reject')").click()
    expect(page.locator(".notice")).to_have_text("Order rejected.")
    assert api.ok("GET", f"/api/v1/orders/{order_id}")["status"] == "cancelled"


def test_product_pickers_name_the_shop(start_hub: Callable[..., HubServer], page: Page) -> None:
    hub = start_hub()
    api, _email = _household(hub, page)
    # The household's own shop sells a product of the same name as the demo shop's.
    api.ok("POST", "/api/v1/merchants", json={"name": "corner-shop", "url": "http://127.0.0.1:9/orders",
                                              "secret": "s" * 32})
    api.ok("POST", "/api/v1/merchants/corner-shop/products", json={"sku": "CB", "name": "Coffee beans 1 kg",
                                                                  "price": 1399})
    page.goto(f"{hub.url}/web/cart")
    options = page.locator("#product_id option").all_inner_texts()
    beans = [text for text in options if text.startswith("Coffee beans 1 kg")]
    assert len(beans) == 2 and len(set(beans)) == 2, beans
    assert any("Demo shop" in text for text in beans) and any("corner-shop" in text for text in beans)
    shoot(page, "cart-product-picker")

