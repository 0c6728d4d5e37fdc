"""The processes of a loopback cluster (`restock cluster up`): NATS nodes, hub nodes, and cluster.json.

cluster.json lists every process with its pid, ports, log and how to start it again, so `restock cluster
status` and `restock cluster restart` work from another shell, and the supervising `up` process adopts a
node restarted that way (it re-reads the file while it watches).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from hub.broker.mosquitto_auth import write_atomically
from hub.broker.nats_control import monitor_json, nats_server_binary

CLUSTER_FILE = "cluster.json"
HUB_START_TIMEOUT = 90.0


def cluster_file(root: Path) -> Path:
    """Where `up` writes the process table."""
    return root / CLUSTER_FILE


def write_state(root: Path, state: Mapping[str, Any]) -> None:
    """Replace cluster.json atomically (0600: hub start-up variables carry the hub's broker password)."""
    write_atomically(cluster_file(root), json.dumps(state, indent=2) + "\n", 0o600)


def read_state(root: Path) -> dict[str, Any]:
    """cluster.json as written by `up`; FileNotFoundError if no cluster was brought up in root."""
    data: dict[str, Any] = json.loads(cluster_file(root).read_text())
    return data


def entry(state: Mapping[str, Any], name: str) -> dict[str, Any]:
    """One process of the table by name; KeyError naming the known ones."""
    for item in state["processes"]:
        if item["name"] == name:
            return dict(item)
    known = ", ".join(p["name"] for p in state["processes"])
    raise KeyError(f"no process {name!r} in the cluster (known: {known})")


def replace_entry(root: Path, item: Mapping[str, Any]) -> None:
    """Write back one process's entry (a new pid after a restart)."""
    state = read_state(root)
    state["processes"] = [dict(item) if p["name"] == item["name"] else p for p in state["processes"]]
    write_state(root, state)


def is_running(item: Mapping[str, Any]) -> bool:
    """True if the entry's pid runs the program it names (a pid the kernel gave to another program is not)."""
    pid = int(item.get("pid") or 0)
    if pid <= 0:
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":  # exited, not yet reaped by its parent
        return False
    marker = item["conf"] if item["kind"] == "nats" else item["data_dir"]
    return any(marker.encode() in arg for arg in argv) or _environ_has(pid, marker)


def _environ_has(pid: int, marker: str) -> bool:
    # A hub process is told its data folder in the environment, not on its command line.
    try:
        return f"RESTOCK_DATA_DIR={marker}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def spawn(item: Mapping[str, Any]) -> subprocess.Popen[bytes]:
    """Start a table entry's process in its own session (Ctrl-C in the terminal goes to `up` alone)."""
    log = open(item["log"], "ab")  # noqa: SIM115 - owned by the child for its lifetime
    try:
        if item["kind"] == "nats":
            argv, env = [nats_server_binary(), "-c", item["conf"]], None
        else:
            argv, env = (
                [sys.executable, "-m", "restock", "hub", "--port", str(item["ports"]["http"])],
                {
                    **os.environ,
                    **item["env"],
                },
            )
        return subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )
    finally:
        log.close()


def wait_ready(item: Mapping[str, Any], proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """Wait until the process answers its health check: NATS /healthz, the hub's /healthz."""
    if item["kind"] == "nats":
        host, port = item["host"], item["ports"]["monitor"]
    else:
        host, port = "127.0.0.1", item["ports"]["http"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{item['name']} exited at start (exit {proc.returncode}); see {item['log']}")
        try:
            monitor_json(host, port, "/healthz", timeout=1.0)
            return
        except (httpx.HTTPError, ValueError):
            time.sleep(0.2)
    raise TimeoutError(f"{item['name']} did not become healthy within {timeout:g} s; see {item['log']}")


def terminate(item: Mapping[str, Any], proc: subprocess.Popen[bytes] | None, timeout: float = 15.0) -> None:
    """SIGTERM the entry's process if it is still ours, then SIGKILL after timeout."""
    if proc is not None and proc.pid == item.get("pid"):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        return
    if not is_running(item):
        return
    pid = int(item["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while is_running(item) and time.monotonic() < deadline:
        time.sleep(0.1)
    if is_running(item):
        os.kill(pid, signal.SIGKILL)


def restart(root: Path, name: str, timeout: float = HUB_START_TIMEOUT) -> dict[str, Any]:
    """Start one process of a running cluster again (stopping it first if it still runs); its new entry."""
    item = entry(read_state(root), name)
    terminate(item, None)
    proc = spawn(item)
    item["pid"] = proc.pid
    wait_ready(item, proc, timeout)
    replace_entry(root, item)
    return item


def jetstream_leaders(state: Mapping[str, Any]) -> dict[str, str]:
    """'meta' and each stream name -> leading node, from the first live NATS node that answers."""
    for item in state["processes"]:
        if item["kind"] != "nats" or not is_running(item):
            continue
        try:
            jsz = monitor_json(item["host"], item["ports"]["monitor"], "/jsz?accounts=true&streams=true")
        except (httpx.HTTPError, ValueError):
            continue
        leaders = {"meta": str((jsz.get("meta_cluster") or {}).get("leader") or "none")}
        for account in jsz.get("account_details") or []:
            for detail in account.get("stream_detail") or []:
                leaders[str(detail.get("name"))] = str((detail.get("cluster") or {}).get("leader") or "none")
        return leaders
    return {}
