"""The processes a bench/ingest run starts: brokers, the echo consumer, the hub; and their CPU meter."""

from __future__ import annotations

import os
import resource
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from sqlalchemy import create_engine, make_url, text
from sqlmodel import Session

from bench.ingest.echo import PASSWORD_ENV
from hub.broker.credentials import HUB_USERNAME, hash_secret
from hub.broker.mosquitto import MosquittoConfig, MosquittoProcess, free_port
from hub.broker.nats_auth import nats_secret_hash
from hub.merchants.catalog import seed_demo_catalog
from hub.store import repos
from hub.store.db import make_engine, migrate, normalise_url
from hub.store.models import Device, Household


@dataclass(frozen=True)
class Cpu:
    """CPU seconds each process used during one run: what explains a figure on a machine they share."""

    consumer: float
    broker: float
    fleet: float
    wall: float
    database: float = 0.0  # the PostgreSQL server's processes (0 on SQLite, whose work is the consumer's own)

    def share(self, seconds: float) -> str:
        """Cores used on average, as a percentage of one core."""
        return f"{seconds / self.wall:.0%}" if self.wall > 0 else "–"


class CpuMeter:
    """Reads the consumer's (with its children), the broker's and this process's CPU time around a run, and with
    `database` the PostgreSQL server's (every `postgres` process of the machine: the bench's hub is meant to be
    the server's only busy client)."""

    def __init__(self, consumer: int, broker: int, database: bool = False) -> None:
        self.root = psutil.Process(consumer)
        self.procs = [psutil.Process(broker), psutil.Process()]
        self.database = database
        self._server: dict[int, float] = {}

    def _now(self) -> list[float]:
        # The hub's ingest workers are its children: the consumer's figure is theirs and its own together.
        # Children are looked up each time, so a worker the hub restarts is not missed.
        consumer = sum(sum(p.cpu_times()[:2]) for p in [self.root, *self.root.children(recursive=True)])
        return [consumer] + [sum(p.cpu_times()[:2]) for p in self.procs] + [time.perf_counter()]

    def _server_now(self) -> dict[int, float]:
        if not self.database:
            return {}
        found = {}
        for p in psutil.process_iter(["name"]):
            if p.info["name"] == "postgres":
                with suppress(psutil.Error):
                    found[p.pid] = sum(p.cpu_times()[:2])
        return found

    def wait_idle(self, below: float = 0.05, window_s: float = 1.0, limit_s: float = 180.0) -> float:
        """Wait until the consumer uses less than `below` of a core over `window_s` (at most `limit_s`); the
        seconds waited."""
        started = time.perf_counter()
        while time.perf_counter() - started < limit_s:
            before = self._now()
            time.sleep(window_s)
            after = self._now()
            if (after[0] - before[0]) / (after[-1] - before[-1]) < below:
                break
        return time.perf_counter() - started

    def start(self) -> None:
        """Mark the start of a run."""
        self._start = self._now()
        self._server = self._server_now()

    def stop(self) -> Cpu:
        """CPU seconds used since `start`."""
        used = [b - a for a, b in zip(self._start, self._now(), strict=True)]
        # A backend that started during the run counts whole; one that ended is lost (the pool keeps them open).
        server = sum(t - self._server.get(pid, 0.0) for pid, t in self._server_now().items())
        consumer, broker, fleet, wall = used
        return Cpu(consumer, broker, fleet, wall, database=server)


def raise_open_files() -> int:
    """Raise this process's open-files limit to its hard limit (children, mosquitto too, inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def start_broker(work: Path, name: str) -> MosquittoProcess:
    """A mosquitto for one consumer, with the bench's passwords and ACL, no persistence, no connection limit."""
    broker = MosquittoProcess(
        MosquittoConfig(
            port=free_port(),
            data_dir=work / name,
            password_file=work / "passwd",
            acl_file=work / "acl",
            persistence=False,
            extra=("max_connections -1",),
        )
    )
    broker.start()
    return broker


def start_echo(port: int, hub_password: str) -> subprocess.Popen[str]:
    """The echo consumer (bench/ingest/echo.py) in its own process, once it is subscribed."""
    env = {**os.environ, PASSWORD_ENV: hub_password}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.ingest.echo", str(port)], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError(f"the echo consumer did not start (exit {proc.wait()})")
    return proc


@contextmanager
def bench_database(data: Path, postgres: str | None) -> Iterator[str]:
    """The hub's database for one bench: SQLite in `data`, or with `postgres` (a server URL whose user may
    create databases) a fresh PostgreSQL database, dropped afterwards."""
    if not postgres:
        yield f"sqlite:///{data / 'restock.db'}"
        return
    name = f"restock_bench_{secrets.token_hex(4)}"
    admin = create_engine(normalise_url(postgres), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(normalise_url(postgres)).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def prepare_database(
    url: str,
    creds: list[tuple[str, str | None]],
    *,
    cancel_window_s: int = 3600,
    nats_logins: bool = False,
    name: str = "bench",
) -> int:
    """Migrate, then one household with every device bound to coffee in order mode, no protection; its id.

    The broker authenticates the devices in a bench; the hub only needs rows, so one argon2 hash serves all. With
    `nats_logins` each device also gets its NATS login hash (what a cluster's logins file is rendered from).
    """
    migrate(url)
    engine = make_engine(url)
    shared_hash = hash_secret(secrets.token_urlsafe(16))
    try:
        with Session(engine) as session:
            seed_demo_catalog(session)
            household = Household(name=name, allow_multiple_orders=True, cancel_window_s=cancel_window_s)
            session.add(household)
            session.flush()
            product = repos.product_by_sku(session, "demo", "COF-1KG")
            assert product is not None and product.id is not None and household.id is not None
            for device_id, secret in creds:
                session.add(
                    Device(
                        id=device_id,
                        kind="dash_button",
                        household_id=household.id,
                        secret_hash=shared_hash,
                        nats_secret_hash=nats_secret_hash(secret or "") if nats_logins else None,
                        binding_product_id=product.id,
                        binding_mode="order",
                        binding_unit_price=product.price,
                    )
                )
            session.commit()
            return household.id
    finally:
        engine.dispose()


def start_hub(data: Path, db_url: str, mqtt_port: int, hub_password: str, workers: int) -> subprocess.Popen[bytes]:
    """The real hub as a separate process, as it runs in production, with `workers` ingest processes."""
    http_port = free_port()
    env = {
        **os.environ,
        "RESTOCK_DATA_DIR": str(data),
        "RESTOCK_DATABASE_URL": db_url,
        "RESTOCK_MQTT_URL": f"mqtt://{HUB_USERNAME}:{hub_password}@127.0.0.1:{mqtt_port}",
        "RESTOCK_MQTT_CLIENT_ID": f"bench-hub-{http_port}",
        "RESTOCK_HTTP_PORT": str(http_port),
        "RESTOCK_LOG_LEVEL": "WARNING",
        "RESTOCK_DEMO_CATALOG": "false",
        "RESTOCK_INGEST_WORKERS": str(workers),
    }
    log = open(data / "hub.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen([sys.executable, "-m", "restock", "hub"], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{http_port}/healthz"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with suppress(httpx.HTTPError):
            health = httpx.get(url, timeout=1).json()
            if health.get("mqtt_connected") and health.get("ingest_workers") == workers:
                return proc
        if proc.poll() is not None:
            raise RuntimeError((data / "hub.log").read_text()[-3000:])
        time.sleep(0.2)
    proc.kill()
    raise TimeoutError(f"the hub did not start within 60 s: see {data / 'hub.log'}")
