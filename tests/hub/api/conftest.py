"""REST API fixtures: a hub with two households, where A owns real data of every kind and B is the intruder."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from sqlmodel import Session
from starlette.routing import compile_path

from hub.scheduler.clock import Clock
from hub.services import devices as device_service
from hub.store import repos
from hub.store.models import Product
from simulator.protocol_device import ProtocolDevice
from tests.conftest import wait_for  # noqa: F401 - re-exported for this folder's tests
from tests.hub.conftest import Api, HubServer, add_button, product_id, sign_up

UNKNOWN_EAN = "5901234123457"  # a valid EAN-13 that is in no catalog
PASSWORD = "correct horse"  # what tests.hub.conftest.sign_up signs up with
# Routes anyone may call; "/" only redirects to the dashboard, which asks for its own sign-in. Shops call
# back without a token: their requests are signed with the merchant's secret instead (issue 8).
PUBLIC_ROUTES = frozenset(
    {("POST", "/api/v1/signup"), ("POST", "/api/v1/auth/token"), ("GET", "/healthz"), ("GET", "/"),
     ("POST", "/api/v1/merchants/callback"),
     # The API's own documentation and the site icon: public, as the OpenAPI document is.
     ("GET", "/docs"), ("GET", "/redoc"), ("GET", "/favicon.ico")}
)
# The server-rendered dashboard (hub/web) signs in with a session cookie and CSRF-protected forms and answers
# with HTML pages; its routes are walked by the dashboard's own tests, every other route by these.
DASHBOARD_PREFIX = "/web"


@dataclass(frozen=True)
class Call:
    """One concrete request: a route's method and its path with the parameters filled in."""

    method: str
    template: str
    path: str


