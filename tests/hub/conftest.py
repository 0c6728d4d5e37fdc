"""Hub fixtures: a database per test (SQLite, and PostgreSQL when configured), a running hub, devices."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, text

from hub.app import Hub, create_app
from hub.broker.mosquitto import MosquittoProcess, free_port
from hub.scheduler.clock import Clock
from hub.settings import Settings
from hub.store.db import normalise_url
from simulator.protocol_device import ProtocolDevice

PG_ENV = "RESTOCK_TEST_DATABASE_URL"


def reset_postgres(url: str) -> None:
    """Empty the test database: drop and recreate the public schema."""
    engine = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def _backends() -> list[Any]:
    params: list[Any] = [pytest.param("sqlite", id="sqlite")]
    params.append(
        pytest.param(
            "postgresql",
            id="postgresql",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"{PG_ENV} not set"),
            ],
        )
    )
    return params


@pytest.fixture(params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'restock.db'}"
    url = os.environ[PG_ENV]
    reset_postgres(url)
    return url


class HubServer:
    """A real hub (uvicorn + lifespan: ingest, scheduler) in a background thread."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.app = create_app(settings, clock)
        self.port = settings.http.port
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_config=None, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def hub(self) -> Hub:
        """The running hub runtime."""
        hub: Hub = self.app.state.hub
        return hub

    @property
    def url(self) -> str:
        """Base URL of the API."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> HubServer:
        """Start and wait until the API answers and ingest is subscribed."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.server.started and getattr(self.app.state, "hub", None) is not None:
                ingest = self.hub.ingest
                if ingest is not None and ingest.connected.is_set():
                    return self
            if not self.thread.is_alive():
                raise RuntimeError("hub failed to start")
            time.sleep(0.05)
        raise TimeoutError("hub did not start")

    def stop(self) -> None:
        """Graceful shutdown."""
        self.server.should_exit = True
        self.thread.join(20)


def hub_settings(database_url: str, mqtt_port: int, data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a hub on the test broker and database."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "mqtt_url": f"mqtt://127.0.0.1:{mqtt_port}",
        "mqtt_client_id": f"hub-{secrets.token_hex(4)}",
        "http_port": free_port(),
        "scheduler_poll_seconds": 0.2,
        "merchant_step_seconds": 3600.0,
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def broker(mosquitto_factory: Callable[..., MosquittoProcess]) -> MosquittoProcess:
    """A private mosquitto for this test alone, so no retained message of another test reaches its hub."""
    return mosquitto_factory()


@pytest.fixture
def start_hub(database_url: str, broker: MosquittoProcess, tmp_path: Path) -> Iterator[Callable[..., HubServer]]:
    """Start hubs on this test's broker and database; all are stopped at the end."""
    servers: list[HubServer] = []

    def start(on: MosquittoProcess | None = None, clock: Clock | None = None, **overrides: Any) -> HubServer:
        port = (on or broker).port
        server = HubServer(hub_settings(database_url, port, tmp_path / "data", **overrides), clock).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


class Api:
    """A signed-in household's HTTP client."""

    def __init__(self, base_url: str, token: str) -> None:
        self.client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=20)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        """Request that must succeed; returns the JSON body."""
        response = self.client.request(method, path, **kwargs)
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None


def sign_up(base_url: str, name: str = "Home", email: str | None = None) -> Api:
    """Create a household and return its signed-in client."""
    email = email or f"{secrets.token_hex(4)}@example.org"
    response = httpx.post(
        f"{base_url}/api/v1/signup", json={"household": name, "email": email, "password": "correct horse"}
    )
    assert response.status_code == 201, response.text
    return Api(base_url, response.json()["access_token"])


def product_id(api: Api, sku: str) -> int:
    """Id of a demo catalog product by SKU."""
    for product in api.ok("GET", "/api/v1/products"):
        if product["sku"] == sku:
            return int(product["id"])
    raise KeyError(sku)


def add_button(api: Api, device_id: str, sku: str = "COF-1KG", mode: str = "order", qty: int = 1) -> str:
    """Register a bound dash button; returns its secret."""
    created = api.ok("POST", "/api/v1/devices", json={"kind": "dash_button", "name": device_id, "id": device_id})
    binding = {"product_id": product_id(api, sku), "qty": qty, "mode": mode}
    api.ok("PUT", f"/api/v1/devices/{device_id}/binding", json=binding)
    return str(created["secret"])


@pytest.fixture
def devices(broker: MosquittoProcess) -> Iterator[Callable[..., ProtocolDevice]]:
    """Connect protocol-level devices (plain MQTT clients) to a broker; all disconnected at the end."""
    made: list[ProtocolDevice] = []

    def make(device_id: str, secret: str | None = None, on: MosquittoProcess | None = None) -> ProtocolDevice:
        device = ProtocolDevice(device_id, (on or broker).port, secret)
        device.connect()
        made.append(device)
        return device

    yield make
    for device in made:
        device.close()


def hub_env(database_url: str, mqtt_port: int, data_dir: Path, http_port: int, **settings: str) -> dict[str, str]:
    """The environment of a `restock hub` process on the test broker and database (`settings`: RESTOCK_ names)."""
    return {
        **os.environ,
        "RESTOCK_DATA_DIR": str(data_dir),
        "RESTOCK_DATABASE_URL": database_url,
        "RESTOCK_MQTT_URL": f"mqtt://127.0.0.1:{mqtt_port}",
        "RESTOCK_MQTT_CLIENT_ID": f"hub-{http_port}",
        "RESTOCK_HTTP_PORT": str(http_port),
        **{f"RESTOCK_{name.upper()}": value for name, value in settings.items()},
    }


def hub_process(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`restock hub` as a process of its own (in a new session), its output appended to `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "restock", "hub"], env=env, stdout=out, stderr=out, start_new_session=True
        )


@contextlib.contextmanager
def healthy_hub(
    database_url: str, mqtt_port: int, tmp_path: Path, workers: int = 1, **settings: str
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """`restock hub` as a process on the test broker and database, once healthy with `workers` ingest processes;
    with its log. Its whole process group is killed at the end, whatever the test did to it."""
    port = free_port()
    if workers > 1:
        settings = {"ingest_workers": str(workers), **settings}
    log = tmp_path / "hub.log"
    proc = hub_process(hub_env(database_url, mqtt_port, tmp_path / "data", port, **settings), log)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc, log, timeout=60, workers=workers)
        yield proc, log
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def wait_healthy(
    url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30, workers: int = 1
) -> None:
    """Until the hub at `url` has `workers` ingest processes subscribed; fails if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"hub exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).json().get("ingest_workers") == workers:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"hub did not come up: {log.read_text()[-3000:]}")
