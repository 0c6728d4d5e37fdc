"""A fresh hub's empty pages in Debian's Chromium: each empty state spans the page, speaks to the household and
offers the next step (orders, cart, inbox, supplies; the overview and devices are in test_dashboard_devices.py).

Screenshots at desktop (1280x800) and phone (390x844) go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import DESKTOP, PHONE, shoot, sign_in
from tests.hub.conftest import HubServer, sign_up

pytestmark = [pytest.mark.slow, pytest.mark.broker]

# Page, what its empty state must say, where its first action leads.
EMPTY_PAGES = [
    ("orders", "Press one of your buttons", "/web/cart"),
    ("cart", "Your cart is empty", "/web/cart#add-product"),
    ("inbox", "barcode wand", "/web/cart"),
    ("supplies", "claim code on its label", "/web/devices#code"),
]
# Words for an administrator, not a household.
ADMIN_WORDS = ("API", "restock device", "register", "administrator")


def _spans_main(page: Page, box: Locator) -> None:
    """The element is as wide as the page's content, at desktop and phone size."""
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        width, content = box.evaluate(
            "box => { const main = box.closest('main'), style = getComputedStyle(main);"
            " return [box.getBoundingClientRect().width,"
            " main.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight)]; }"
        )
        assert width >= content - 1, (size, width, content)
    page.set_viewport_size(DESKTOP)


def test_a_fresh_household_is_told_what_to_do_on_every_empty_page(
    start_hub: Callable[..., HubServer], page: Page
) -> None:
    hub = start_hub()
    email = f"{secrets.token_hex(4)}@example.org"
    sign_up(hub.url, "First home", email)
    sign_in(page, hub.url, email)

    for name, says, next_step in EMPTY_PAGES:
        page.goto(f"{hub.url}/web/{name}")
        empty = page.locator("main .empty")
        expect(empty).to_have_count(1)
        expect(empty).to_contain_text(says)
        expect(empty).to_contain_text("your")  # addressed to the household
        for word in ADMIN_WORDS:
            expect(empty).not_to_contain_text(word)
        _spans_main(page, empty)
        shoot(page, f"fresh-{name}")
        empty.locator("a.button").first.click()
        expect(page).to_have_url(hub.url + next_step)