@dataclass
class World:
    """A running hub; household A with devices, orders of several states, cart lines, a private product,
    an inbox entry and a dead letter; household B with nothing of its own."""

    server: HubServer
    clock: Clock
    a: Api
    b: Api
    a_email: str
    b_email: str
    a_household: str
    a_user_id: int
    device_ids: list[str]
    unclaimed_device: str
    order_ids: dict[str, str]
    inbox_entry: int
    private_product: int
    cart_products: list[int]
    markers: list[str] = field(default_factory=list)
    # Issue 8: A's webhook merchant and notification channel.
    merchant: str = ""
    channel_id: int = 0
    # Issue 7: A's sensor slot.
    slot_id: int = 0

    def sign_in(self, email: str, password: str = PASSWORD) -> str:
        """A fresh bearer token for a user."""
        response = httpx.post(
            f"{self.server.url}/api/v1/auth/token", data={"username": email, "password": password}, timeout=20
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token


@dataclass(frozen=True)
class Endpoint:
    """An API route as the app serves it: full path (router prefixes included), methods, the APIRoute."""

    path: str
    methods: frozenset[str]
    route: APIRoute

    @property
    def path_params(self) -> list[str]:
        """Names of the path parameters, in path order."""
        return list(compile_path(self.path)[2])

    @property
    def takes_body(self) -> bool:
        """Whether the route reads a request body (JSON or form)."""
        return self.route.body_field is not None


# Values for every path parameter, by name: ids of household A (and a device nobody claimed).
# A new route with a new path parameter fails the walk until its parameter is added here.
PATH_VALUES: dict[str, Callable[[World], list[str]]] = {
    "device_id": lambda w: [*w.device_ids, w.unclaimed_device],
    "order_id": lambda w: list(w.order_ids.values()),
    "product_id": lambda w: [str(w.private_product)],
    "entry_id": lambda w: [str(w.inbox_entry)],
    "merchant": lambda w: [w.merchant],
    "channel_id": lambda w: [str(w.channel_id)],
    "slot_id": lambda w: [str(w.slot_id)],
}

# Request bodies, valid for household B, so that the only reason to refuse is the household scope (never a 422).
BODIES: dict[tuple[str, str], Callable[[World], dict[str, Any]]] = {
    ("POST", "/api/v1/signup"): lambda w: {
        "json": {"household": "intruder", "email": w.a_email, "password": "long enough"}
    },
    ("POST", "/api/v1/auth/token"): lambda w: {"data": {"username": w.a_email, "password": "not alice's"}},
    ("PATCH", "/api/v1/household"): lambda w: {
        "json": {"name": "B renamed", "cancel_window_s": 0, "per_order_cap": 1, "allow_multiple_orders": True}
    },
    ("POST", "/api/v1/devices"): lambda w: {"json": {"kind": "dash_button", "id": w.device_ids[0]}},
    ("PATCH", "/api/v1/devices/{device_id}"): lambda w: {"json": {"name": "hijacked"}},
    # A shared catalog product, so that only the device's household can make the route refuse.
    ("PUT", "/api/v1/devices/{device_id}/binding"): lambda w: {
        "json": {"product_id": w.cart_products[0], "qty": 5, "mode": "cart"}
    },
    ("PUT", "/api/v1/cart/{product_id}"): lambda w: {"json": {"qty": 7}},
    ("POST", "/api/v1/devices/claim"): lambda w: {"json": {"code": "NOT-A-REAL-CODE"}},
    ("POST", "/api/v1/inbox/{entry_id}/map"): lambda w: {"json": {"product_id": w.cart_products[0]}},
    ("POST", "/api/v1/inbox/{entry_id}/create-product"): lambda w: {
        "json": {"name": "B's own thing", "price": 100, "currency": "EUR"}
    },
    ("POST", "/api/v1/merchants"): lambda w: {
        "json": {"name": f"b-{w.merchant}", "url": "http://127.0.0.1:9/orders", "secret": "b" * 32}
    },
    ("POST", "/api/v1/merchants/{merchant}/products"): lambda w: {
        "json": {"sku": "B-SKU", "name": "B's product", "price": 100}
    },
    ("PUT", "/api/v1/devices/{device_id}/substitutes"): lambda w: {"json": {"allow": True}},
    ("POST", "/api/v1/notifications/channels"): lambda w: {"json": {"kind": "email", "target": "b@example.org"}},
    ("POST", "/api/v1/orders/{order_id}/return"): lambda w: {"json": {"reason": "B wants A's money"}},
    ("PATCH", "/api/v1/slots/{slot_id}"): lambda w: {"json": {"mode": "paused", "target_days": 3}},
}

def path_values(world: World) -> dict[str, list[str]]:
    """The path-parameter table filled with this world's ids."""
    return {name: make(world) for name, make in PATH_VALUES.items()}


def api_routes(server: HubServer) -> list[Endpoint]:
    """Every APIRoute of the app, included routers flattened (docs and OpenAPI are plain Starlette routes).

    FastAPI keeps included routers as lazy entries of `app.routes`; `iter_route_contexts` is how its own
    OpenAPI generator walks them.
    """
    endpoints = []
    for context in iter_route_contexts(server.app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            assert context.path is not None and context.methods is not None
            endpoints.append(Endpoint(context.path, frozenset(context.methods), route))
    return endpoints


def is_dashboard(endpoint: Endpoint) -> bool:
    """Whether a route belongs to the cookie-signed-in dashboard rather than the bearer-token API."""
    return endpoint.path == DASHBOARD_PREFIX or endpoint.path.startswith(DASHBOARD_PREFIX + "/")


# Routes authorised by a signed capability in their path, not by a household's sign-in: the one-tap links of
# notifications. tests/hub/notify/test_push.py refuses their tampered, expired, replayed and other-household
# tokens; a household's bearer token changes nothing there, so the isolation walk leaves them out.
CAPABILITY_ROUTES = frozenset({"/act/{token}"})
# The operator's scrape route: its own token (RESTOCK_METRICS_TOKEN) or loopback only, never a household's
# sign-in; tests/hub/test_metrics.py refuses a missing or wrong token and a remote client.
OPERATOR_ROUTES = frozenset({"/metrics"})


def bearer_routes(server: HubServer) -> list[Endpoint]:
    """Every route a household's bearer token is about: the REST API, health, and whatever is added next (not the
    dashboard, the capability links or the operator's metrics)."""
    return [endpoint for endpoint in api_routes(server)
            if not is_dashboard(endpoint) and endpoint.path not in CAPABILITY_ROUTES | OPERATOR_ROUTES]


def route_calls(
    endpoint: Endpoint, values: dict[str, list[str]], on_unknown: Callable[[str], None] | None = None
) -> Iterator[Call]:
    """Every (method, filled path) of a route, for each combination of the given path-parameter values."""
    names = endpoint.path_params
    unknown = [name for name in names if name not in values]
    if unknown:
        message = (
            f"{sorted(endpoint.methods)} {endpoint.path}: path parameter(s) {unknown} have no values in the "
            "isolation table; add them (with ids of household A) so the route is walked"
        )
        if on_unknown is None:
            raise AssertionError(message)
        on_unknown(message)
        return
    for method in sorted(endpoint.methods):
        for combo in itertools.product(*(values[name] for name in names)):
            path = endpoint.path
            for name, value in zip(names, combo, strict=True):
                path = path.replace("{" + name + "}", value)
            yield Call(method, endpoint.path, path)


def detail_text(response: httpx.Response) -> str:
    """The error's `detail` as one lower-case string: a message, or every validation error's field and message."""
    body = response.json()
    assert "detail" in body, f"{response.status_code} without a detail: {response.text}"
    detail = body["detail"]
    if isinstance(detail, str):
        return detail.lower()
    assert isinstance(detail, list) and detail, f"unexpected detail: {detail!r}"
    parts = []
    for error in detail:
        assert error.get("msg"), f"validation error without a message: {error!r}"
        loc = ".".join(str(part) for part in error.get("loc", []))
        parts.append(f"{loc}: {error['msg']}")
    return "; ".join(parts).lower()


def set_token(api: Api, token: str) -> None:
    """Switch a client to another bearer token."""
    api.client.headers["Authorization"] = f"Bearer {token}"


@pytest.fixture
def world(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice]
) -> World:
    """Build household A's data through the real paths (API, MQTT presses) and an empty household B."""
    clock = Clock()
    # An SMTP host (nothing listens there): a hub without one refuses e-mail channels, and A adds one below.
    server = start_hub(clock=clock, smtp_host="127.0.0.1")
    tag = secrets.token_hex(3)
    a_email, b_email = f"alice-{tag}@example.org", f"bob-{tag}@example.org"
    a_household = f"A-home-{tag}"
    a = sign_up(server.url, name=a_household, email=a_email)
    b = sign_up(server.url, name=f"B-home-{tag}", email=b_email)
    a_household_id = a.ok("GET", "/api/v1/household")["id"]
    a_user_id = a.ok("GET", "/api/v1/me")["id"]

    # A product of A's own (no API creates one yet), and a device nobody claimed.
    unclaimed = f"free-{tag}"
    with Session(server.hub.engine) as session:
        private = Product(
            household_id=a_household_id, sku=f"A-PRIV-{tag}", name=f"A private thing {tag}", price=555, stock=None
        )
        session.add(private)
        device_service.register(session, "dash_button", "", None, unclaimed)
        session.commit()
        assert private.id is not None
        private_id = private.id

    button, ask, own = f"btn-a-{tag}", f"ask-a-{tag}", f"prv-a-{tag}"
    wand = f"wand-a-{tag}"
    add_button(a, button, sku="COF-1KG")
    add_button(a, ask, sku="DSH-500", mode="approve")
    a.ok("POST", "/api/v1/devices", json={"kind": "dash_button", "id": own, "name": f"A secret shelf {tag}"})
    a.ok("PUT", f"/api/v1/devices/{own}/binding", json={"product_id": private_id, "qty": 2, "mode": "cart"})
    a.ok("POST", "/api/v1/devices", json={"kind": "barcode_wand", "id": wand})

    # A cancelled order from the cart, then cart lines that stay.
    a.ok("PUT", f"/api/v1/cart/{product_id(a, 'DTB-60')}", json={"qty": 1})
    cancelled = a.ok("POST", "/api/v1/cart/checkout")["id"]
    a.ok("POST", f"/api/v1/orders/{cancelled}/cancel")
    coffee = product_id(a, "COF-1KG")
    a.ok("PUT", f"/api/v1/cart/{coffee}", json={"qty": 3})

    # Orders and a cart line from presses through MQTT, and a dead letter.
    pressed = devices(button)
    ordered = pressed.wait_feedback(pressed.press())
    assert ordered["code"] == "ordered", ordered
    asker = devices(ask)
    waiting = asker.wait_feedback(asker.press())
    assert waiting["code"] == "awaiting_approval", waiting
    shelf = devices(own)
    assert shelf.wait_feedback(shelf.press())["code"] == "in_cart"
    scanner = devices(wand)
    scanner.wait_feedback(scanner.send({"type": "scan", "code": UNKNOWN_EAN, "qty": 1}))
    entries = wait_for(lambda: a.ok("GET", "/api/v1/inbox"), "the unknown barcode in A's inbox")
    sensor_id = f"sensor-a-{tag}"
    a.ok("POST", "/api/v1/devices", json={"kind": "appliance_sensor", "id": sensor_id})
    sensor = devices(sensor_id)
    reading = {"type": "level", "slot": "detergent", "value": 800, "unit": "g"}
    assert sensor.wait_feedback(sensor.send(reading))["code"] == "recorded"
    slot_id = a.ok("GET", "/api/v1/slots")[0]["id"]
    pressed.publish_raw("{this is not json")
    wait_for(lambda: a.ok("GET", "/api/v1/household/dead-letters"), "A's dead letter")
    for device in (pressed, asker, shelf, scanner, sensor):
        device.close()

    cart = a.ok("GET", "/api/v1/cart")
    assert sorted(line["product_id"] for line in cart["lines"]) == sorted([coffee, private_id])

    # Issue 8: A's shop and a notification channel. The channel comes after every order step was turned into a
    # notification, so no delivery to it is in progress while the walk compares what A sees before and after.
    merchant = f"shop-a-{tag}"
    a.ok("POST", "/api/v1/merchants", json={"name": merchant, "url": "http://127.0.0.1:9/orders", "secret": "a" * 32})
    with Session(server.hub.engine) as session:
        wait_for(lambda: not repos.unnotified_order_events(session), "A's order steps in the notification outbox")
    channel_id = a.ok("POST", "/api/v1/notifications/channels", json={"kind": "email", "target": a_email})["id"]
    orders = {"pending": ordered["order"], "awaiting_approval": waiting["order"], "cancelled": cancelled}
    markers = [a_email, a_household, f"A-PRIV-{tag}", f"A private thing {tag}", f"A secret shelf {tag}"]
    markers += [button, ask, own, wand, sensor_id, *orders.values()]
    return World(
        server=server,
        clock=clock,
        a=a,
        b=b,
        a_email=a_email,
        b_email=b_email,
        a_household=a_household,
        a_user_id=a_user_id,
        device_ids=[button, ask, own, wand, sensor_id],
        unclaimed_device=unclaimed,
        order_ids=orders,
        inbox_entry=entries[0]["id"],
        private_product=private_id,
        cart_products=[coffee, private_id],
        markers=[*markers, merchant],
        merchant=merchant,
        channel_id=channel_id,
        slot_id=slot_id,
    )
