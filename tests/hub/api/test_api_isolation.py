"""Household A can read or change nothing of household B's through any route: a walk over every API route."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from tests.hub.api.conftest import (
    BODIES,
    PASSWORD,
    PATH_VALUES,
    Endpoint,
    World,
    bearer_routes,
    path_values,
    route_calls,
    set_token,
)

pytestmark = pytest.mark.broker

# Routes without household ids in the path whose answer to B is fixed (ids are global, e-mails unique).
EXPECTED: dict[tuple[str, str], int] = {
    ("POST", "/api/v1/signup"): 409,
    ("POST", "/api/v1/auth/token"): 401,
    ("POST", "/api/v1/devices"): 409,
    ("POST", "/api/v1/devices/claim"): 404,
}


def snapshot(world: World) -> dict[str, tuple[int, Any]]:
    """What A sees through every GET route, with every one of A's ids filled in."""
    seen: dict[str, tuple[int, Any]] = {}
    for endpoint in bearer_routes(world.server):
        for call in route_calls(endpoint, path_values(world)):
            if call.method != "GET":
                continue
            response = world.a.get(call.path)
            is_json = response.headers.get("content-type") == "application/json"
            seen[call.path] = (response.status_code, response.json() if is_json else response.text)
    return seen


def _leaks(world: World, response: httpx.Response, sent: str) -> list[str]:
    """A's markers in a response, except those B put into the request itself (ids echoed in a 404)."""
    return [m for m in world.markers if m in response.text and m not in sent]


def test_household_b_reaches_nothing_of_household_a_through_any_route(world: World) -> None:
    routes = bearer_routes(world.server)
    assert len(routes) >= 20, "the walk found suspiciously few routes"
    before = snapshot(world)
    # The snapshot really holds A's data (otherwise "unchanged" would prove nothing).
    assert before["/api/v1/cart"][0] == 200 and len(before["/api/v1/cart"][1]["lines"]) == 2
    assert before[f"/api/v1/orders/{world.order_ids['pending']}"][0] == 200
    assert before[f"/api/v1/products/{world.private_product}"][0] == 200
    assert [e["id"] for e in before["/api/v1/inbox"][1]] == [world.inbox_entry]

    problems: list[str] = []
    walked: set[tuple[str, str]] = set()
    calls = 0
    for endpoint in routes:
        for call in route_calls(endpoint, path_values(world), on_unknown=problems.append):
            key = (call.method, call.template)
            if endpoint.takes_body and key not in BODIES:
                problems.append(f"{call.method} {call.template} takes a body: add a valid one for B to BODIES")
                continue
            kwargs = BODIES[key](world) if key in BODIES else {}
            response = world.b.request(call.method, call.path, **kwargs)
            calls += 1
            walked.add(key)
            sent = call.path + json.dumps(kwargs)
            where = f"{call.method} {call.path} as B -> {response.status_code} {response.text[:200]}"
            if response.status_code >= 500:
                problems.append(f"server error: {where}")
            elif endpoint.path_params:
                # A's id in the path: only 404, and "not found" so it reads like any unknown id.
                if response.status_code != 404 or "not found" not in response.text:
                    problems.append(f"expected 404 not found: {where}")
            elif key in EXPECTED and response.status_code != EXPECTED[key]:
                problems.append(f"expected {EXPECTED[key]}: {where}")
            leaked = _leaks(world, response, sent)
            if leaked:
                problems.append(f"leaks {leaked}: {where}")
            # A route that signs B out (logout) must not stop the walk.
            if world.b.get("/api/v1/me").status_code == 401:
                set_token(world.b, world.sign_in(world.b_email, PASSWORD))

    assert not problems, "household isolation broken:\n" + "\n".join(problems)
    assert walked == {(m, e.path) for e in routes for m in e.methods}, "some routes were not walked"
    # Cross-check the route enumeration against the OpenAPI document: nothing served is missed.
    documented = {(m.upper(), p) for p, ops in world.server.app.openapi()["paths"].items() for m in ops}
    assert documented <= walked, f"routes in OpenAPI but not walked: {documented - walked}"
    assert calls >= 40

    after = snapshot(world)
    changed = [path for path in before if before[path] != after[path]]
    assert not changed, f"B's walk changed what A sees at {changed}"
    # A's token survived B's sign-out.
    assert world.a.get("/api/v1/me").status_code == 200


def test_household_product_is_invisible_to_other_households(world: World) -> None:
    a, b, private = world.a, world.b, world.private_product
    assert private in [p["id"] for p in a.ok("GET", "/api/v1/products")]
    assert private not in [p["id"] for p in b.ok("GET", "/api/v1/products")]
    assert b.get(f"/api/v1/products/{private}").status_code == 404

    # B binds its own button to A's product: refused, and the button stays unbound.
    b.ok("POST", "/api/v1/devices", json={"kind": "dash_button", "id": "btn-b-own"})
    bind = b.put("/api/v1/devices/btn-b-own/binding", json={"product_id": private, "qty": 1, "mode": "order"})
    assert bind.status_code == 404 and f"product {private} not found" in bind.json()["detail"]
    assert b.ok("GET", "/api/v1/devices/btn-b-own")["binding"] is None

    # B cannot put A's product in its cart, nor touch A's lines of shared products.
    cart = b.put(f"/api/v1/cart/{private}", json={"qty": 1})
    assert cart.status_code == 404 and "not found" in cart.json()["detail"]
    coffee = world.cart_products[0]
    assert b.delete(f"/api/v1/cart/{coffee}").status_code == 404
    mine = b.ok("PUT", f"/api/v1/cart/{coffee}", json={"qty": 1})
    assert [(line["product_id"], line["qty"]) for line in mine["lines"]] == [(coffee, 1)]
    order = b.ok("POST", "/api/v1/cart/checkout")
    assert [(line["product_id"], line["qty"]) for line in order["lines"]] == [(coffee, 1)]
    assert b.ok("GET", "/api/v1/cart")["lines"] == []

    a_cart = {line["product_id"]: line["qty"] for line in a.ok("GET", "/api/v1/cart")["lines"]}
    assert a_cart == {coffee: 3, private: 2}
    assert order["id"] not in [o["id"] for o in a.ok("GET", "/api/v1/orders")]
    assert {o["id"] for o in b.ok("GET", "/api/v1/orders")} == {order["id"]}


def test_walk_reports_a_route_with_an_unknown_path_parameter() -> None:
    """The walk's own guard: a route whose parameter is not in the table is reported, not skipped."""

    def handler(device_id: str, slot: str) -> None:
        """A route the table does not know."""

    path = "/api/v1/devices/{device_id}/slots/{slot}"
    route = Endpoint(path, frozenset({"GET", "DELETE"}), APIRoute(path, handler, methods=["GET", "DELETE"]))
    values = {name: ["x"] for name in PATH_VALUES}
    problems: list[str] = []
    assert list(route_calls(route, values, on_unknown=problems.append)) == []
    assert len(problems) == 1 and "['slot']" in problems[0] and "/slots/{slot}" in problems[0]
    with pytest.raises(AssertionError, match="isolation table"):
        list(route_calls(route, values))
    known = Endpoint("/api/v1/devices/{device_id}", frozenset({"GET", "DELETE"}), route.route)
    calls = list(route_calls(known, {"device_id": ["d1", "d2"]}))
    assert [(c.method, c.path) for c in calls] == [
        ("DELETE", "/api/v1/devices/d1"), ("DELETE", "/api/v1/devices/d2"),
        ("GET", "/api/v1/devices/d1"), ("GET", "/api/v1/devices/d2"),
    ]
