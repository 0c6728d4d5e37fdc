"""`restock demo` as a newcomer runs it: it comes up, serves the API, its devices reach the hub, Ctrl-C stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hub.broker.mosquitto import free_port

pytestmark = pytest.mark.slow


def test_demo_starts_serves_and_stops_cleanly(tmp_path: Path) -> None:
    http_port = free_port()
    log = tmp_path / "demo.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "demo", "--http-port", str(http_port), "--mqtt-port", str(free_port()),
             "--data-dir", str(tmp_path / "demo")],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "200"},
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while "restock demo is running" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        text = log.read_text()
        assert "demo@restock.local" in text and f"http://127.0.0.1:{http_port}/docs" in text
        base = f"http://127.0.0.1:{http_port}"
        token = httpx.post(
            f"{base}/api/v1/auth/token", data={"username": "demo@restock.local", "password": "restock-demo"}
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        orders = httpx.get(f"{base}/api/v1/orders", headers=auth).json()
        assert [(o["device_id"], o["status"]) for o in orders] == [("coffee-button", "pending")]
        cart = httpx.get(f"{base}/api/v1/cart", headers=auth).json()
        assert [line["name"] for line in cart["lines"]] == ["Dish soap 500 ml"]
        assert httpx.get(f"{base}/docs").status_code == 200

        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    # No orphan left behind in the demo's process group.
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)
