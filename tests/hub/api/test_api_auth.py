"""Every route but sign-up, sign-in, health and the docs needs a live bearer token; tokens expire and can be revoked.
Sign-in is throttled per account and per address, and password hashes run a few at a time."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session

from hub.broker.mosquitto import MosquittoProcess, free_port
from hub.http.throttle import ACCOUNT, Policy, SignInGuard, Throttled, account_key, address_key
from hub.scheduler.clock import Clock
from hub.services.accounts import TOKEN_TTL, hash_token
from hub.services.shared_limits import MemoryLimits
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
from tests.hub.api.test_http_limits import peak_rss
from tests.hub.conftest import HubServer, hub_env, hub_process, sign_up, wait_healthy

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


# --- Sign-in throttling: limits per account and per address, a bounded number of password hashes at once ---

MIB = 1024 * 1024
# One argon2 hash holds 64 MiB; the hub hashes at most two at once (RESTOCK_PASSWORD_HASH_PARALLEL).
HASHING_BOUND = 2 * 64 * MIB + 64 * MIB


def token_request(url: str, email: str, password: str, source: str = "127.0.0.1") -> httpx.Response:
    """POST /api/v1/auth/token from a given local address (127.0.0.0/8 is all loopback on Linux)."""
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=url, transport=transport, timeout=60) as client:
        return client.post("/api/v1/auth/token", data={"username": email, "password": password})


def at_once(count: int, call: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """`count` calls released together from as many threads."""
    start = threading.Barrier(count)

    def run(n: int) -> httpx.Response:
        start.wait()
        return call(n)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def assert_throttled(response: httpx.Response) -> int:
    """A proper 429: Retry-After in whole seconds, and the reason in the detail; returns the wait."""
    assert response.status_code == 429, response.text
    retry_after = response.headers.get("retry-after", "")
    assert retry_after.isdigit() and int(retry_after) >= 1, response.headers
    assert "try again in" in detail_text(response)
    return int(retry_after)


@dataclass(frozen=True)
class HubProc:
    """A running hub process: its base URL and process id."""

    url: str
    pid: int


@contextmanager
def hub_process_at(database_url: str, broker: MosquittoProcess, data_dir: Path, **settings: str) -> Iterator[HubProc]:
    """`restock hub` as a process of its own, so that its memory is measured without the test's."""
    port = free_port()
    log = data_dir.parent / f"hub-{port}.log"
    proc = hub_process(hub_env(database_url, broker.port, data_dir, port, **settings), log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc, log)
        yield HubProc(url, proc.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.mark.slow
def test_parallel_wrong_sign_ins_are_refused_at_once_and_memory_stays_bounded(
    database_url: str, broker: MosquittoProcess, tmp_path: Path
) -> None:
    with hub_process_at(database_url, broker, tmp_path / "data") as hub:
        victim, other = f"victim-{secrets.token_hex(3)}@example.org", f"other-{secrets.token_hex(3)}@example.org"
        sign_up(hub.url, email=victim)
        sign_up(hub.url, email=other)
        with peak_rss(hub.pid) as growth:
            answers = at_once(40, lambda n: token_request(hub.url, victim, f"guess {n}"))
        codes = Counter(r.status_code for r in answers)
        assert set(codes) <= {401, 429} and codes[429] >= 30, codes
        for response in answers:
            if response.status_code == 429:
                assert_throttled(response)
        assert growth() < HASHING_BOUND, f"the hub grew by {growth() / MIB:.0f} MiB during 40 parallel sign-ins"
        # The guessed account is locked now, even for the right password; another account elsewhere is not.
        assert_throttled(token_request(hub.url, victim, PASSWORD))
        assert token_request(hub.url, other, PASSWORD, source="127.0.0.2").status_code == 200


@pytest.mark.slow
def test_password_hashes_beyond_the_parallel_bound_are_refused_at_once(
    database_url: str, broker: MosquittoProcess, tmp_path: Path
) -> None:
    # Address limits out of the way: only the bound on parallel hashes acts here (40 different accounts).
    limits = {"signin_address_burst": "1000", "signin_address_per_minute": "1000"}
    with hub_process_at(database_url, broker, tmp_path / "data", **limits) as hub:
        with peak_rss(hub.pid) as growth:
            answers = at_once(40, lambda n: token_request(hub.url, f"nobody-{n}@example.org", "guess"))
        codes = Counter(r.status_code for r in answers)
        assert set(codes) <= {401, 429} and codes[429] >= 10, codes
        busy = [r for r in answers if r.status_code == 429]
        assert all(assert_throttled(r) == 1 and "at once" in detail_text(r) for r in busy)
        assert growth() < HASHING_BOUND, f"the hub grew by {growth() / MIB:.0f} MiB during 40 parallel sign-ins"
        email = f"{secrets.token_hex(4)}@example.org"
        sign_up(hub.url, email=email)
        assert token_request(hub.url, email, PASSWORD).status_code == 200


def web_sign_in(url: str, email: str, password: str) -> httpx.Response:
    """The dashboard's sign-in form, submitted with its CSRF value like a browser does."""
    with httpx.Client(base_url=url, timeout=30) as browser:
        form = browser.get("/web/signin")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        return browser.post("/web/signin", data={"email": email, "password": password, "csrf": csrf.group(1)})


def test_a_locked_account_unlocks_after_retry_after(start_hub: Callable[..., HubServer]) -> None:
    clock = Clock()
    server = start_hub(clock=clock)
    email = f"{secrets.token_hex(4)}@example.org"
    sign_up(server.url, email=email)
    for n in range(5):
        assert token_request(server.url, email, f"wrong {n}").status_code == 401
    # Locked: even the right password waits, on the API and on the dashboard's form.
    wait = assert_throttled(token_request(server.url, email, PASSWORD))
    assert wait == 30
    page = web_sign_in(server.url, email, PASSWORD)
    assert page.status_code == 429 and page.headers["retry-after"] == "30"
    assert "Too many sign-in attempts" in page.text and "wait 30 seconds" in page.text
    assert "restock_session" not in page.cookies

    # After Retry-After the account opens again; one more wrong password locks it twice as long.
    clock.advance(timedelta(seconds=wait))
    assert token_request(server.url, email, "wrong again").status_code == 401
    wait = assert_throttled(token_request(server.url, email, PASSWORD))
    assert wait == 60
    clock.advance(timedelta(seconds=wait))
    assert token_request(server.url, email, PASSWORD).status_code == 200
    # A success clears the count: the next wrong password is just a 401.
    assert token_request(server.url, email, "wrong").status_code == 401


def test_throttle_keys_group_ipv6_by_prefix_and_stay_bounded() -> None:
    # One host can pick any address of its /64, and every address of it is the same key.
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.7") == address_key("192.0.2.7") == "192.0.2.7"
    assert account_key("  Alice@Example.org ") == "alice@example.org"
    # Guesses over ever new e-mail addresses cost bounded memory; the least recently used key goes first.
    guard = SignInGuard(
        Policy(burst=1, per_minute=1, free_failures=1, lockout_s=30, lockout_max_s=60, max_keys=100),
        Policy(burst=10_000, per_minute=10_000, free_failures=10_000, lockout_s=1, lockout_max_s=1),
    )
    for n in range(1000):
        guard.failed(guard.admit(f"user-{n}@example.org", "192.0.2.1", 0.0), 0.0)
    assert isinstance(guard.store, MemoryLimits) and guard.store.size(ACCOUNT) == 100
    with pytest.raises(Throttled) as locked:
        guard.admit("user-999@example.org", "192.0.2.1", 1.0)
    assert locked.value.retry_after_header == "29"
    guard.admit("user-0@example.org", "192.0.2.1", 1.0)  # forgotten, so it starts afresh
