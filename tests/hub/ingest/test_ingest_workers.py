"""Several ingest processes (RESTOCK_INGEST_WORKERS): one order per event, live events from every worker,
a worker that dies comes back, and none outlives the hub, even a killed one."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from sqlmodel import Session, func, select

from hub.app import Hub
from hub.broker.mosquitto import MosquittoProcess
from hub.notify import live
from hub.settings import Settings
from hub.store.models import Order, ProcessedEvent
from simulator.protocol_device import ProtocolDevice
from tests.hub.conftest import HubServer, add_button, healthy_hub, sign_up

pytestmark = [pytest.mark.broker, pytest.mark.slow]


async def _order_ids(bus: live.LiveBus, ready: asyncio.Event, want: int, within: float) -> set[str]:
    """Ids of the orders announced on the hub's live bus, until `want` of them or `within` seconds."""
    seen: set[str] = set()
    deadline = time.monotonic() + within
    with bus.subscribe(None, frozenset({live.ORDER})) as sub:
        ready.set()
        while len(seen) < want and (left := deadline - time.monotonic()) > 0:
            event = await sub.get(within=left)
            if event is not None:
                seen.add(event.data["id"])
    return seen


def _press_all(fleet: list[ProtocolDevice], presses: int, seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(presses):
        device = rng.choice(fleet)
        seq = device.press()
        if rng.random() < 0.1:
            device.replay(seq, {"type": "press", "click": "single"})
    for device in fleet:
        device.wait_outbox_empty(timeout=120)


def _counts(server: HubServer) -> tuple[int, int, int]:
    with Session(server.hub.engine) as session:
        orders = session.exec(select(func.count()).select_from(Order)).one()
        keys = session.exec(select(func.count()).select_from(ProcessedEvent)).one()
        doubled = session.exec(
            select(ProcessedEvent.device_id, ProcessedEvent.seq)
            .group_by(ProcessedEvent.device_id, ProcessedEvent.seq)
            .having(func.count() > 1)
        ).all()
    return orders, keys, len(doubled)


def _with_two_workers(start_hub: Callable[..., HubServer]) -> HubServer:
    server = start_hub(ingest_workers=2)
    workers = server.hub.workers
    assert workers is not None
    deadline = time.monotonic() + 60
    while workers.connected() < 1:
        assert time.monotonic() < deadline, "the ingest worker did not connect"
        time.sleep(0.05)
    return server


def test_two_workers_split_the_stream_and_announce_every_order(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice]
) -> None:
    server = _with_two_workers(start_hub)
    api = sign_up(server.url)
    api.ok("PATCH", "/api/v1/household", json={"allow_multiple_orders": True})
    fleet = [devices(f"btn-{n:02d}", add_button(api, f"btn-{n:02d}")) for n in range(20)]
    hub = server.hub
    assert hub._loop is not None
    ready = asyncio.Event()
    announced = asyncio.run_coroutine_threadsafe(_order_ids(hub.bus, ready, 300, 120), hub._loop)
    while not ready.is_set():
        time.sleep(0.01)

    _press_all(fleet, 300, seed=3)

    assert _counts(server) == (300, 300, 0)
    # The hub process applied part of the stream; its child applied the rest.
    assert hub.ingest is not None and 0 < hub.ingest.processed < 300
    # Orders applied by the child reach the dashboard's and notifier's live bus in the hub process too.
    with Session(hub.engine) as session:
        ids = set(session.exec(select(Order.id)).all())
    assert announced.result(timeout=120) == ids


def test_a_worker_that_dies_is_started_again_and_nothing_is_lost(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice]
) -> None:
    server = _with_two_workers(start_hub)
    workers = server.hub.workers
    assert workers is not None
    api = sign_up(server.url)
    api.ok("PATCH", "/api/v1/household", json={"allow_multiple_orders": True})
    fleet = [devices(f"btn-{n:02d}", add_button(api, f"btn-{n:02d}")) for n in range(10)]
    [first] = workers.pids()

    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while workers.pids() in ([], [first]) and time.monotonic() < deadline:
        time.sleep(0.1)
    [second] = workers.pids()
    assert second != first
    _press_all(fleet, 100, seed=5)

    assert _counts(server) == (100, 100, 0)

    server.stop()
    assert not psutil.pid_exists(second) or psutil.Process(second).status() == psutil.STATUS_ZOMBIE


def test_more_than_one_worker_needs_a_broker_with_shared_subscriptions(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, ingest_workers=2, embedded_mqtt_port=0, _env_file=None)
    hub = Hub(settings)
    with pytest.raises(ValueError, match="RESTOCK_MQTT_URL"):
        asyncio.run(hub.start())
    hub.engine.dispose()


def test_no_worker_outlives_a_killed_hub(database_url: str, broker: MosquittoProcess, tmp_path: Path) -> None:
    with healthy_hub(database_url, broker.port, tmp_path, workers=3) as (proc, log):
        workers = [p for p in psutil.Process(proc.pid).children() if "spawn_main" in " ".join(p.cmdline())]
        assert len(workers) == 2
        os.kill(proc.pid, signal.SIGKILL)  # the hub alone: no chance to stop its children
        proc.wait(10)
        _, alive = psutil.wait_procs(workers, timeout=30)
        assert alive == [], f"workers outlived the hub: {log.read_text()[-2000:]}"
