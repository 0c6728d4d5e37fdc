"""Fixtures for firmware tests: firmware processes on the sim board, and a hub double."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import example
from tests.firmware.fwproc import FirmwareProcess, device_config
from tests.firmware.hubdouble import Answer, HubDouble


def feedback_for(name: str) -> Answer:
    """An answer function replying with docs/examples/<name> carrying the event's seq."""
    template = example(name)

    def answer(device_id: str, event: dict[str, Any]) -> dict[str, Any]:
        return {**template, "seq": event["seq"]}

    return answer


@pytest.fixture
def firmware(tmp_path: Path) -> Iterator[Callable[..., FirmwareProcess]]:
    """Start firmware processes: firmware(app, device_id, broker_port, sim=..., **config)."""
    started: list[FirmwareProcess] = []

    def make(app: str, device_id: str, port: int, sim: dict[str, object] | None = None,
             **cfg: object) -> FirmwareProcess:
        cfg.setdefault("retry_s", 0.5)
        cfg.setdefault("retry_max_s", 1.0)
        cfg.setdefault("feedback_wait_s", 3.0)
        cfg.setdefault("timeout_s", 2.0)
        fw = FirmwareProcess(app, tmp_path / f"{device_id}-flash", config=device_config(app, device_id, port, **cfg),
                             sim=sim)
        started.append(fw)
        return fw.start()

    yield make
    for fw in started:
        fw.kill()


@pytest.fixture
def hub_double() -> Iterator[Callable[..., HubDouble]]:
    """Start hub doubles: hub_double(port, answer=feedback_for('feedback_ordered.json'))."""
    started: list[HubDouble] = []

    def make(port: int, answer: Answer | None = None, client_id: str | None = None) -> HubDouble:
        # unique per test: a persistent session would otherwise replay another test's events
        hub = HubDouble(port, answer, client_id or f"hub-double-{uuid.uuid4().hex[:8]}")
        started.append(hub)
        return hub.start()

    yield make
    for hub in started:
        hub.stop()
