"""Bad requests get a clear 4xx whose `detail` names the problem, never a 500."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.hub.api.conftest import detail_text, wait_for
from tests.hub.conftest import Api, HubServer, product_id, sign_up

pytestmark = pytest.mark.broker

TOO_BIG = 2**63  # larger than any database integer column
_json = {"Content-Type": "application/json"}


def refused(response: httpx.Response, status: int, *words: str) -> str:
    """Assert the status and that the detail names every word; returns the detail."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    text = detail_text(response)
    for word in words:
        assert word.lower() in text, f"detail does not mention {word!r}: {text}"
    return text


def test_signup_and_sign_in_errors(start_hub: Callable[..., HubServer]) -> None:
    server = start_hub()
    anon = httpx.Client(base_url=server.url, timeout=20)

    def signup(**changes: Any) -> httpx.Response:
        body: dict[str, Any] = {"household": "Home", "email": "carol@example.org", "password": "long enough"}
        body.update(changes)
        return anon.post("/api/v1/signup", json={k: v for k, v in body.items() if v is not None})

    refused(signup(password="short"), 422, "password", "at least 8 characters")
    refused(signup(currency="euro"), 422, "currency", "pattern")
    refused(signup(email="carol-at-example.org"), 422, "email")
    refused(signup(household=None), 422, "household", "field required")
    refused(signup(household=""), 422, "household")
    assert signup().status_code == 201
    refused(signup(email="Carol@Example.org", household="Other"), 409, "already registered")

    wrong = anon.post("/api/v1/auth/token", data={"username": "carol@example.org", "password": "not the one"})
    refused(wrong, 401, "wrong e-mail address or password")
    unknown = anon.post("/api/v1/auth/token", data={"username": "nobody@example.org", "password": "not the one"})
    # The same answer for an unknown address: sign-in does not reveal who has an account.
    assert refused(unknown, 401) == detail_text(wrong)
    refused(anon.post("/api/v1/auth/token", data={"username": "carol@example.org"}), 422, "password", "field required")
    refused(anon.post("/api/v1/signup", content=b'{"household": "Home",', headers=_json), 422, "json")


def test_device_and_household_errors(start_hub: Callable[..., HubServer]) -> None:
    server = start_hub()
    api = sign_up(server.url)
    api.ok("POST", "/api/v1/devices", json={"kind": "dash_button", "id": "btn-err"})
    coffee = product_id(api, "COF-1KG")

    def bind(**body: Any) -> httpx.Response:
        body = {"product_id": coffee, "qty": 1, "mode": "order", **body}
        return api.client.put("/api/v1/devices/btn-err/binding", json=body)

    refused(bind(product_id=999999), 404, "product 999999 not found")
    refused(bind(product_id=TOO_BIG), 422, "product_id", "less than or equal to 2147483647")
    refused(bind(product_id=0), 422, "product_id", "greater than or equal to 1")
    refused(bind(product_id="coffee"), 422, "product_id", "integer")
    refused(bind(qty=0), 422, "qty", "greater than or equal to 1")
    refused(bind(qty=100), 422, "qty", "less than or equal to 99")
    refused(bind(mode="teleport"), 422, "mode", "'order', 'cart' or 'approve'")
    refused(bind(colour="red"), 422, "colour", "extra inputs are not permitted")
    refused(api.put("/api/v1/devices/btn-err/binding", content=b"{qty: 1}", headers=_json), 422, "json")
    unknown = api.put("/api/v1/devices/nope-nope/binding", json={"product_id": coffee})
    refused(unknown, 404, "device nope-nope not found")
    assert api.ok("GET", "/api/v1/devices/btn-err")["binding"] is None, "a refused binding changed the device"

    def create(**body: Any) -> httpx.Response:
        return api.client.post("/api/v1/devices", json={"kind": "dash_button", **body})

    refused(create(kind="toaster"), 422, "kind")
    refused(create(id="Has Spaces"), 422, "id", "pattern")
    refused(create(id="btn-err"), 409, "device btn-err already exists")
    refused(create(secret="mine"), 422, "secret", "extra inputs")
    refused(api.patch("/api/v1/devices/btn-err", json={"name": ""}), 422, "name", "at least 1 character")
    refused(api.patch("/api/v1/devices/btn-err", json={}), 422, "name", "field required")
    refused(api.get("/api/v1/devices/nope-nope"), 404, "device nope-nope not found")
    refused(api.delete("/api/v1/devices/nope-nope/binding"), 404, "device nope-nope not found")
    refused(api.get(f"/api/v1/products/{TOO_BIG}"), 422, "product_id", "less than or equal to 2147483647")
    refused(api.get("/api/v1/products/-1"), 422, "product_id", "greater than or equal to 1")
    refused(api.get("/api/v1/products/2147483647"), 404, "product 2147483647 not found")

    before = api.ok("GET", "/api/v1/household")

    def patch(body: dict[str, Any]) -> httpx.Response:
        return api.client.patch("/api/v1/household", json=body)

    refused(patch({"cancel_window_s": -1}), 422, "cancel_window_s", "greater than or equal to 0")
    refused(patch({"per_order_cap": "lots"}), 422, "per_order_cap")
    refused(patch({"scan_mode": "shout"}), 422, "scan_mode")
    # Caps are stored in 32-bit integer columns: larger amounts are refused, not overflowed.
    refused(patch({"per_order_cap": 2**31}), 422, "per_order_cap", "less than or equal to 2147483647")
    refused(patch({"monthly_cap": TOO_BIG}), 422, "monthly_cap", "less than or equal to 2147483647")
    refused(patch({"currency": "USD"}), 422, "currency", "extra inputs")
    # null is how a cap is removed, but settings that always have a value cannot be null.
    for key in ("name", "cancel_window_s", "allow_multiple_orders", "price_tolerance_pct", "scan_mode"):
        refused(patch({key: None}), 422, key, "may not be null")
    assert api.ok("GET", "/api/v1/household") == before, "a refused change was stored"
    capped = api.ok("PATCH", "/api/v1/household", json={"per_order_cap": 500})
    assert api.ok("PATCH", "/api/v1/household", json={"per_order_cap": None})["per_order_cap"] is None
    assert capped["per_order_cap"] == 500


