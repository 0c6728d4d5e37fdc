"""Pairing and revocation through the real hub: claim codes over the API, unclaimed/revoked events rejected."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from hub.broker.mosquitto import MosquittoProcess
from restock.cli import app
from simulator.protocol_device import ProtocolDevice
from tests.hub.conftest import PG_ENV, HubServer, hub_settings, product_id, reset_postgres, sign_up

pytestmark = [pytest.mark.broker, pytest.mark.slow]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite, and PostgreSQL when RESTOCK_TEST_DATABASE_URL is set."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'restock.db'}"
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} not set")
    reset_postgres(url)
    return url


@pytest.fixture
def hub(db_url: str, mosquitto_factory: Callable[..., MosquittoProcess], tmp_path: Path) -> Iterator[HubServer]:
    """A real hub on a private (anonymous) mosquitto."""
    broker = mosquitto_factory()
    server = HubServer(hub_settings(db_url, broker.port, tmp_path / "data")).start()
    yield server
    server.stop()


def _add_unclaimed(server: HubServer, device_id: str) -> tuple[str, str]:
    """`restock device add` on the hub's database; returns (secret, claim code) from the bundle and output."""
    s = server.settings
    env = {"RESTOCK_DATA_DIR": str(s.data_dir), "RESTOCK_DATABASE_URL": s.resolved_database_url()}
    result = CliRunner().invoke(app, ["device", "add", "--kind", "dash_button", "--id", device_id,
                                      "--wifi-ssid", "home", "--broker-host", "127.0.0.1", "--no-tls"], env=env)
    assert result.exit_code == 0, result.output
    code = re.search(r"claim code: (\w{4}-\w{4}-\w{4})", result.output)
    assert code is not None, result.output
    bundle = s.data_dir / "devices" / device_id
    assert (bundle / "claim.png").exists() and (bundle / "claim.svg").exists()
    assert (bundle / "config.json").stat().st_mode & 0o077 == 0
    return json.loads((bundle / "config.json").read_text())["secret"], code.group(1)


def _device(server: HubServer, device_id: str, secret: str) -> ProtocolDevice:
    assert server.settings.mqtt.url is not None
    dev = ProtocolDevice(device_id, int(server.settings.mqtt.url.rsplit(":", 1)[-1]), secret)
    dev.connect()
    return dev


def _press(dev: ProtocolDevice) -> dict[str, Any]:
    return dev.wait_feedback(dev.press(), timeout=15)  # one device object: seq goes on like in flash


def test_claim_binds_unclaimed_device_and_revoke_keeps_history(hub: HubServer) -> None:
    """unclaimed → rejected; claim (wrong 404, right 200, again 409); ordered; revoke → rejected, order kept."""
    secret, code = _add_unclaimed(hub, "btn-pair")
    dev = _device(hub, "btn-pair", secret)
    fb = _press(dev)
    assert (fb["code"], fb.get("reason")) == ("rejected", "unclaimed")
    home = sign_up(hub.url, "Home")
    other = sign_up(hub.url, "Other")
    assert home.post("/api/v1/devices/claim", json={"code": "0000-0000-0000"}).status_code == 404
    claimed = home.post("/api/v1/devices/claim", json={"code": code.lower().replace("-", " ")})
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["id"] == "btn-pair"
    again = other.post("/api/v1/devices/claim", json={"code": code})
    assert again.status_code == 409 and "already" in again.json()["detail"]
    assert other.get("/api/v1/devices/btn-pair").status_code == 404
    coffee = product_id(home, "COF-1KG")
    home.ok("PUT", "/api/v1/devices/btn-pair/binding", json={"product_id": coffee, "mode": "order"})
    fb = _press(dev)
    assert fb["code"] == "ordered", fb
    order_id = fb["order"]
    revoked = home.post("/api/v1/devices/btn-pair/revoke")
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    fb = _press(dev)
    assert (fb["code"], fb.get("reason")) == ("rejected", "revoked")
    assert order_id in [o["id"] for o in home.ok("GET", "/api/v1/orders")]
    dev.close()


def test_claim_attempts_are_rate_limited(hub: HubServer) -> None:
    """After 5 wrong codes a user gets 429, even for a right code; another user is not affected."""
    _, code = _add_unclaimed(hub, "btn-rate")
    guesser = sign_up(hub.url, "Guesser")
    for _ in range(5):
        assert guesser.post("/api/v1/devices/claim", json={"code": "ZZZZ-ZZZZ-ZZZZ"}).status_code == 404
    assert guesser.post("/api/v1/devices/claim", json={"code": code}).status_code == 429
    assert sign_up(hub.url, "Owner").post("/api/v1/devices/claim", json={"code": code}).status_code == 200


def test_api_refuses_every_unauthenticated_request(hub: HubServer) -> None:
    """Every /api/v1 route except sign-up and sign-in answers 401 without a token, and with a forged one."""
    open_routes = {"/api/v1/signup", "/api/v1/auth/token"}
    checked = 0
    for path, operations in hub.app.openapi()["paths"].items():
        if not path.startswith("/api/v1") or path in open_routes:
            continue
        url = re.sub(r"\{[^}]+\}", "1", path)
        for method in operations:
            for headers in ({}, {"Authorization": "Bearer forged-token"}):
                r = httpx.request(method.upper(), hub.url + url, headers=headers, json={})
                assert r.status_code == 401, f"{method} {path} {headers}: {r.status_code}"
                checked += 1
    assert checked > 20
