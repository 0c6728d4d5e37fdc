"""What a household does through the API: cart to order, caps, cancel, the order's life at the demo merchant."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest

from simulator.protocol_device import ProtocolDevice
from tests.hub.api.conftest import api_routes, wait_for
from tests.hub.conftest import HubServer, add_button, product_id, sign_up

pytestmark = pytest.mark.broker


def lines_of(body: dict[str, Any]) -> list[tuple[int, int]]:
    """(product id, qty) of a cart or an order, in order."""
    return [(line["product_id"], line["qty"]) for line in body["lines"]]


def steps(order: dict[str, Any]) -> list[tuple[str, str]]:
    """(status, actor) of every timeline step."""
    return [(step["status"], step["actor"]) for step in order["timeline"]]


def test_cart_change_remove_checkout_and_caps(start_hub: Callable[..., HubServer]) -> None:
    server = start_hub()
    api = sign_up(server.url, email="Erin@Example.org")
    me = "user:erin@example.org"
    coffee, soap, paper = (product_id(api, sku) for sku in ("COF-1KG", "DSH-500", "TP-24"))

    api.ok("PUT", f"/api/v1/cart/{coffee}", json={"qty": 2})
    api.ok("PUT", f"/api/v1/cart/{soap}", json={"qty": 3})
    api.ok("PUT", f"/api/v1/cart/{paper}", json={"qty": 1})
    api.ok("PUT", f"/api/v1/cart/{coffee}", json={"qty": 5})  # change
    assert lines_of(api.ok("DELETE", f"/api/v1/cart/{paper}")) == [(coffee, 5), (soap, 3)]  # remove
    api.ok("PUT", f"/api/v1/cart/{soap}", json={"qty": 0})  # 0 removes too
    cart = api.ok("PUT", f"/api/v1/cart/{soap}", json={"qty": 3})
    assert sorted(lines_of(cart)) == sorted([(coffee, 5), (soap, 3)])
    assert cart["total"] == 5 * 1299 + 3 * 199 and cart["currency"] == "EUR"
    assert [line["line_total"] for line in cart["lines"] if line["product_id"] == soap] == [597]

    response = api.post("/api/v1/cart/checkout")
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "pending" and order["source"] == "cart" and order["reason"] is None
    assert sorted(lines_of(order)) == sorted(lines_of(cart))
    assert {line["product_id"]: line["unit_price"] for line in order["lines"]} == {coffee: 1299, soap: 199}
    assert order["total"] == cart["total"] and order["cancel_until"] is not None
    assert steps(order) == [("pending", me)]
    assert api.ok("GET", "/api/v1/cart") == {"lines": [], "total": 0, "currency": "EUR"}
    assert api.ok("GET", f"/api/v1/orders/{order['id']}") == order

    # Over the per-order cap: the checkout waits for approval (and still empties the cart).
    assert api.ok("PATCH", "/api/v1/household", json={"per_order_cap": 1000})["per_order_cap"] == 1000
    api.ok("PUT", f"/api/v1/cart/{coffee}", json={"qty": 1})
    held = api.ok("POST", "/api/v1/cart/checkout")
    assert (held["status"], held["reason"], held["cancel_until"]) == ("awaiting_approval", "order_cap", None)
    assert api.ok("GET", "/api/v1/cart")["lines"] == []
    waiting = api.ok("GET", "/api/v1/orders", params={"status": "awaiting_approval"})
    assert [o["id"] for o in waiting] == [held["id"]]
    approved = api.ok("POST", f"/api/v1/orders/{held['id']}/approve")
    assert approved["status"] == "pending" and steps(approved) == [("awaiting_approval", me), ("pending", me)]
    assert approved["timeline"][1]["note"] == "approved"

    # Under the cap: an ordinary pending order.
    api.ok("PUT", f"/api/v1/cart/{soap}", json={"qty": 2})
    assert api.ok("POST", "/api/v1/cart/checkout")["status"] == "pending"
    assert len(api.ok("GET", "/api/v1/orders")) == 3


def test_cancel_inside_the_window_from_the_api(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice]
) -> None:
    server = start_hub()
    api = sign_up(server.url, email="frank@example.org")
    add_button(api, "btn-flow")
    button = devices("btn-flow")
    ordered = button.wait_feedback(button.press())
    assert ordered["code"] == "ordered"
    order = api.ok("GET", f"/api/v1/orders/{ordered['order']}")
    assert order["status"] == "pending" and order["device_id"] == "btn-flow"
    assert datetime.fromisoformat(order["cancel_until"]) > server.hub.clock.now()

    cancelled = api.ok("POST", f"/api/v1/orders/{ordered['order']}/cancel")
    assert cancelled["status"] == "cancelled"
    assert steps(cancelled) == [("pending", "device:btn-flow"), ("cancelled", "user:frank@example.org")]
    assert api.ok("GET", f"/api/v1/orders/{ordered['order']}") == cancelled
    # The order no longer protects the button: the next press orders again.
    assert button.wait_feedback(button.press())["code"] == "ordered"


def test_order_timeline_through_the_demo_merchant(start_hub: Callable[..., HubServer]) -> None:
    server = start_hub(merchant_step_seconds=0.5)
    api = sign_up(server.url, email="gina@example.org")
    api.ok("PATCH", "/api/v1/household", json={"cancel_window_s": 1})
    api.ok("PUT", f"/api/v1/cart/{product_id(api, 'COF-1KG')}", json={"qty": 2})
    good = api.ok("POST", "/api/v1/cart/checkout")["id"]
    api.ok("PUT", f"/api/v1/cart/{product_id(api, 'PAP-6')}", json={"qty": 1})  # the demo store has none
    bad = api.ok("POST", "/api/v1/cart/checkout")["id"]

    def status_of(order_id: str) -> dict[str, Any]:
        body: dict[str, Any] = api.ok("GET", f"/api/v1/orders/{order_id}")
        return body

    later = {"submitted", "confirmed", "shipped", "delivered"}
    wait_for(lambda: status_of(good)["status"] in later, "the scheduler to submit the order")
    seen: list[dict[str, Any]] = []

    def delivered() -> bool:
        seen.append(status_of(good))
        return bool(seen[-1]["status"] == "delivered")

    wait_for(delivered, "the demo merchant to deliver", timeout=20)
    for snapshot in seen:
        if snapshot["status"] in ("shipped", "delivered"):
            assert snapshot["tracking"], f"no tracking number at {snapshot['status']}"
        else:
            assert snapshot["tracking"] is None

    order = seen[-1]
    assert re.fullmatch(r"DM[0-9A-F]{10}", order["tracking"]), order["tracking"]
    assert steps(order) == [
        ("pending", "user:gina@example.org"),
        ("submitted", "merchant:demo"),
        ("confirmed", "merchant:demo"),
        ("shipped", "merchant:demo"),
        ("delivered", "merchant:demo"),
    ]
    assert order["timeline"][3]["note"] == order["tracking"]
    times = [datetime.fromisoformat(step["at"]) for step in order["timeline"]]
    assert times == sorted(times) and all(t.tzinfo is not None for t in times)

    failed = wait_for(lambda: (o := status_of(bad))["status"] == "failed" and o, "the out-of-stock order to fail")
    assert failed["reason"] == "out_of_stock" and failed["tracking"] is None
    assert [s for s, _ in steps(failed)] == ["pending", "failed"]
    assert failed["timeline"][1]["note"].startswith("out_of_stock")
    assert [o["id"] for o in api.ok("GET", "/api/v1/orders", params={"status": "delivered"})] == [good]
    assert [o["id"] for o in api.ok("GET", "/api/v1/orders", params={"status": "failed"})] == [bad]


def test_openapi_documents_every_router_and_route(start_hub: Callable[..., HubServer]) -> None:
    server = start_hub()
    response = httpx.get(f"{server.url}/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    tags = {tag for path in spec["paths"].values() for op in path.values() for tag in op.get("tags", [])}
    assert {"auth", "household", "devices", "products", "orders", "cart", "ops"} <= tags
    documented = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    served = {(m.lower(), e.path) for e in api_routes(server) if e.route.include_in_schema for m in e.methods}
    assert served == documented
    api = {(m.lower(), e.path) for e in api_routes(server) if e.path.startswith("/api/") for m in e.methods}
    assert api and api <= documented, f"REST routes hidden from /docs: {api - documented}"
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op.get("description") or op.get("summary"), f"{method.upper()} {path} is undocumented"
    assert "OAuth2PasswordBearer" in spec["components"]["securitySchemes"]
    assert "security" in spec["paths"]["/api/v1/orders/{order_id}/cancel"]["post"]
    assert "security" not in spec["paths"]["/api/v1/signup"]["post"]
