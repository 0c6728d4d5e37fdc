"""The webhook merchant against a local shop: retries, idempotency across a restart, signed callbacks."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import Session as DbSession

from hub.merchants.signing import signed_headers
from hub.scheduler.clock import Clock
from hub.store.models import Product
from simulator.protocol_device import ProtocolDevice
from tests.hub.conftest import Api, HubServer, sign_up
from tests.hub.shops import (
    FAST,
    Shop,
    bind_button,
    callback,
    connect_shop,
    shop_product,
    timeline,
    wait_for,
)

pytestmark = pytest.mark.broker


def _order(api: Api, order_id: str) -> dict[str, Any]:
    order: dict[str, Any] = api.ok("GET", f"/api/v1/orders/{order_id}")
    return order


def _status_is(api: Api, order_id: str, status: str) -> Callable[[], object]:
    return lambda: (o := _order(api, order_id))["status"] == status and o


def test_failing_shop_and_hub_restart_still_give_exactly_one_shop_order(
    start_hub: Callable[..., HubServer],
    make_shop: Callable[[Callable[[], datetime]], Shop],
    devices: Callable[..., ProtocolDevice],
) -> None:
    clock = Clock()
    server = start_hub(clock=clock, **FAST)
    shop = make_shop(clock.now)
    api = sign_up(server.url)
    api.ok("PATCH", "/api/v1/household", json={"cancel_window_s": 0})
    merchant = connect_shop(api, shop)
    coffee = shop_product(api, merchant, "BEANS-1", "Shop beans 1 kg", 1450)
    secret = bind_button(api, "btn-shop", coffee)

    # The shop takes the order but its answer never arrives: the hub is stopped in the middle of the call.
    shop.script = ["hang"]
    button = devices("btn-shop", secret)
    feedback = button.wait_feedback(button.press())
    assert feedback["code"] == "ordered" and feedback["product"] == "Shop beans 1 kg" and feedback["total"] == 1450
    order_id = feedback["order"]
    wait_for(lambda: len(shop.requests) == 1, "the first submission")
    server.stop()
    shop.release.set()

    # A new hub on the same database: once the lease of the lost request expires it tries again, gets a 500,
    # backs off, and the next try is accepted. Every try carries the same idempotency key.
    shop.script = [500, 200]
    server = start_hub(clock=clock, **FAST)
    assert _order(api_for(server, api), order_id)["status"] == "pending"
    clock.advance(timedelta(seconds=61))
    api = api_for(server, api)
    submitted = wait_for(_status_is(api, order_id, "submitted"), "the order to be submitted after the retries")

    assert len(shop.requests) == 3
    assert {r.key for r in shop.requests} == {order_id}
    assert all(r.signature_ok and r.merchant == merchant for r in shop.requests)
    assert shop.orders == {order_id: "shop-1"}, "the shop must hold exactly one order"
    body = shop.requests[-1].body
    assert body["type"] == "order" and body["order_id"] == order_id and body["total"] == 1450
    assert body["lines"] == [{"sku": "BEANS-1", "name": "Shop beans 1 kg", "qty": 1, "unit_price": 1450}]
    steps = timeline(api, order_id)
    assert steps[0] == ("pending", "device:btn-shop")
    assert ("retry", f"merchant:{merchant}") in steps
    assert steps[-1] == ("submitted", f"merchant:{merchant}")
    assert [s for s, _ in steps].count("submitted") == 1
    assert submitted["lines"][0]["name"] == "Shop beans 1 kg"
    # Nothing else reaches the shop afterwards (no second order, however many ticks pass).
    clock.advance(timedelta(seconds=120))
    wait_for(lambda: _order(api, order_id)["status"] == "submitted", "the order to stay submitted", timeout=1)
    assert len(shop.requests) == 3


def api_for(server: HubServer, api: Api) -> Api:
    """The same household's client, pointed at another hub process."""
    token = str(api.client.headers["Authorization"]).removeprefix("Bearer ")
    return Api(server.url, token)


