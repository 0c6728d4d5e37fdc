"""`restock cluster up` as an operator runs it: comes up, writes cluster.json, outlives a killed node, stops."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import wait_for
from tests.hub.cluster import CLUSTER_MARKS, fresh_postgres, restock

pytestmark = CLUSTER_MARKS

ROOT = Path(__file__).resolve().parents[3]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def database() -> str:
    return fresh_postgres()


def test_cluster_up_survives_a_killed_node_and_stops_on_ctrl_c(database: str, tmp_path: Path) -> None:
    root = tmp_path / "cluster"
    up = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "restock",
            "cluster",
            "up",
            "--nats",
            "3",
            "--hubs",
            "1",
            "--database",
            database,
            "--dir",
            str(root),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        state_file = root / "cluster.json"

        def ready() -> dict[str, Any] | None:
            if up.poll() is not None:
                raise AssertionError(f"cluster up exited: {up.stdout.read() if up.stdout else ''}")
            if not state_file.exists():
                return None
            state: dict[str, Any] = json.loads(state_file.read_text())
            hubs = [p for p in state["processes"] if p["kind"] == "hub"]
            try:
                return state if hubs and httpx.get(hubs[0]["url"] + "healthz", timeout=1).status_code == 200 else None
            except httpx.HTTPError:
                return None

        state = wait_for(ready, "the cluster and its hub", 120)
        names = [p["name"] for p in state["processes"]]
        assert names == ["n1", "n2", "n3", "hub1"]
        pids = {p["name"]: p["pid"] for p in state["processes"]}
        assert all(alive(pid) for pid in pids.values())

        os.kill(pids["n2"], signal.SIGKILL)
        time.sleep(3)
        assert up.poll() is None, "the supervisor stopped with a node"
        assert all(alive(pids[n]) for n in ("n1", "n3", "hub1"))
        status = restock("cluster", "status", "--dir", str(root))
        assert status.exit_code == 0, status.output
        assert "down" in status.output and "meta" in status.output

        restarted = restock("cluster", "restart", "n2", "--dir", str(root))
        assert restarted.exit_code == 0, restarted.output
        new_n2 = next(p for p in json.loads(state_file.read_text())["processes"] if p["name"] == "n2")["pid"]
        assert new_n2 != pids["n2"] and alive(new_n2)

        up.send_signal(signal.SIGINT)
        assert up.wait(60) == 0
        output = up.stdout.read() if up.stdout else ""
        assert "n2 (pid" in output and "is down" in output
        assert "cluster stopped" in output
        for pid in [*pids.values(), new_n2]:
            wait_for(partial(lambda p: not alive(p), pid), f"process {pid} to end", 10)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait(10)
