"""The one-node-per-machine form: `restock cluster config` per node, then `restock cluster node` (nats-server and
its auth sync) per node; on loopback with distinct folders and ports, as three machines would run it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from sqlmodel import Session

from hub.broker.mosquitto import free_port
from hub.broker.probe import login_result
from hub.services import devices as device_service
from hub.store import repos
from hub.store.db import make_engine, migrate
from tests.conftest import wait_for
from tests.hub.cluster import CLUSTER_MARKS, fresh_postgres, restock

pytestmark = CLUSTER_MARKS

ROOT = Path(__file__).resolve().parents[3]


def meta_leader(monitor_port: int) -> str | None:
    try:
        return httpx.get(f"http://127.0.0.1:{monitor_port}/jsz", timeout=1).json()["meta_cluster"].get("leader")
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def test_three_machines_form_a_cluster_and_each_node_syncs_its_own_logins(tmp_path: Path) -> None:
    database = fresh_postgres()
    migrate(database)
    env = {"RESTOCK_DATABASE_URL": database}
    (tmp_path / "route.secret").write_text("route-password-shared-by-the-nodes\n")
    (tmp_path / "hub.secret").write_text("hub-password-shared-by-the-nodes\n")
    ports = {n: {k: free_port() for k in ("client", "mqtt", "cluster", "monitor")} for n in ("n1", "n2", "n3")}
    for name, own in ports.items():
        routes = [a for other, p in ports.items() if other != name for a in ("--route", f"127.0.0.1:{p['cluster']}")]
        written = restock(
            "cluster",
            "config",
            "--name",
            name,
            "--dir",
            str(tmp_path / name),
            "--host",
            "127.0.0.1",
            "--cluster-host",
            "127.0.0.1",
            "--client-port",
            str(own["client"]),
            "--mqtt-port",
            str(own["mqtt"]),
            "--cluster-port",
            str(own["cluster"]),
            "--monitor-port",
            str(own["monitor"]),
            *routes,
            "--route-password-file",
            str(tmp_path / "route.secret"),
            "--hub-password-file",
            str(tmp_path / "hub.secret"),
        )
        assert written.exit_code == 0, written.output
    nodes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "restock",
                "cluster",
                "node",
                "--dir",
                str(tmp_path / name),
                "--hub-password-file",
                str(tmp_path / "hub.secret"),
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name in ports
    ]
    try:
        wait_for(lambda: all(meta_leader(p["monitor"]) for p in ports.values()), "a JetStream meta leader", 90)
        assert login_result("127.0.0.1", ports["n1"]["mqtt"], "_hub", "hub-password-shared-by-the-nodes") == 0

        engine = make_engine(database)
        with Session(engine) as session:
            secret = device_service.add_device(session, "dash_button", "", None, "dash-node").secret
        mqtt_ports = [p["mqtt"] for p in ports.values()]
        wait_for(
            lambda: all(login_result("127.0.0.1", p, "dash-node", secret) == 0 for p in mqtt_ports),
            "the new device admitted by every node",
            10,
        )
        with Session(engine) as session:
            device = repos.device(session, "dash-node")
            assert device is not None
            device_service.revoke(session, device)
        engine.dispose()
        wait_for(
            lambda: all(login_result("127.0.0.1", p, "dash-node", secret) == 5 for p in mqtt_ports),
            "the revoked device refused by every node",
            10,
        )
    finally:
        for proc in nodes:
            proc.send_signal(signal.SIGINT)
        for proc in nodes:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    for name in ports:
        pid = int((tmp_path / name / "nats.pid").read_text())
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
