"""A NATS JetStream cluster of private nats-server processes on loopback: tests, bench and `restock cluster up`.

Each node gets its own folder under root (nats.conf, auth.conf, nats.pid, nats.log, jetstream/) and its own
free ports, kept for the life of this object so a restarted node comes back where the others look for it.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from hub.broker.credentials import HUB_USERNAME
from hub.broker.mosquitto import free_port
from hub.broker.nats_auth import DeviceLogin, hub_password_hash, write_auth
from hub.broker.nats_config import MQTT_CONSUMER_MEMORY_STORAGE, NodeConfig
from hub.broker.nats_control import (
    NatsServerMissing,
    config_load_time,
    monitor_json,
    nats_server_binary,
    node_process_matches,
    reload_node,
    reload_nodes,
    signal_reload,
    spawn_node,
)
from hub.broker.nats_sync import load_device_logins


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


def _tail(config: NodeConfig) -> str:
    path = config.data_dir / "nats.log"
    return path.read_text(errors="replace")[-1500:] if path.exists() else "(no log)"


def remove_tree(root: Path) -> None:
    """Delete a stopped cluster's folders."""
    shutil.rmtree(root, ignore_errors=True)


__all__ = [
    "NatsCluster",
    "NatsNode",
    "NatsServerMissing",
    "config_load_time",
    "monitor_json",
    "nats_server_binary",
    "node_process_matches",
    "reload_node",
    "reload_nodes",
    "remove_tree",
    "signal_reload",
    "spawn_node",
]
