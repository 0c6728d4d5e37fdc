"""Shared fixtures: a private mosquitto per test session, temp databases, protocol example payloads."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.broker.mosquitto import MosquittoConfig, MosquittoProcess, free_port

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"


def example(name: str) -> dict[str, object]:
    """Load an example payload of docs/protocol.md."""
    data: dict[str, object] = json.loads((EXAMPLES / name).read_text())
    return data


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoProcess]:
    """An anonymous private mosquitto for the whole session; tests must not stop it."""
    broker = MosquittoProcess(
        MosquittoConfig(port=free_port(), data_dir=tmp_path_factory.mktemp("mosquitto"), persistence=False)
    )
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[Callable[..., MosquittoProcess]]:
    """Start private brokers a test may stop, restart or configure with passwords and ACLs."""
    started: list[MosquittoProcess] = []

    def make(**kwargs: object) -> MosquittoProcess:
        data_dir = tmp_path / f"mosquitto-{len(started)}"
        broker = MosquittoProcess(MosquittoConfig(port=free_port(), data_dir=data_dir, **kwargs))  # type: ignore[arg-type]
        broker.start()
        started.append(broker)
        return broker

    yield make
    for broker in started:
        broker.stop()


def wait_for(check: Callable[[], Any], what: str, timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll until `check()` returns something truthy (and return it), or fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def database_urls() -> list[str]:
    """SQLite always; PostgreSQL too when RESTOCK_TEST_DATABASE_URL is set (CI sets it)."""
    urls = ["sqlite"]
    if os.environ.get("RESTOCK_TEST_DATABASE_URL"):
        urls.append("postgresql")
    return urls
