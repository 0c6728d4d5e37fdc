"""Extra ingest processes (`RESTOCK_INGEST_WORKERS`), started and watched over by the hub.

One Python process applies events on one core at most: the interpreter lock makes its MQTT loop, its batch
thread and its notifier take turns. With N workers, the hub process and N - 1 child processes each take a
share of the event stream through the broker's shared subscription (`$share/restock/...`, DESIGN §6); the
hub process keeps everything that must run once (API, dashboard, scheduler, notifier).

A child runs ingest only. What the hub process learns from its own ingest in-process, it learns from a child
over a pipe: the live events of each committed batch (dashboard, notifier hints) and unknown barcodes (name
lookups). A child stops when the hub closes its end of a second pipe, which also happens when the hub dies,
so no child outlives it; a child that dies is started again.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from hub import metrics
from hub.ingest import affinity, heap, jetstream
from hub.ingest.jetstream import JetStreamIngest
from hub.ingest.mqtt import GIL_SWITCH_S, BrokerTarget, Ingest
from hub.ingest.processor import Processor
from hub.logs import configure
from hub.notify import live
from hub.settings import Settings
from hub.store.db import make_engine

log = logging.getLogger(__name__)
# A child that died is started again after this long, doubling up to the maximum while it keeps dying.
RESTART_S = 1.0
RESTART_MAX_S = 60.0
# On stop, how long a child may take to finish the batch it is applying before it is killed.
STOP_TIMEOUT_S = 15.0
# What a child tells the hub: (LIVE, events), (UNKNOWN, gtin), (CONNECTED, bool).
LIVE = "live"
UNKNOWN = "unknown"
CONNECTED = "connected"
REPORT_S = 0.2  # how often a child checks whether its broker connection changed


class _ForwardingBus(live.LiveBus):
    """The change feed's bus in a child: each batch's live events go to the hub process in one message."""

    def __init__(self, send: Callable[[tuple[str, Any]], None]) -> None:
        super().__init__()
        self._send = send

    @property
    def listening(self) -> bool:
        """The hub's notifier always listens."""
        return True

    def publish(self, household_id: int, kind: str, data: dict[str, Any]) -> None:
        """Forward one change."""
        self.publish_many([(household_id, kind, data)])

    def publish_many(self, events: list[tuple[int, str, dict[str, Any]]]) -> None:
        """Forward a batch's changes."""
        if events:
            self._send((LIVE, events))


def _child_main(
    settings: dict[str, Any], index: int, events: Connection, life: Connection, metrics_dir: str | None = None,
    cpu: int | None = None,
) -> None:
    """A child's whole life: ingest on a shared subscription until `life` is closed; on `cpu` when given."""
    if metrics_dir is not None:
        metrics.join(Path(metrics_dir))  # before any metric is used: its counts add up with the hub's
    config = Settings(**settings)
    configure(config.log.level, config.log.as_json)
    sys.setswitchinterval(GIL_SWITCH_S)  # the same trade as in the hub process
    if cpu is not None:
        affinity.pin(cpu)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the hub, which stops its children in order
    lock = threading.Lock()

    def send(message: tuple[str, Any]) -> None:
        with lock:  # the batch thread and the connection reporter may send at once
            try:
                events.send(message)
            except OSError:
                pass  # the hub is gone: `life` ends this process too

    engine = make_engine(config.resolved_database_url())
    live.watch(engine, _ForwardingBus(send))
    lookups = config.openfoodfacts.enabled
    processor = Processor(engine, on_unknown=(lambda gtin: send((UNKNOWN, gtin))) if lookups else None)
    assert config.mqtt.url is not None
    client_id = f"{config.mqtt.client_id}-{index}"
    ingest: Ingest | JetStreamIngest
    if config.nats.broker == "nats":
        ingest = jetstream.from_settings(config, processor, client_id)  # one more member of the same consumer
    else:
        ingest = Ingest(BrokerTarget.from_url(config.mqtt.url), processor, shared=True, client_id=client_id)

    async def run() -> None:
        task = asyncio.create_task(ingest.run())
        loop = asyncio.get_running_loop()

        def wait_for_close() -> None:
            try:
                life.recv()
            except (EOFError, OSError):
                pass
            loop.call_soon_threadsafe(task.cancel)

        async def report_connection() -> None:
            was = None
            while True:
                now = ingest.connected.is_set()
                if now != was:
                    send((CONNECTED, now))
                    was = now
                await asyncio.sleep(REPORT_S)

        threading.Thread(target=wait_for_close, name="life", daemon=True).start()
        reporter = asyncio.create_task(report_connection())
        heap.settle()  # as in the hub process (hub/app.py)
        try:
            await task
        except asyncio.CancelledError:
            pass
        reporter.cancel()

    asyncio.run(run())
    engine.dispose()
    log.info("ingest worker stopped", extra={"worker": index})