def test_signed_callbacks_move_the_order_and_forged_stale_or_replayed_ones_are_refused(
    start_hub: Callable[..., HubServer],
    make_shop: Callable[[Callable[[], datetime]], Shop],
    devices: Callable[..., ProtocolDevice],
) -> None:
    clock = Clock()
    server = start_hub(clock=clock, **FAST)
    shop = make_shop(clock.now)
    api = sign_up(server.url)
    api.ok("PATCH", "/api/v1/household", json={"cancel_window_s": 0})
    merchant = connect_shop(api, shop)
    assert "secret" not in api.ok("GET", "/api/v1/merchants")[0]
    product = shop_product(api, merchant, "FLT-3", "Water filter 3-pack", 2599)
    button = devices("btn-cb", bind_button(api, "btn-cb", product))
    order_id = button.wait_feedback(button.press())["order"]
    wait_for(_status_is(api, order_id, "submitted"), "submission")

    confirmed = {"event_id": "ev-1", "order_id": order_id, "status": "confirmed"}
    forged = callback(server, merchant, shop.secret, confirmed, forged=True)
    assert forged.status_code == 401 and "bad signature" in forged.text
    stale = callback(server, merchant, shop.secret, confirmed, at=clock.now() - timedelta(minutes=6))
    assert stale.status_code == 401 and "stale" in stale.text
    assert _order(api, order_id)["status"] == "submitted", "a refused callback changed the order"

    ok = callback(server, merchant, shop.secret, confirmed)
    assert ok.status_code == 200 and ok.json() == {"order_id": order_id, "status": "confirmed"}
    replay = callback(server, merchant, shop.secret, confirmed)
    assert replay.status_code == 409 and "already applied" in replay.text
    # A fresh event id does not make an out-of-order status acceptable: confirmed cannot follow confirmed.
    again = callback(server, merchant, shop.secret, {**confirmed, "event_id": "ev-1b"})
    assert again.status_code == 409

    shipped = {"event_id": "ev-2", "order_id": order_id, "status": "shipped", "tracking": "TRK123",
               "carrier": "DHL"}
    assert callback(server, merchant, shop.secret, shipped).status_code == 200
    order = _order(api, order_id)
    assert order["status"] == "shipped" and order["tracking"] == "TRK123"
    assert callback(server, merchant, shop.secret,
                    {"event_id": "ev-3", "order_id": order_id, "status": "delivered"}).status_code == 200

    # An order id this shop never had: unknown.
    foreign = callback(server, merchant, shop.secret, {"event_id": "ev-x", "order_id": "o-0000000000",
                                                       "status": "confirmed"})
    assert foreign.status_code == 404

    # Return through the shop: the hub POSTs it, the shop confirms with a callback.
    returned = api.ok("POST", f"/api/v1/orders/{order_id}/return", json={"reason": "leaks"})
    assert returned["status"] == "return_requested"
    wait_for(lambda: any(r.body["type"] == "return" for r in shop.requests), "the return request at the shop")
    request = next(r for r in shop.requests if r.body["type"] == "return")
    assert request.key == f"{order_id}.return" and request.body["reason"] == "leaks" and request.signature_ok
    done = callback(server, merchant, shop.secret, {"event_id": "ev-4", "order_id": order_id, "status": "returned"})
    assert done.status_code == 200
    steps = timeline(api, order_id)
    statuses = [s for s, _ in steps if s not in ("retry", "sent")]
    assert statuses == ["pending", "submitted", "confirmed", "shipped", "delivered", "return_requested", "returned"]
    user_steps = [a for s, a in steps if s == "return_requested"]
    assert user_steps and user_steps[0].startswith("user:")
    assert all(a == f"merchant:{merchant}" for s, a in steps if s in ("confirmed", "shipped", "delivered", "returned"))
    assert sum(1 for r in shop.requests if r.body["type"] == "order") == 1


def test_out_of_stock_substitutes_only_where_the_household_allows_them(
    start_hub: Callable[..., HubServer],
    make_shop: Callable[[Callable[[], datetime]], Shop],
    devices: Callable[..., ProtocolDevice],
) -> None:
    clock = Clock()
    server = start_hub(clock=clock, **FAST)
    shop = make_shop(clock.now)
    api = sign_up(server.url)
    api.ok("PATCH", "/api/v1/household", json={"cancel_window_s": 0, "price_tolerance_pct": 10})
    merchant = connect_shop(api, shop)
    tabs = shop_product(api, merchant, "TAB-40", "Dishwasher tabs 40", 1000)
    flexible = devices("btn-flex", bind_button(api, "btn-flex", tabs))
    strict = devices("btn-strict", bind_button(api, "btn-strict", tabs))
    pricey = devices("btn-pricey", bind_button(api, "btn-pricey", tabs))
    for device_id in ("btn-flex", "btn-pricey"):
        assert api.ok("PUT", f"/api/v1/devices/{device_id}/substitutes", json={"allow": True})["allow"] is True

    orders = {}
    for name, button in (("flex", flexible), ("strict", strict), ("pricey", pricey)):
        orders[name] = button.wait_feedback(button.press())["order"]
    for order_id in orders.values():
        wait_for(_status_is(api, order_id, "submitted"), f"submission of {order_id}")

    def out_of_stock(order_id: str, price: int) -> None:
        body = {"event_id": f"oos-{order_id}", "order_id": order_id, "status": "out_of_stock", "reason": "sold out",
                "substitute": {"sku": f"TAB-ALT-{price}", "name": f"Other tabs {price}", "price": price}}
        response = callback(server, merchant, shop.secret, body)
        assert response.status_code == 200, response.text

    # Not allowed for this button: failed, with the reason.
    out_of_stock(orders["strict"], 1050)
    failed = _order(api, orders["strict"])
    assert failed["status"] == "failed" and failed["reason"] == "out_of_stock"
    assert failed["lines"][0]["name"] == "Dishwasher tabs 40"

    # Allowed, price within tolerance: the substitute goes out at once, under a new idempotency key.
    out_of_stock(orders["flex"], 1050)
    sub = wait_for(_status_is(api, orders["flex"], "submitted"), "the substitute's submission")
    wait_for(lambda: any(r.key == f"{orders['flex']}.r1" for r in shop.requests), "the substitute at the shop")
    assert sub["lines"][0]["name"] == "Other tabs 1050" and sub["total"] == 1050
    resent = next(r for r in shop.requests if r.key == f"{orders['flex']}.r1")
    assert resent.body["lines"][0]["sku"] == "TAB-ALT-1050" and resent.body["total"] == 1050
    assert [s for s, _ in timeline(api, orders["flex"]) if s != "retry"] == [
        "pending", "submitted", "out_of_stock", "pending", "submitted"]

    # Allowed, but the substitute costs 30 % more than the bound price: the household decides first.
    out_of_stock(orders["pricey"], 1300)
    waiting = _order(api, orders["pricey"])
    assert waiting["status"] == "awaiting_approval" and waiting["reason"] == "price_rise"
    assert waiting["lines"][0]["name"] == "Other tabs 1300" and waiting["total"] == 1300
    assert not any(r.key == f"{orders['pricey']}.r1" for r in shop.requests)


