"""Simulator tests run against the real hub: reuse the hub fixtures, start firmware on the test's broker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hub.broker.mosquitto import MosquittoProcess
from simulator.firmware import FirmwareProcess, device_config
from tests.hub.conftest import broker, database_url, devices, start_hub

__all__ = ["broker", "database_url", "devices", "start_hub"]


@pytest.fixture
def firmware_on(broker: MosquittoProcess, tmp_path: Path) -> Iterator[Callable[..., FirmwareProcess]]:
    """Start firmware devices on this test's broker."""
    started: list[FirmwareProcess] = []

    def start(app: str, device_id: str, sim: dict[str, object] | None = None, **cfg: object) -> FirmwareProcess:
        cfg.setdefault("retry_s", 0.5)
        cfg.setdefault("retry_max_s", 1.0)
        cfg.setdefault("feedback_wait_s", 3.0)
        cfg.setdefault("timeout_s", 2.0)
        fw = FirmwareProcess(app, tmp_path / device_id, config=device_config(app, device_id, broker.port, **cfg),
                             sim=sim)
        started.append(fw)
        return fw.start()

    yield start
    for fw in started:
        fw.kill()