@dataclass
class _Child:
    index: int
    process: BaseProcess
    life: Connection  # the hub's end: closing it stops the child
    reader: threading.Thread = field(init=False)
    connected: bool = False  # its ingest is subscribed


class IngestWorkers:
    """Starts `count` child ingest processes, forwards what they report, restarts those that die."""

    def __init__(
        self,
        settings: Settings,
        count: int,
        bus: live.LiveBus,
        on_unknown: Callable[[str], None] | None,
        metrics_dir: Path | None = None,
    ) -> None:
        self.settings = settings
        self.metrics_dir = metrics_dir  # the hub's multi-process metrics folder, which the children write to
        self.count = count
        self.bus = bus
        self.on_unknown = on_unknown
        self._context = multiprocessing.get_context("spawn")  # never fork a process that runs threads
        self._children: dict[int, _Child] = {}
        self._restart_in: dict[int, float] = {}
        self._lock = threading.Lock()  # `_children` changes from reader threads (restarts) and from `stop`
        self._stopping = threading.Event()

    def start(self) -> None:
        """Start every child."""
        for index in range(1, self.count + 1):
            self._spawn(index)

    def connected(self) -> int:
        """Children running now with their ingest subscribed."""
        with self._lock:
            children = list(self._children.values())
        return sum(1 for child in children if child.connected and child.process.is_alive())

    def pids(self) -> list[int]:
        """Process ids of the children running now."""
        with self._lock:
            children = list(self._children.values())
        return [child.process.pid for child in children if child.process.pid is not None and child.process.is_alive()]

    def _spawn(self, index: int) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            self._children[index] = self._start_child(index)

    def _start_child(self, index: int) -> _Child:
        events_in, events_out = self._context.Pipe(duplex=False)
        life_in, life_out = self._context.Pipe(duplex=False)
        settings = self.settings.model_dump(mode="json")
        process = self._context.Process(
            target=_child_main,
            args=(settings, index, events_out, life_in, str(self.metrics_dir) if self.metrics_dir else None,
                  affinity.worker_cpu(self.settings.ingest.cpu, index)),
            name=f"restock-ingest-{index}",
            daemon=True,
        )
        process.start()
        events_out.close()  # the child's ends: once it dies, reading gives EOF
        life_in.close()
        child = _Child(index, process, life_out)
        child.reader = threading.Thread(target=self._read, args=(child, events_in), name=f"ingest-{index}-reader",
                                        daemon=True)
        child.reader.start()
        log.info("ingest worker started", extra={"worker": index, "pid": process.pid})
        return child

    def _read(self, child: _Child, events: Connection) -> None:
        started = time.monotonic()
        while True:
            try:
                kind, body = events.recv()
            except (EOFError, OSError):
                break
            if kind == LIVE:
                self.bus.publish_many(body)
            elif kind == UNKNOWN and self.on_unknown is not None:
                self.on_unknown(body)
            elif kind == CONNECTED:
                child.connected = bool(body)
        events.close()
        child.process.join(STOP_TIMEOUT_S)
        if child.process.pid is not None and not child.process.is_alive():
            metrics.process_exited(child.process.pid)
        if self._stopping.is_set():
            return
        # Doubling while it keeps dying soon after its start; from the start again after a good run.
        lived = time.monotonic() - started
        delay = RESTART_S if lived > RESTART_MAX_S else self._restart_in.get(child.index, RESTART_S)
        self._restart_in[child.index] = min(RESTART_MAX_S, delay * 2)
        log.error("ingest worker died; starting it again",
                  extra={"worker": child.index, "exit": child.process.exitcode, "retry_in_s": delay})
        if not self._stopping.wait(delay):
            self._spawn(child.index)

    def stop(self) -> None:
        """Stop every child: each finishes the batch it is applying (killed if it takes too long)."""
        with self._lock:
            self._stopping.set()
            children = list(self._children.values())
        for child in children:
            child.life.close()
        for child in children:
            child.process.join(STOP_TIMEOUT_S)
            if child.process.is_alive():
                log.warning("ingest worker did not stop; killing it", extra={"worker": child.index})
                child.process.kill()
                child.process.join(5)
            child.reader.join(5)
        self._children.clear()
