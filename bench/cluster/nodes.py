"""The pieces of a cluster run, shared by `python -m bench.cluster` and the cluster tests: a fleet's rows in the
database, and hub nodes as real `restock hub` processes on a NATS cluster (or on one mosquitto)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import httpx
import psutil

from bench.ingest.procs import prepare_database as seed
from hub.broker.mosquitto import free_port

# Generous: on a loaded 2-core machine a hub process may take a minute to import, migrate and connect.
START_TIMEOUT_S = 180.0


def fleet_credentials(count: int, prefix: str = "fleet") -> list[tuple[str, str | None]]:
    """`count` device ids with fresh secrets."""
    return [(f"{prefix}-{n:05d}", secrets.token_urlsafe(12)) for n in range(count)]


def prepare_database(url: str, creds: list[tuple[str, str | None]], cancel_window_s: int = 3600) -> int:
    """The bench's household and fleet (bench.ingest.procs.prepare_database), each device with its NATS login."""
    return seed(url, creds, cancel_window_s=cancel_window_s, nats_logins=True, name="cluster")


class HubNode:
    """One hub node: `restock hub` in its own process, as deployed."""

    def __init__(self, name: str, data: Path, env: dict[str, str], *, workers: int = 1) -> None:
        self.name = name
        self.data = data
        self.http_port = free_port()
        self.workers = workers
        self.env = {
            **os.environ,
            **env,
            "RESTOCK_DATA_DIR": str(data),
            "RESTOCK_HTTP_PORT": str(self.http_port),
            "RESTOCK_MQTT_CLIENT_ID": f"hub-{name}-{self.http_port}",
            "RESTOCK_LOG_LEVEL": env.get("RESTOCK_LOG_LEVEL", "WARNING"),
            "RESTOCK_DEMO_CATALOG": "false",
            "RESTOCK_HOMEASSISTANT": "false",
            "RESTOCK_INGEST_WORKERS": str(workers),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process and wait until its ingest (every worker) is connected."""
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Start the process."""
        self.data.mkdir(parents=True, exist_ok=True)
        log = open(self.data / "hub.log", "ab")  # noqa: SIM115 - handed to the child
        try:
            self.proc = subprocess.Popen([sys.executable, "-m", "restock", "hub"], env=self.env, stdout=log, stderr=log)
        finally:
            log.close()

    def wait_ready(self) -> None:
        """Wait until the node's ingest (every worker) is connected."""
        assert self.proc is not None
        url = f"http://127.0.0.1:{self.http_port}/healthz"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            with suppress(httpx.HTTPError, ValueError):
                health = httpx.get(url, timeout=1).json()
                if health.get("mqtt_connected") and health.get("ingest_workers") == self.workers:
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub node {self.name} exited: {self.log_tail()}")
            time.sleep(0.2)
        raise TimeoutError(f"hub node {self.name} did not connect in time: {self.log_tail()}")

    @property
    def pid(self) -> int:
        """The hub process's pid."""
        assert self.proc is not None
        return self.proc.pid

    def log_tail(self) -> str:
        """The end of the node's log."""
        path = self.data / "hub.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"

    def kill(self) -> None:
        """SIGKILL the node and its ingest workers: a crash, nothing finished in order."""
        if self.proc is None or self.proc.poll() is not None:
            return
        children = psutil.Process(self.proc.pid).children(recursive=True)
        self.proc.kill()
        for child in children:
            with suppress(psutil.NoSuchProcess):
                child.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()


def nats_env(nats_urls: list[str], mqtt_urls: list[str], database_url: str) -> dict[str, str]:
    """The environment of a hub node on a NATS cluster: every node's NATS URL, MQTT listeners for feedback."""
    return {
        "RESTOCK_BROKER": "nats",
        "RESTOCK_NATS_URL": ",".join(nats_urls),
        "RESTOCK_MQTT_URL": ",".join(mqtt_urls),
        "RESTOCK_DATABASE_URL": database_url,
    }
