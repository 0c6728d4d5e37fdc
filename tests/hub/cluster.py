"""Hub nodes as real `restock hub` processes on one PostgreSQL database and one mosquitto (shared subscriptions)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from hub.broker.mosquitto import MosquittoProcess, free_port
from restock.cli import app
from tests.hub.conftest import PG_ENV, hub_env, hub_process, reset_postgres, wait_healthy

needs_postgres = pytest.mark.skipif(
    not os.environ.get(PG_ENV), reason=f"hub nodes share state through PostgreSQL: set {PG_ENV}"
)
# The marks of a module whose cluster runs real processes on PostgreSQL.
CLUSTER_MARKS = [pytest.mark.slow, pytest.mark.postgres, needs_postgres]


def restock(*args: str) -> Result:
    """A `restock` command run in this process, as an operator's second shell would run it."""
    return CliRunner().invoke(app, list(args))


def fresh_postgres() -> str:
    """The test PostgreSQL database, emptied."""
    url = os.environ[PG_ENV]
    reset_postgres(url)
    return url


@dataclass
class Node:
    """One running hub node."""

    name: str
    url: str
    data_dir: Path
    log: Path
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def postgres_url() -> str:
    """The test database, emptied."""
    url = os.environ[PG_ENV]
    reset_postgres(url)
    return url


@contextlib.contextmanager
def hub_nodes(
    database_url: str, broker: MosquittoProcess, root: Path, count: int = 2, **settings: str
) -> Iterator[list[Node]]:
    """`count` hub nodes, started one after the other (each migrates the same database), stopped at the end."""
    nodes: list[Node] = []
    try:
        for index in range(count):
            name = "ab"[index] if count <= 2 else f"n{index}"
            port = free_port()
            data_dir = root / f"node-{name}"
            data_dir.mkdir(parents=True, exist_ok=True)
            log = root / f"node-{name}.log"
            env = hub_env(database_url, broker.port, data_dir, port, shared_subscription="1", **settings)
            node = Node(name, f"http://127.0.0.1:{port}", data_dir, log, hub_process(env, log))
            nodes.append(node)
            wait_healthy(node.url, node.proc, log, timeout=60)
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def errors_logged(nodes: list[Node]) -> list[str]:
    """Lines of the nodes' logs that report an error or a traceback."""
    found = []
    for node in nodes:
        for line in node.log.read_text(errors="replace").splitlines():
            if "Traceback" in line or line.split(" ", 2)[1:2] == ["ERROR"]:
                found.append(f"{node.name}: {line[:300]}")
    return found
