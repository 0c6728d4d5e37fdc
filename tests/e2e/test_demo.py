"""The README's demo as a newcomer runs it: default arguments from a fresh directory (relative paths), a press that
reaches the API, Ctrl-C that stops everything; and `restock demo --smoke`, the README's CI check."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

pytestmark = pytest.mark.slow
RESTOCK = str(Path(sys.executable).parent / "restock")


def demo_env() -> dict[str, str]:
    """The caller's environment without RESTOCK_* settings, so the demo runs on its defaults alone."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTOCK_")}
    return {**env, "COLUMNS": "200"}


def left_behind(folder: Path) -> list[str]:
    """Processes still running inside folder (the firmware runs in its flash folder): the demo's orphans."""
    found = []
    for proc in psutil.process_iter(["pid", "cwd", "cmdline", "status"]):
        cwd = proc.info["cwd"] or ""
        if cwd.startswith(str(folder)) and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(f"{proc.info['pid']} {proc.info['cmdline']}")
    return found


def test_readme_demo_with_default_arguments_from_a_fresh_directory(tmp_path: Path) -> None:
    scratch = tmp_path / "fresh"
    scratch.mkdir()
    log = tmp_path / "demo.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [RESTOCK, "demo"], cwd=scratch, stdout=out, stderr=subprocess.STDOUT, env=demo_env(),
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while "restock demo is running" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        text = log.read_text()
        assert "Traceback" not in text, text
        found = re.search(r"Dashboard: (http://127\.0\.0\.1:\d+)/", text)
        assert found is not None and "demo@restock.local" in text, text
        base = found.group(1)
        assert (scratch / "data" / "demo" / "restock.db").exists()  # the relative default, under the cwd

        token = httpx.post(
            f"{base}/api/v1/auth/token", data={"username": "demo@restock.local", "password": "restock-demo"}
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        orders = httpx.get(f"{base}/api/v1/orders", headers=auth).json()
        assert sorted((o["device_id"], o["source"], o["status"]) for o in orders) == [
            ("coffee-button", "press", "pending"),
            ("washer-sensor", "replenish", "pending"),  # the detergent's automatic reorder, on first sign-in
        ]
        # The detergent slot has weeks behind it: a rate and a run-out date, not "learning".
        [slot] = httpx.get(f"{base}/api/v1/slots", headers=auth).json()
        assert (slot["name"], slot["product"], slot["mode"], slot["pack_size"]) == (
            "detergent", "Laundry detergent 2 l (40 loads)", "auto", 2000.0
        )
        forecast = slot["forecast"]
        assert forecast["status"] == "ok" and forecast["rate_per_day"] > 0, forecast
        assert forecast["run_out_at"] is not None, forecast
        assert "detergent sensor:" in text and "→ reordered" in text, text

        # The banner's one-line press, from another terminal in the same folder: the hub answers the button
        # (the first press's order is still open, so order protection says duplicate).
        assert re.search(r"Press the coffee button: restock sim press coffee-button\s*│", text), text
        pressed = subprocess.run(
            [RESTOCK, "sim", "press", "coffee-button"], cwd=scratch, env=demo_env(), capture_output=True,
            text=True, timeout=60, check=False,
        )
        assert (pressed.returncode, pressed.stdout.strip()) == (0, "coffee-button: feedback duplicate"), pressed
        cart = httpx.get(f"{base}/api/v1/cart", headers=auth).json()
        assert [line["name"] for line in cart["lines"]] == ["Dish soap 500 ml"]
        assert httpx.get(f"{base}/docs").status_code == 200

        children = psutil.Process(proc.pid).children(recursive=True)
        # The Unix port runs inside a Python launcher: `python …/micropython main.py`.
        assert [any(Path(arg).name == "micropython" for arg in c.cmdline()[:2]) for c in children] == [True] * 3
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert proc.wait(30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "restock demo stopped" in log.read_text()
    assert not [c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert left_behind(scratch) == []
    with pytest.raises(ProcessLookupError):  # nothing at all left in the demo's process group
        os.killpg(proc.pid, 0)


def test_demo_smoke_plays_the_morning_checks_the_order_and_exits(tmp_path: Path) -> None:
    result = subprocess.run(
        [RESTOCK, "demo", "--smoke"], cwd=tmp_path, env=demo_env(), capture_output=True, text=True, timeout=120,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "coffee button pressed → ordered" in out
    assert re.search(r"smoke check passed: .*order o-\w+ is pending, detergent reorder o-\w+ is pending", out), out
    assert "Traceback" not in out
    assert left_behind(tmp_path) == []


def test_demo_says_when_the_mqtt_default_port_was_taken(tmp_path: Path) -> None:
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 1883))
        holder.listen()
    except OSError:
        pass  # something else holds 1883 already: the demo must say so all the same
    try:
        result = subprocess.run(
            [RESTOCK, "demo", "--smoke", "--http-port", "0"], cwd=tmp_path, env=demo_env(), capture_output=True,
            text=True, timeout=120, check=False,
        )
    finally:
        holder.close()
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert re.search(r"port 1883 is in use: the embedded broker is on \d+ \(--mqtt-port picks one\)", out), out
