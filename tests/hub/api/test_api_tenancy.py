"""Merchants belong to one household: no route takes another household's shop, and no order reaches it.

The walk reads the OpenAPI document, so a route added later that takes a merchant (in its path, query,
headers or JSON body) is walked too, or fails the test until it gets a valid body here.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from hub.cli import app
from hub.services import accounts
from hub.services import inbox as inbox_service
from hub.store.db import make_engine, migrate
from hub.store.models import InboxEntry, MerchantAccount, Order, Product, ProductGtin
from tests.hub.conftest import Api, HubServer, sign_up
from tests.hub.receiver import Answer, Post, serving

needs_broker = pytest.mark.broker

MERCHANT = re.compile(r"merchant", re.IGNORECASE)
CSV = {"Content-Type": "text/csv"}


@dataclass
class Receiver:
    """A shop's HTTP endpoint that only records what reaches it."""

    url: str = ""
    requests: list[bytes] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local HTTP receiver on a free port, stopped at the end."""
    seen = Receiver()

    def answer(post: Post) -> Answer:
        seen.requests.append(post.body)
        return 200, b"{}", "application/json"

    with serving(answer) as url:
        seen.url = f"{url}/orders"
        yield seen


# Requests valid for any merchant the caller may use, by (method, OpenAPI path): only the merchant decides.
BODIES: dict[tuple[str, str], Callable[[str], dict[str, Any]]] = {
    ("POST", "/api/v1/merchants/{merchant}/products"): lambda m: {
        "json": {"sku": f"TEN-{m}", "name": "Tenancy product", "price": 100}
    },
    ("POST", "/api/v1/catalog/import"): lambda m: {
        "content": f"sku,name,price,gtins\nTEN-CSV-{m},Tenancy import,1.00,4006381333948\n", "headers": CSV
    },
    ("POST", "/api/v1/merchants/callback"): lambda m: {
        "json": {"event_id": "e-1", "order_id": "o-0000000000", "status": "confirmed"}
    },
}
# Public routes authenticate the merchant itself (a signature with its secret): an intruder gets 401.
REFUSED: dict[tuple[str, str], set[int]] = {("POST", "/api/v1/merchants/callback"): {401}}


@dataclass(frozen=True)
class MerchantRoute:
    """An operation of the OpenAPI document that names a merchant, and where."""

    method: str
    path: str
    places: tuple[tuple[str, str], ...]  # (in, name): "path" / "query" / "header" / "body"
    public: bool
    has_body: bool


def _schema(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        resolved: dict[str, Any] = document
        for part in ref.removeprefix("#/").split("/"):
            resolved = resolved[part]
        return resolved
    return schema


def merchant_routes(document: dict[str, Any]) -> list[MerchantRoute]:
    """Every operation with a parameter or a JSON body property whose name says merchant."""
    found = []
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            places = [(p["in"], p["name"]) for p in op.get("parameters", []) if MERCHANT.search(p["name"])]
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                body = _schema(document, content["application/json"].get("schema", {}))
                places += [("body", name) for name in body.get("properties", {}) if MERCHANT.search(name)]
            if places:
                found.append(MerchantRoute(method.upper(), path, tuple(places), public=not op.get("security"),
                                           has_body="requestBody" in op))
    return found


def request_for(route: MerchantRoute, merchant: str) -> tuple[str, dict[str, Any]]:
    """The route's URL and request arguments with `merchant` in every place it names one."""
    key = (route.method, route.path)
    kwargs: dict[str, Any] = BODIES[key](merchant) if key in BODIES else {}
    path = route.path
    for where, name in route.places:
        if where == "path":
            path = path.replace("{" + name + "}", merchant)
        elif where == "query":
            kwargs.setdefault("params", {})[name] = merchant
        elif where == "header":
            kwargs["headers"] = {**kwargs.get("headers", {}), name: merchant}
        else:
            kwargs["json"] = {**kwargs.get("json", {}), name: merchant}
    return path, kwargs