def test_another_households_shop_never_gets_this_households_order(
    start_hub: Callable[..., HubServer],
    make_shop: Callable[[Callable[[], datetime]], Shop],
) -> None:
    clock = Clock()
    server = start_hub(clock=clock, **FAST)
    shop = make_shop(clock.now)
    owner, intruder = sign_up(server.url), sign_up(server.url)
    merchant = connect_shop(owner, shop)
    intruder.ok("PATCH", "/api/v1/household", json={"cancel_window_s": 0})

    # The intruder cannot put the owner's shop into its catalog.
    csv = "sku,name,price\nSTOLEN-1,Stolen beans,1.00\n"
    imported = intruder.post("/api/v1/catalog/import", params={"merchant": merchant}, content=csv,
                             headers={"Content-Type": "text/csv"})
    assert imported.status_code == 404 and imported.json() == {"detail": f"merchant {merchant} not found"}
    assert "STOLEN-1" not in {p["sku"] for p in intruder.ok("GET", "/api/v1/products")}

    # Nor does a product naming that shop (written before merchants were scoped) route the order there: the
    # order fails for want of a merchant, and the shop hears nothing.
    intruder_id = intruder.ok("GET", "/api/v1/household")["id"]
    with DbSession(server.hub.engine) as session:
        legacy = Product(household_id=intruder_id, merchant=merchant, sku="LEGACY-1", name="Legacy beans", price=700)
        session.add(legacy)
        session.commit()
        assert legacy.id is not None
        legacy_id = legacy.id
    intruder.ok("PUT", f"/api/v1/cart/{legacy_id}", json={"qty": 1})
    order_id = intruder.ok("POST", "/api/v1/cart/checkout")["id"]
    failed = wait_for(_status_is(intruder, order_id, "failed"), "the intruder's order to fail")
    assert failed["reason"] == "no_merchant"
    assert timeline(intruder, order_id)[-1] == ("failed", "scheduler")

    # The owner's own order reaches the shop, signed: the shop was reachable all along.
    owner.ok("PATCH", "/api/v1/household", json={"cancel_window_s": 0})
    beans = shop_product(owner, merchant, "OWN-1", "Owner's beans", 800)
    owner.ok("PUT", f"/api/v1/cart/{beans}", json={"qty": 1})
    own_order = owner.ok("POST", "/api/v1/cart/checkout")["id"]
    wait_for(_status_is(owner, own_order, "submitted"), "the owner's order at its shop")
    assert [(r.body["order_id"], r.signature_ok) for r in shop.requests] == [(own_order, True)]


def test_callback_refusals_name_no_merchant_and_survive_deep_json(start_hub: Callable[..., HubServer]) -> None:
    server = start_hub()
    api = sign_up(server.url)
    secret = "k" * 32
    api.ok("POST", "/api/v1/merchants", json={"name": "deep-shop", "url": "http://127.0.0.1:9/o", "secret": secret})

    def post(merchant: str, key: str, raw: bytes) -> httpx.Response:
        headers = {"Content-Type": "application/json", "X-Restock-Merchant": merchant,
                   **signed_headers(key, raw, server.hub.clock.now())}
        return httpx.post(f"{server.url}/api/v1/merchants/callback", content=raw, headers=headers, timeout=20)

    body = json.dumps({"event_id": "e-1", "order_id": "o-0000000000", "status": "confirmed"}).encode()
    # A wrong key for a real shop and any key for a name nobody has: the very same answer.
    wrong, unknown = post("deep-shop", "x" * 32, body), post("no-such-shop", secret, body)
    assert (wrong.status_code, wrong.json()) == (unknown.status_code, unknown.json()) == (
        401, {"detail": "callback refused: bad signature"})
    # Signed, but nested deeper than the JSON parser goes: a 422, not a server error.
    deep = post("deep-shop", secret, b"[" * 50_000)
    assert deep.status_code == 422 and "bad callback body" in deep.text, deep.text