def test_cart_and_order_errors(start_hub: Callable[..., HubServer]) -> None:
    server = start_hub()
    api: Api = sign_up(server.url)
    coffee = product_id(api, "COF-1KG")

    refused(api.put(f"/api/v1/cart/{coffee}", json={"qty": -1}), 422, "qty", "greater than or equal to 0")
    refused(api.put(f"/api/v1/cart/{coffee}", json={"qty": 1000}), 422, "qty", "less than or equal to 999")
    refused(api.put(f"/api/v1/cart/{coffee}", json={"qty": "two"}), 422, "qty", "integer")
    refused(api.put(f"/api/v1/cart/{coffee}"), 422, "body", "field required")
    refused(api.put(f"/api/v1/cart/{coffee}", content=b'{"qty": 1', headers=_json), 422, "json")
    refused(api.put("/api/v1/cart/999999", json={"qty": 1}), 404, "product 999999 not found")
    refused(api.put(f"/api/v1/cart/{TOO_BIG}", json={"qty": 1}), 422, "product_id", "less than or equal to")
    refused(api.delete(f"/api/v1/cart/{TOO_BIG}"), 422, "product_id", "less than or equal to")
    refused(api.put("/api/v1/cart/coffee", json={"qty": 1}), 422, "product_id", "integer")
    refused(api.delete(f"/api/v1/cart/{coffee}"), 404, f"product {coffee} in the cart not found")
    refused(api.post("/api/v1/cart/checkout"), 409, "the cart is empty")
    assert api.ok("GET", "/api/v1/cart")["lines"] == []

    refused(api.get("/api/v1/orders/o-0000000000"), 404, "order o-0000000000 not found")
    refused(api.post("/api/v1/orders/o-0000000000/cancel"), 404, "order o-0000000000 not found")
    refused(api.get("/api/v1/orders", params={"status": "nonsense"}), 422, "status", "pending")
    refused(api.get("/api/v1/orders", params={"limit": 0}), 422, "limit")
    refused(api.get("/api/v1/orders", params={"offset": -1}), 422, "offset")
    refused(api.get("/api/v1/orders", params={"offset": TOO_BIG}), 422, "offset", "less than or equal to")

    # A pending order: approve/reject refused; a cancelled one can be cancelled no more.
    api.ok("PUT", f"/api/v1/cart/{coffee}", json={"qty": 1})
    pending = api.ok("POST", "/api/v1/cart/checkout")
    assert pending["status"] == "pending"
    refused(api.post(f"/api/v1/orders/{pending['id']}/approve"), 409, "pending, not awaiting approval")
    refused(api.post(f"/api/v1/orders/{pending['id']}/reject"), 409, "not awaiting approval")
    api.ok("POST", f"/api/v1/orders/{pending['id']}/cancel")
    refused(api.post(f"/api/v1/orders/{pending['id']}/cancel"), 409, "cancelled", "can no longer be cancelled")

    # A submitted order (no cancel window) cannot be cancelled.
    api.ok("PATCH", "/api/v1/household", json={"cancel_window_s": 0})
    api.ok("PUT", f"/api/v1/cart/{coffee}", json={"qty": 1})
    order_id = api.ok("POST", "/api/v1/cart/checkout")["id"]
    wait_for(
        lambda: api.ok("GET", f"/api/v1/orders/{order_id}")["status"] == "submitted", "the order to be submitted"
    )
    refused(api.post(f"/api/v1/orders/{order_id}/cancel"), 409, "submitted", "can no longer be cancelled")
    assert api.ok("GET", f"/api/v1/orders/{order_id}")["status"] == "submitted"