def state(server: HubServer, receiver: Receiver) -> dict[str, Any]:
    """Everything a merchant route could change: shops, products, barcodes, orders, what reached a shop."""
    with Session(server.hub.engine) as session:
        return {
            "merchants": sorted(
                (m.name, m.household_id, m.active, m.url, m.secret) for m in session.exec(select(MerchantAccount))
            ),
            "products": sorted(
                (p.id or 0, p.household_id or 0, p.merchant, p.sku, p.price) for p in session.exec(select(Product))
            ),
            "gtins": sorted((g.gtin, g.product_id, g.household_id or 0) for g in session.exec(select(ProductGtin))),
            "orders": sorted((o.id, o.status) for o in session.exec(select(Order))),
            "shop_requests": len(receiver.requests),
        }


def add_merchant(api: Api, url: str) -> str:
    """Register a webhook shop for the caller's household; returns its name."""
    name = f"shop-{secrets.token_hex(4)}"
    api.ok("POST", "/api/v1/merchants", json={"name": name, "url": url, "secret": secrets.token_urlsafe(24)})
    return name


@needs_broker
def test_no_route_takes_another_households_merchant(
    start_hub: Callable[..., HubServer], receiver: Receiver
) -> None:
    server = start_hub()
    a, b = sign_up(server.url, name="A"), sign_up(server.url, name="B")
    a_shop, a_removed = add_merchant(a, receiver.url), add_merchant(a, receiver.url)
    a.ok("POST", f"/api/v1/merchants/{a_shop}/products", json={"sku": "A-1", "name": "A's beans", "price": 900})
    a.ok("DELETE", f"/api/v1/merchants/{a_removed}")
    b_shop = add_merchant(b, receiver.url)

    routes = merchant_routes(server.app.openapi())
    found = {(r.method, r.path) for r in routes}
    # The walk's own guard: the routes known today are found (a broken finder would prove nothing).
    assert {("DELETE", "/api/v1/merchants/{merchant}"), ("POST", "/api/v1/merchants/{merchant}/products"),
            ("POST", "/api/v1/catalog/import"), ("POST", "/api/v1/merchants/callback")} <= found, found
    problems = [f"{r.method} {r.path} takes a body: add a valid one to BODIES"
                for r in routes if r.has_body and (r.method, r.path) not in BODIES]
    assert not problems, problems

    before = state(server, receiver)
    for route in routes:
        refused = REFUSED.get((route.method, route.path), {404, 422})
        answers = set()
        for foreign in (a_shop, a_removed, "shop-nobody-has"):
            path, kwargs = request_for(route, foreign)
            response = b.request(route.method, path, **kwargs)
            where = f"{route.method} {path} as B with {foreign} -> {response.status_code} {response.text[:200]}"
            if response.status_code not in refused:
                problems.append(f"expected {sorted(refused)}: {where}")
            elif response.status_code == 404 and "not found" not in response.text:
                problems.append(f"a 404 must read like any unknown name: {where}")
            answers.add((response.status_code, response.text.replace(foreign, "<name>")))
        if len(answers) != 1:
            problems.append(f"{route.method} {route.path} tells A's shops from unknown ones: {answers}")
    assert not problems, "cross-household merchant use:\n" + "\n".join(problems)
    assert state(server, receiver) == before, "a refused request changed something"

    # The same requests with B's own shop go through: the refusals above were about whose shop it is.
    for route in sorted((r for r in routes if not r.public), key=lambda r: r.method == "DELETE"):
        path, kwargs = request_for(route, b_shop)
        response = b.request(route.method, path, **kwargs)
        assert response.status_code < 300, f"{route.method} {path} as B with its own shop: {response.text}"
    with Session(server.hub.engine) as session:
        imported = session.exec(select(Product).where(Product.sku == f"TEN-CSV-{b_shop}")).one()
        assert (imported.household_id, imported.merchant) == (b.ok("GET", "/api/v1/household")["id"], b_shop)
    assert [m["name"] for m in a.ok("GET", "/api/v1/merchants")] == [a_shop]


