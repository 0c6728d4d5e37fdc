"""RESTOCK_INGEST_CPU: a hub process keeps its threads on one CPU, its ingest workers on the next ones, and a CPU
it may not use is a one-line usage error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.broker.mosquitto import MosquittoProcess, free_port
from hub.ingest import affinity
from tests.hub.conftest import healthy_hub

CPUS = affinity.allowed()
two_cpus = pytest.mark.skipif(len(CPUS) < 2, reason="needs a machine with two CPUs")


def _thread_cpus(pid: int) -> dict[int, set[int]]:
    """Each thread of process `pid` with the CPUs it may run on."""
    return {tid: os.sched_getaffinity(tid) for tid in (int(t) for t in os.listdir(f"/proc/{pid}/task"))}


def test_off_and_a_single_cpu_leave_the_process_alone() -> None:
    assert affinity.resolve("off", [0, 1]) is None
    assert affinity.resolve("auto", [3]) is None
    assert affinity.resolve("1", [0, 1]) == 1


@given(st.lists(st.integers(0, 255), min_size=2, max_size=16, unique=True).map(sorted))
def test_auto_picks_a_cpu_the_process_may_use_and_workers_spread_over_the_others(cpus: list[int]) -> None:
    hub = affinity.resolve("auto", cpus)
    assert hub in cpus
    workers = [affinity.for_worker(hub, index, cpus) for index in range(1, len(cpus))]
    assert sorted([hub, *workers]) == cpus  # one process per CPU while there are CPUs for all


@two_cpus
@pytest.mark.broker
@pytest.mark.slow
def test_the_hub_and_its_workers_each_keep_to_one_cpu(
    database_url: str, broker: MosquittoProcess, tmp_path: Path
) -> None:
    cpu = CPUS[-1]
    with healthy_hub(database_url, broker.port, tmp_path, workers=2, ingest_cpu=str(cpu)) as (proc, _):
        hub_threads = _thread_cpus(proc.pid)
        assert len(hub_threads) > 3  # the API, the ingest loop and its batch thread at least
        assert set(map(frozenset, hub_threads.values())) == {frozenset({cpu})}
        [worker] = [p for p in psutil.Process(proc.pid).children() if "spawn_main" in " ".join(p.cmdline())]
        other = affinity.for_worker(cpu, 1, CPUS)
        assert other != cpu
        assert set(map(frozenset, _thread_cpus(worker.pid).values())) == {frozenset({other})}


@two_cpus
@pytest.mark.broker
@pytest.mark.slow
def test_off_leaves_every_thread_free(database_url: str, broker: MosquittoProcess, tmp_path: Path) -> None:
    with healthy_hub(database_url, broker.port, tmp_path, ingest_cpu="off") as (proc, _):
        assert set(map(frozenset, _thread_cpus(proc.pid).values())) == {frozenset(CPUS)}


@pytest.mark.parametrize("value", ["9999", "two", "-1"])
def test_a_cpu_the_hub_may_not_use_is_a_usage_error(value: str, tmp_path: Path) -> None:
    env = {**os.environ, "RESTOCK_DATA_DIR": str(tmp_path), "RESTOCK_INGEST_CPU": value,
           "RESTOCK_HTTP_PORT": str(free_port()), "RESTOCK_EMBEDDED_MQTT_PORT": str(free_port())}
    done = subprocess.run([sys.executable, "-m", "restock", "hub"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "RESTOCK_INGEST_CPU" in line and "Traceback" not in done.stderr
