"""Post/redirect/get everywhere: a dashboard form that fails never leaves the browser on a POST-only URL.

A page rendered at a POST URL breaks the live refresh and a reload (both GET it: 405). Every POST route of the
dashboard gets invalid input here and must answer 303 to a page that shows the error and keeps what was typed.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.routing import APIRoute
from playwright.sync_api import Page, expect
from sqlmodel import Session

from hub.store.models import Device, InboxEntry, Reading, Slot
from hub.web import pages_auth, pages_home, pages_household, pages_orders, pages_supplies, stream
from hub.web.session import SESSION_COOKIE, csrf_token
from tests.e2e.conftest import shoot, sign_in
from tests.hub.conftest import Api, HubServer, add_button, product_id, sign_up

pytestmark = [pytest.mark.slow, pytest.mark.broker]

GTIN = "04012345678901"
# Dashboard POST routes that are not household forms with input to get wrong: signing in and up render their
# own GET-able page, signing out has no input.
NOT_FORMS = {"/web/signin", "/web/signup", "/web/signout"}


def _seed(hub: HubServer, api: Api) -> dict[str, str]:
    """A button, a cart line, a pending order, an unknown barcode and a sensor slot; their ids by name."""
    add_button(api, "btn-prg")
    coffee = product_id(api, "COF-1KG")
    api.ok("PUT", f"/api/v1/cart/{coffee}", json={"qty": 1})
    order = api.ok("POST", "/api/v1/cart/checkout")["id"]
    api.ok("PUT", f"/api/v1/cart/{coffee}", json={"qty": 2})
    api.ok("POST", "/api/v1/devices", json={"kind": "appliance_sensor", "name": "Scale", "id": "scale-prg"})
    household = api.ok("GET", "/api/v1/household")["id"]
    with Session(hub.hub.engine) as session:
        session.add(InboxEntry(household_id=household, gtin=GTIN, count=1))
        slot = Slot(household_id=household, device_id="scale-prg", name="beans", unit="g")
        session.add(slot)
        session.add(Reading(device_id="scale-prg", slot="beans", value=900.0, unit="g", at=hub.hub.clock.now()))
        session.commit()
        slot_id = str(slot.id)
        assert session.get(Device, "scale-prg") is not None
    # A webhook nobody answers at: its "send a test" fails, and the settings page must say so after the redirect.
    hook = api.ok("POST", "/api/v1/notifications/channels", json={"kind": "webhook", "target": "http://127.0.0.1:9/x"})
    return {"order": order, "product": str(coffee), "slot": slot_id, "channel": str(hook["id"])}


def _cases(ids: dict[str, str]) -> dict[str, tuple[str, dict[str, str], str]]:
    """Route path → (URL, invalid form, text the page must show afterwards)."""
    return {
        "/web/devices/{device_id}/rename": ("/web/devices/btn-prg/rename", {"name": "x" * 101}, "at most 100"),
        "/web/devices/{device_id}/bind": ("/web/devices/btn-prg/bind", {"product_id": "", "qty": "0", "mode": "order"},
                                          "Choose a product"),
        "/web/devices/{device_id}/unbind": ("", {}, ""),
        "/web/devices/pair": ("/web/devices/pair", {"code": "NOPE-1234"}, "NOPE-1234"),
        "/web/devices/{device_id}/revoke": ("", {}, ""),
        "/web/inbox/{gtin}/map": (f"/web/inbox/{GTIN}/map", {"product_id": "abc"}, "Choose a product."),
        "/web/inbox/{gtin}/new": (f"/web/inbox/{GTIN}/new", {"name": "My oats", "price": "lots"}, "My oats"),
        "/web/inbox/{gtin}/dismiss": ("", {}, ""),
        "/web/settings": ("/web/settings", {"name": "Kept name", "cancel_window_min": "-5", "price_tolerance_pct": "5",
                                            "scan_mode": "cart"}, "Kept name"),
        "/web/settings/channels": ("/web/settings/channels", {"kind": "email", "target": "not-an-address"},
                                   "not-an-address"),
        "/web/settings/channels/{channel_id}/remove": ("", {}, ""),
        "/web/settings/channels/{channel_id}/test": (f"/web/settings/channels/{ids['channel']}/test", {},
                                                     "Test not delivered: connection"),
        "/web/orders/{order_id}/{action}": (f"/web/orders/{ids['order']}/approve", {}, "Could not approve"),
        "/web/cart/add": ("/web/cart/add", {"product_id": ids["product"], "qty": "lots"}, "Quantity must be"),
        "/web/cart/{product_id}": (f"/web/cart/{ids['product']}", {"qty": "-3"}, "Quantity must be"),
        "/web/checkout": ("", {}, ""),
        "/web/supplies/{slot_id}": (f"/web/supplies/{ids['slot']}", {"lead_time_days": "soon", "safety_days": "1",
                                                                     "target_days": "14"}, "soon"),
    }


def test_every_dashboard_form_with_invalid_input_redirects_to_a_page_that_shows_the_error(
    start_hub: Callable[..., HubServer],
) -> None:
    hub = start_hub()
    api = sign_up(hub.url)
    ids = _seed(hub, api)
    token = str(api.headers["Authorization"]).removeprefix("Bearer ")
    cases = _cases(ids)
    posts = sorted(
        route.path for module in (pages_auth, pages_home, pages_household, pages_orders, pages_supplies, stream)
        for route in module.router.routes if isinstance(route, APIRoute) and "POST" in (route.methods or set())
    )
    # A new form must be added here: its failure path is part of what this test guards.
    assert set(posts) - NOT_FORMS == set(cases), "every dashboard form route needs a case"
    browser = httpx.Client(base_url=hub.url, cookies={SESSION_COOKIE: token}, timeout=20,
                           headers={"Accept": "text/html"})
    checked = 0
    for route, (url, form, shown) in cases.items():
        if not url:
            continue  # no input to get wrong (a button), or nothing to refuse (checkout of a full cart)
        answer = browser.post(url, data={"csrf": csrf_token(token), **form})
        assert answer.status_code == 303, f"{route}: {answer.status_code} at the POST URL"
        target = urlsplit(answer.headers["location"])
        landed = browser.get(target.path + (f"?{target.query}" if target.query else ""))
        assert landed.status_code == 200, f"{route}: {target.path} answered {landed.status_code}"
        assert shown in landed.text, f"{route}: {target.path} does not show {shown!r}"
        checked += 1
    assert checked == 12
    # The empty cart cannot be checked out: that too goes back to the cart with the reason.
    api.ok("PUT", f"/api/v1/cart/{ids['product']}", json={"qty": 0})
    answer = browser.post("/web/checkout", data={"csrf": csrf_token(token)})
    assert answer.status_code == 303 and answer.headers["location"] == "/web/cart"
    assert "Could not check out" in browser.get("/web/cart").text


def test_a_failed_pairing_survives_a_reload_and_a_forged_flash_is_ignored(
    start_hub: Callable[..., HubServer], page: Page
) -> None:
    hub = start_hub()
    email = f"{secrets.token_hex(4)}@example.org"
    sign_up(hub.url, "Okafor home", email)
    sign_in(page, hub.url, email)
    page.goto(hub.url + "/web/devices")
    page.fill("#code", "WRONG-CODE")
    page.click("form[action='/web/devices/pair'] button[type=submit]")
    # The browser is back on the devices page (a GET URL), with the error and the typed code.
    expect(page).to_have_url(re.compile(r"/web/devices$"))
    expect(page.locator("#code-error")).to_be_visible()
    expect(page.locator("#code")).to_have_value("WRONG-CODE")
    shoot(page, "prg-pair-error")
    # A reload is a plain GET of the page: no 405, and the shown error is not repeated.
    response = page.reload()
    assert response is not None and response.status == 200
    expect(page.locator("h1")).to_be_visible()
    expect(page.locator("#code-error")).to_have_count(0)
    # A flash cookie the hub did not sign for this session says nothing.
    page.context.add_cookies([{"name": "restock_flash", "value": "eyJwIjoiL3dlYi9kZXZpY2VzIn0.0000",
                               "url": hub.url + "/web/"}])
    page.goto(hub.url + "/web/devices")
    expect(page.locator(".field-error")).to_have_count(0)
