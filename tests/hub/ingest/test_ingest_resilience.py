"""Exactly-once under load, replays, broker restarts and a hub killed inside a cancel window."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, func, select

from hub.broker.mosquitto import MosquittoProcess, free_port
from hub.store.models import Order, OrderEvent, ProcessedEvent
from simulator.protocol_device import ProtocolDevice
from tests.hub.conftest import Api, HubServer, add_button, hub_env, hub_process, sign_up, wait_healthy

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_1000_presses_from_50_devices_with_replays_give_one_order_each(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice]
) -> None:
    server = start_hub()
    api = sign_up(server.url)
    api.ok("PATCH", "/api/v1/household", json={"allow_multiple_orders": True})
    fleet = []
    for n in range(50):
        add_button(api, f"btn-{n:03d}")
        fleet.append(devices(f"btn-{n:03d}"))
    rng = random.Random(7)
    sent: list[tuple[ProtocolDevice, int]] = []
    for _ in range(1000):
        device = rng.choice(fleet)
        seq = device.press()
        sent.append((device, seq))
        if rng.random() < 0.10:
            device.replay(seq, {"type": "press", "click": "single"})
    for device in fleet:
        device.wait_outbox_empty(timeout=120)

    with Session(server.hub.engine) as session:
        orders = session.exec(select(func.count()).select_from(Order)).one()
        keys = session.exec(select(func.count()).select_from(ProcessedEvent)).one()
        per_key = session.exec(
            select(ProcessedEvent.device_id, ProcessedEvent.seq, func.count())
            .group_by(ProcessedEvent.device_id, ProcessedEvent.seq)
            .having(func.count() > 1)
        ).all()
    assert orders == 1000 and keys == 1000 and per_key == []
    assert sum(1 for device, seq in sent if device.feedback[seq][0].count('"ordered"')) == 1000


def test_broker_restart_mid_stream_loses_no_accepted_event(
    start_hub: Callable[..., HubServer],
    devices: Callable[..., ProtocolDevice],
    broker: MosquittoProcess,
) -> None:
    server = start_hub()
    api = sign_up(server.url)
    api.ok("PATCH", "/api/v1/household", json={"allow_multiple_orders": True})
    fleet = []
    for n in range(5):
        add_button(api, f"btn-r{n}")
        fleet.append(devices(f"btn-r{n}"))
    for i in range(200):
        fleet[i % 5].press()
        if i == 100:
            broker.restart()
    for device in fleet:
        device.wait_outbox_empty(timeout=90)
    orders = api.ok("GET", "/api/v1/orders", params={"limit": 500})
    assert len(orders) == 200
    assert len({(o["device_id"]) for o in orders}) == 5


def test_hub_killed_inside_cancel_window_submits_once_on_time(
    database_url: str, broker: MosquittoProcess, devices: Callable[..., ProtocolDevice], tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = hub_env(
        database_url, broker.port, tmp_path / "data", port, scheduler_poll_seconds="0.2", merchant_step_seconds="3600"
    )
    log = tmp_path / "hub.log"
    proc = hub_process(env, log)
    try:
        wait_healthy(url, proc, log)
        api = sign_up(url)
        api.ok("PATCH", "/api/v1/household", json={"cancel_window_s": 4})
        add_button(api, "btn-kill")
        device = devices("btn-kill")
        feedback = device.wait_feedback(device.press())
        assert feedback["code"] == "ordered"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        order = _order_row(database_url, feedback["order"])
        assert order.status == "pending", "the kill came inside the cancel window"

        proc = hub_process(env, log)
        wait_healthy(url, proc, log)
        api = Api(url, api.client.headers["Authorization"].split()[1])
        deadline = time.monotonic() + 30
        while api.ok("GET", f"/api/v1/orders/{feedback['order']}")["status"] == "pending":
            assert time.monotonic() < deadline, "order never submitted after restart"
            time.sleep(0.1)
        detail = api.ok("GET", f"/api/v1/orders/{feedback['order']}")
        submitted = [step for step in detail["timeline"] if step["status"] == "submitted"]
        assert len(submitted) == 1
        at = datetime.fromisoformat(submitted[0]["at"])
        cancel_until = datetime.fromisoformat(detail["cancel_until"])
        assert cancel_until <= at < cancel_until + timedelta(seconds=15)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    assert _count_events(database_url, feedback["order"], "submitted") == 1


def _order_row(database_url: str, order_id: str) -> Order:
    from hub.store.db import make_engine

    engine = make_engine(database_url)
    with Session(engine) as session:
        order = session.get(Order, order_id)
        assert order is not None
    engine.dispose()
    return order


def _count_events(database_url: str, order_id: str, status: str) -> int:
    from hub.store.db import make_engine

    engine = make_engine(database_url)
    with Session(engine) as session:
        n = session.exec(
            select(func.count())
            .select_from(OrderEvent)
            .where(OrderEvent.order_id == order_id, col(OrderEvent.status) == status)
        ).one()
    engine.dispose()
    return int(n)
