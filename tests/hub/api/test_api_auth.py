"""Every route but sign-up, sign-in, health and the docs needs a live bearer token; tokens expire and can be revoked."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from sqlmodel import Session

from hub.scheduler.clock import Clock
from hub.services.accounts import TOKEN_TTL, hash_token
from hub.store.models import ApiToken
from tests.hub.api.conftest import (
    BODIES,
    PASSWORD,
    PUBLIC_ROUTES,
    World,
    bearer_routes,
    detail_text,
    path_values,
    route_calls,
    set_token,
)
from tests.hub.conftest import HubServer, sign_up

pytestmark = pytest.mark.broker


def refused_everywhere(world: World, headers: dict[str, str], why: str) -> list[str]:
    """Call every non-public route with these headers; returns the routes that did not answer 401 properly."""
    problems = []
    client = httpx.Client(base_url=world.server.url, headers=headers, timeout=20)
    for endpoint in bearer_routes(world.server):
        for call in route_calls(endpoint, path_values(world)):
            if (call.method, call.template) in PUBLIC_ROUTES:
                continue
            kwargs = BODIES[(call.method, call.template)](world) if (call.method, call.template) in BODIES else {}
            response = client.request(call.method, call.path, **kwargs)
            where = f"{call.method} {call.path} ({why}) -> {response.status_code} {response.text[:160]}"
            if response.status_code != 401:
                problems.append(where)
            elif response.headers.get("www-authenticate") != "Bearer" or why not in detail_text(response):
                problems.append(f"401 without the Bearer challenge or the reason '{why}': {where}")
    client.close()
    return problems


def insert_token(server: HubServer, user_id: int, expires_in: timedelta) -> str:
    """A token row for a user, issued now by the hub's clock and expiring after `expires_in`."""
    raw = secrets.token_urlsafe(32)
    now = server.hub.clock.now()
    with Session(server.hub.engine) as session:
        session.add(ApiToken(user_id=user_id, token_hash=hash_token(raw), created_at=now, expires_at=now + expires_in))
        session.commit()
    return raw


def test_private_routes_refuse_missing_garbage_and_expired_tokens(world: World) -> None:
    expired = insert_token(world.server, world.a_user_id, timedelta(seconds=-1))
    problems = refused_everywhere(world, {}, "sign in first")
    problems += refused_everywhere(world, {"Authorization": "Bearer not-a-token"}, "unknown or expired")
    problems += refused_everywhere(world, {"Authorization": f"Bearer {expired}"}, "unknown or expired")
    problems += refused_everywhere(world, {"Authorization": f"Basic {world.a_email}:{PASSWORD}"}, "sign in first")
    assert not problems, "private routes answered without a live token:\n" + "\n".join(problems)

    # A live token of the same user works on the same routes (so the 401s above were about the token).
    live = insert_token(world.server, world.a_user_id, timedelta(minutes=5))
    client = httpx.Client(base_url=world.server.url, headers={"Authorization": f"Bearer {live}"})
    assert client.get("/api/v1/me").json()["email"] == world.a_email
    assert client.get(f"/api/v1/orders/{world.order_ids['pending']}").status_code == 200


def test_public_routes_answer_without_a_token(start_hub: Callable[..., HubServer]) -> None:
    server = start_hub()
    public = {(m, e.path) for e in bearer_routes(server) for m in e.methods} & PUBLIC_ROUTES
    assert public == PUBLIC_ROUTES, "a public route is gone or renamed: update PUBLIC_ROUTES"
    anon = httpx.Client(base_url=server.url, timeout=20)
    assert anon.get("/healthz").json() == {"ok": True, "mqtt_connected": True, "ingest_workers": 1}
    email = f"{secrets.token_hex(4)}@example.org"
    created = anon.post("/api/v1/signup", json={"household": "Anon", "email": email, "password": PASSWORD})
    assert created.status_code == 201 and created.json()["token_type"] == "bearer"
    signed_in = anon.post("/api/v1/auth/token", data={"username": email.upper(), "password": PASSWORD})
    assert signed_in.status_code == 200 and signed_in.json()["access_token"]
    docs = anon.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert anon.get("/openapi.json").status_code == 200
    front = anon.get("/")
    assert front.status_code == 303 and front.headers["location"] == "/web/"


def sign_in(server: HubServer, email: str) -> str:
    """A fresh bearer token."""
    response = httpx.post(f"{server.url}/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def test_tokens_expire_on_the_hub_clock_and_logout_revokes_one(start_hub: Callable[..., HubServer]) -> None:
    clock = Clock()
    server = start_hub(clock=clock)
    a = sign_up(server.url, email="hank@example.org")
    a.ok("POST", "/api/v1/devices", json={"kind": "dash_button", "id": "btn-hank"})
    assert a.get("/api/v1/me").status_code == 200
    clock.advance(TOKEN_TTL - timedelta(minutes=1))
    assert a.get("/api/v1/me").status_code == 200, "the token expired before its time"
    clock.advance(timedelta(minutes=2))
    for path in ("/api/v1/me", "/api/v1/household", "/api/v1/cart", "/api/v1/devices/btn-hank"):
        response = a.get(path)
        assert response.status_code == 401 and "expired" in detail_text(response), path

    # Signing in again gives two live tokens; logging out with one leaves the other working.
    first, second = sign_in(server, "hank@example.org"), sign_in(server, "hank@example.org")
    set_token(a, first)
    assert a.post("/api/v1/auth/logout").status_code == 204
    assert a.get("/api/v1/me").status_code == 401
    assert a.post("/api/v1/auth/logout").status_code == 401
    set_token(a, second)
    assert a.ok("GET", "/api/v1/devices/btn-hank")["id"] == "btn-hank"