@needs_broker
def test_catalog_import_names_the_merchant_it_refuses(
    start_hub: Callable[..., HubServer], receiver: Receiver
) -> None:
    """The demo shop is everyone's; an unknown and another household's shop get the very same answer."""
    server = start_hub()
    a, b = sign_up(server.url, name="A"), sign_up(server.url, name="B")
    a_shop = add_merchant(a, receiver.url)
    row = "sku,name,price\nDEMO-B-1,B's own demo thing,1.00\n"
    assert b.ok("POST", "/api/v1/catalog/import", params={"merchant": "demo"}, content=row, headers=CSV)["created"] == 1

    def answer(merchant: str) -> httpx.Response:
        return b.client.post("/api/v1/catalog/import", params={"merchant": merchant, "dry_run": True}, content=row,
                             headers=CSV)

    foreign, unknown = answer(a_shop), answer("shop-nobody-has")
    assert (foreign.status_code, foreign.json()) == (404, {"detail": f"merchant {a_shop} not found"})
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "merchant shop-nobody-has not found"})


def test_catalog_cli_keeps_a_households_shop_in_that_household(database_url: str, tmp_path: Path) -> None:
    """The operator's import: a shop only into its own household's catalog, never into the shared one."""
    migrate(database_url)
    engine = make_engine(database_url)
    with Session(engine) as session:
        owner = accounts.create_household(session, "Owner", "owner@example.org", "long enough").household_id
        other = accounts.create_household(session, "Other", "other@example.org", "long enough").household_id
        session.add(MerchantAccount(household_id=owner, name="owners-shop", url="http://127.0.0.1:9/", secret="s" * 16))
        session.commit()
    engine.dispose()
    csv = tmp_path / "products.csv"
    csv.write_text("sku,name,price\nCLI-1,CLI beans,1.00\n")

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, ["catalog", "import", str(csv), "--merchant", "owners-shop", *args],
                                    env={"RESTOCK_DATABASE_URL": database_url, "COLUMNS": "200"})
        return result.exit_code, result.output

    code, output = run("--household", str(other))
    assert code == 2 and f"neither built in nor a shop of household {other}" in output, output
    code, output = run()
    assert code == 2 and "a household's own shop" in output, output
    code, output = run("--household", str(owner))
    assert code == 0 and "1 created" in output, output
    engine = make_engine(database_url)
    with Session(engine) as session:
        rows = [(p.household_id, p.merchant) for p in session.exec(select(Product).where(Product.sku == "CLI-1"))]
    engine.dispose()
    assert rows == [(owner, "owners-shop")]


def test_inbox_product_cannot_name_another_households_shop(database_url: str) -> None:
    migrate(database_url)
    engine = make_engine(database_url)
    now = datetime.now(UTC)
    with Session(engine) as session:
        owner = accounts.create_household(session, "Owner", "owner@example.org", "long enough").household_id
        other = accounts.create_household(session, "Other", "other@example.org", "long enough").household_id
        session.add(MerchantAccount(household_id=owner, name="owners-shop", url="http://127.0.0.1:9/", secret="s" * 16))
        for household in (owner, other):
            session.add(InboxEntry(household_id=household, gtin="05901234123457", first_seen=now, last_seen=now))
        session.commit()
        spec = inbox_service.NewProduct(name="Mine", price=100, currency="EUR", merchant="owners-shop")
        with pytest.raises(inbox_service.MerchantNotFoundError, match="merchant owners-shop not found"):
            inbox_service.create_product(session, other, "05901234123457", spec, now)
        session.rollback()
        product, _ = inbox_service.create_product(session, owner, "05901234123457", spec, now)
        session.commit()
        assert (product.household_id, product.merchant) == (owner, "owners-shop")
        assert session.exec(select(Product).where(Product.household_id == other)).all() == []
    engine.dispose()
