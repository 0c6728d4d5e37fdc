"""Keeping each NATS node's logins file in step with the database: a loop that runs next to the nodes.

NATS nodes run on other machines than the hub node that commits a device add or revoke, so no hub process
can rewrite their files. Instead a sync loop beside each node LISTENs on PostgreSQL for the notification the
device services send inside the committing transaction, re-renders the file and signals the node to reload;
a slow poll covers a lost connection or a missed notification.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session

from hub.broker.nats_auth import DeviceLogin, write_auth
from hub.broker.nats_config import NodeConfig
from hub.broker.nats_control import node_process_matches, reload_nodes
from hub.store import repos
from hub.store.db import make_engine
from hub.store.listen import Listener, supports_listen

log = logging.getLogger(__name__)

# Fallback when no notification arrives (a lost LISTEN connection, SQLite): a revoke still lands this soon.
POLL_SECONDS = 10.0


def device_logins(engine: Engine) -> list[DeviceLogin]:
    """Every active device that has a NATS login hash."""
    with Session(engine) as session:
        return [DeviceLogin(device_id, secret_hash) for device_id, secret_hash in repos.broker_logins(session)]


def load_device_logins(database_url: str) -> list[DeviceLogin]:
    """device_logins() over a connection opened for this one read."""
    engine = make_engine(database_url)
    try:
        return device_logins(engine)
    finally:
        engine.dispose()


@dataclass
class LocalNode:
    """A node this sync looks after: its config (files) and how to find its running pid."""

    config: NodeConfig

    def pid(self) -> int | None:
        """The node's pid from its pid file, if that process is still this node's nats-server."""
        try:
            pid = int(self.config.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if node_process_matches(pid, self.config) else None


class AuthSync:
    """Re-renders the logins file of local nodes whenever the database's device logins change."""

    def __init__(
        self,
        database_url: str,
        nodes: Callable[[], list[LocalNode]],
        hub_hash: str,
        *,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self._url = database_url
        self._engine = make_engine(database_url)  # kept: a revoke should not wait for a new connection
        self._nodes = nodes
        self._hub_hash = hub_hash
        self._poll = poll_seconds
        self._last: list[DeviceLogin] | None = None
        self._stop = threading.Event()
        self.reloads = 0

    def sync_once(self, force: bool = False) -> bool:
        """Load the logins; if they changed (or force), rewrite every local node's file and reload it."""
        logins = device_logins(self._engine)
        if not force and logins == self._last:
            return False
        running: list[tuple[NodeConfig, int]] = []
        for node in self._nodes():
            write_auth(node.config.auth_path, self._hub_hash, logins)
            pid = node.pid()
            if pid is not None:
                running.append((node.config, pid))
        for name in reload_nodes(running):
            log.warning("nats node %s did not confirm a reload of its logins", name)
        self._last = logins
        self.reloads += 1
        log.info("nats logins synced", extra={"devices": len(logins)})
        return True

    def run(self) -> None:
        """Sync now, then on every notification and at least every poll_seconds, until stop()."""
        listener: Listener | None = None
        while not self._stop.is_set():
            if listener is None and supports_listen(self._url):
                try:
                    listener = Listener(self._url)
                except Exception as exc:  # noqa: BLE001 - database down: keep polling, retry the LISTEN
                    log.warning("auth sync cannot LISTEN (%s); polling every %g s", exc, self._poll)
            try:
                # Subscribed first, then loaded: a change committed in between is still seen.
                self.sync_once()
            except Exception as exc:  # noqa: BLE001 - a failed round is retried; the nodes keep their last file
                log.error("auth sync round failed: %s", exc)
            if listener is None:
                self._stop.wait(self._poll)
                continue
            try:
                listener.wait(self._poll)
            except Exception as exc:  # noqa: BLE001 - connection lost: reconnect on the next round
                log.warning("auth sync lost its LISTEN connection: %s", exc)
                listener.close()
                listener = None
                self._stop.wait(1.0)
        if listener is not None:
            listener.close()
        self._engine.dispose()

    def stop(self) -> None:
        """Make run() return after its current wait."""
        self._stop.set()
