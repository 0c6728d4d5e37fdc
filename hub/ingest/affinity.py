"""Keep a hub process's threads on one CPU (`RESTOCK_INGEST_CPU`).

A Python process runs Python on one core at a time whatever it has: its threads (the MQTT loop, the batch
thread, the notifier, the API) take turns holding the interpreter lock. On a machine with a free second core
the kernel runs them on both, and every hand-over of the lock then wakes a thread on the other core, whose
caches are cold for what the last one touched. Kept on one CPU, the same hub spent about 15 % less CPU per event
and took in about 12 % more events per second (docs/performance.md).

It is not the default (`off`): a pinned process cannot move away when another one (the broker, the database,
whatever else the machine runs) is woken on its CPU. Under twice its capacity, with the load generator and
mosquitto on the same two cores, the pinned hub got 90 % of its CPU instead of 97 %, and replays went from 2-4 %
to 7-18 % of the events. Pin where the hub has a core to itself.

A number pins the hub process to that CPU and its ingest workers each to the next; `auto` picks one of the
CPUs the process may use by its process id (hubs started side by side spread). Threads started later inherit
the CPU from the thread that starts them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

AUTO, OFF = "auto", "off"
TASKS = Path("/proc/self/task")


def allowed() -> list[int]:
    """The CPUs this process may run on, in order (empty where the system does not say)."""
    if not hasattr(os, "sched_getaffinity"):
        return []
    return sorted(os.sched_getaffinity(0))


def resolve(setting: str, cpus: list[int] | None = None) -> int | None:
    """The CPU the hub process goes on for a `RESTOCK_INGEST_CPU` value, or None to leave it alone.

    `auto` spreads hubs started side by side (a cluster's nodes on one machine) by their process ids.
    """
    cpus = allowed() if cpus is None else cpus
    if setting == OFF or len(cpus) < 2:
        return None
    if setting == AUTO:
        return cpus[os.getpid() % len(cpus)]
    return int(setting)


def for_worker(hub_cpu: int, index: int, cpus: list[int] | None = None) -> int:
    """The CPU of ingest worker `index` (1, 2, …) when the hub process is on `hub_cpu`: the ones after it."""
    cpus = (_before_pin or allowed()) if cpus is None else cpus
    start = cpus.index(hub_cpu) if hub_cpu in cpus else 0
    return cpus[(start + index) % len(cpus)]


def worker_cpu(setting: str, index: int) -> int | None:
    """Where the hub places ingest worker `index`, given its own resolved setting (None: not pinned)."""
    if setting in (AUTO, OFF):
        return None
    return for_worker(int(setting), index)


# The CPUs this process could use before it pinned itself: a pinned process's own set is its one CPU, and what it
# starts inherits that, so its workers are placed from this.
_before_pin: list[int] = []


def pin(cpu: int) -> bool:
    """Put every thread of this process on `cpu`; False (logged) when the system refuses."""
    if not hasattr(os, "sched_setaffinity"):
        return False
    if not _before_pin:
        _before_pin.extend(allowed())
    try:
        # Every thread: the affinity call takes a thread id, and 0 means only the calling one.
        threads = [int(name) for name in os.listdir(TASKS)] if TASKS.is_dir() else [0]
        for thread in threads:
            try:
                os.sched_setaffinity(thread, {cpu})
            except ProcessLookupError:
                continue  # ended meanwhile
    except OSError as exc:
        log.warning("could not keep the hub on CPU %s (%s); set RESTOCK_INGEST_CPU=off to stop trying", cpu, exc)
        return False
    log.info("hub process kept on CPU %s", cpu, extra={"cpu": cpu})
    return True
