"""Prometheus metrics: every metric object of the hub in one place, and the multi-process set-up.

The hub runs ingest in several processes (`RESTOCK_INGEST_WORKERS`), so every counter and histogram lives in
prometheus-client's multi-process mode: each process writes its values to memory-mapped files in one folder,
and a scrape (`/metrics`, hub/app.py) adds them up across processes, dead ones included (a counter of a
worker that was restarted keeps what it counted). prometheus-client picks file-backed values from the
`PROMETHEUS_MULTIPROC_DIR` variable when a value is created, so the hub process sets it in `setup` before
any metric is used, and an ingest worker child gets it through `join`, first thing in its life.

The metric objects are built by `setup`/`join` (and in memory by `current` when neither ran, as in unit tests
that drive a processor directly), never at import: a value created before the folder is known would be kept
in memory and never reach a scrape. Hot code fetches them with `current()` once per batch.

Labels are only ever type, outcome, reason, channel kind or sender name, never a device or household: the
number of series stays fixed however large the fleet. What the database already knows (orders by status,
timers due, connected devices, the notifier's backlog) is read at scrape time by `DatabaseCollector` rather
than kept in memory.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine
from sqlmodel import Session

from hub.domain.lifecycle import OrderStatus
from hub.store import metrics_queries

log = logging.getLogger(__name__)
ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds: from a millisecond (a small batch on SQLite) to a minute (a database that hangs).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Messages per batch: one to the applier's MAX_BATCH (512).
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


@dataclass(frozen=True)
class Metrics:
    """The hub's counters and histograms (gauges come from `DatabaseCollector` at scrape time)."""

    events: Counter
    dead_letters: Counter
    shed: Counter
    batch_messages: Histogram
    apply_seconds: Histogram
    fallbacks: Counter
    feedback_seconds: Histogram
    feedback: Counter
    notifications: Counter
    jobs: Counter
    timers_fired: Counter

    @classmethod
    def build(cls) -> Metrics:
        """New metric objects, outside any registry (a scrape reads the multi-process files instead)."""
        return cls(
            events=Counter(
                "restock_ingest_events", "Device messages applied, by event type and outcome (the feedback code, "
                "replay, or dead_letter)", ["type", "outcome"], registry=None,
            ),
            dead_letters=Counter(
                "restock_ingest_dead_letters", "Messages refused and kept in the dead-letter table, by reason",
                ["reason"], registry=None,
            ),
            shed=Counter(
                "restock_ingest_shed", "Messages dropped unanswered before a batch, which their devices replay, by "
                "reason (device_queue_full: over a device's share of ingest; stopped: queued when ingest stopped)",
                ["reason"], registry=None,
            ),
            batch_messages=Histogram(
                "restock_ingest_batch_messages", "Messages per committed ingest batch", registry=None,
                buckets=BATCH_BUCKETS,
            ),
            apply_seconds=Histogram(
                "restock_ingest_apply_seconds", "Time to apply and commit one ingest batch", registry=None,
                buckets=LATENCY_BUCKETS,
            ),
            fallbacks=Counter(
                "restock_ingest_fallbacks", "Batches applied again message by message after the batch failed",
                registry=None,
            ),
            feedback_seconds=Histogram(
                "restock_feedback_latency_seconds", "From the arrival of a batch's oldest message to its feedback "
                "handed to the broker (the longest wait in each batch)", registry=None, buckets=LATENCY_BUCKETS,
            ),
            feedback=Counter(
                "restock_feedback", "Feedback messages to devices, published or not (disconnected)", ["outcome"],
                registry=None,
            ),
            notifications=Counter(
                "restock_notifications", "Notification deliveries tried, by channel kind and outcome (sent, failed)",
                ["kind", "outcome"], registry=None,
            ),
            jobs=Counter(
                "restock_jobs", "Durable jobs run, by sender (merchant, notification) and outcome (done, retry, "
                "failed, error)", ["sender", "outcome"], registry=None,
            ),
            timers_fired=Counter(
                "restock_timers_fired", "Orders moved on by a due durable timer", registry=None,
            ),
        )


_lock = threading.Lock()
_current: Metrics | None = None
_dir: Path | None = None  # this process's multi-process folder, once set up


def current() -> Metrics:
    """This process's metrics; in memory (never scraped) when the process set up no folder."""
    global _current
    metrics = _current
    if metrics is None:
        with _lock:
            if _current is None:
                _current = Metrics.build()
            metrics = _current
    return metrics


def _use(folder: Path) -> None:
    """File-backed values in `folder` from now on, and fresh metric objects that use them."""
    global _current, _dir
    os.environ[ENV] = str(folder)  # read by prometheus-client each time a value is created
    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    _dir = folder
    _current = Metrics.build()


def setup(folder: Path) -> Path:
    """The hub process: empty `folder`, put the metrics in it; returns the folder scrapes and workers use.

    One folder per process: a second hub started in the same process (as tests do) shares the first one's,
    so the values already written stay where a scrape finds them.
    """
    with _lock:
        if _dir is not None:
            return _dir
        folder = folder.resolve()
        folder.mkdir(parents=True, exist_ok=True)
        # What a previous run left would be added to this run's counters. Only the metric files go: the folder
        # is the operator's choice (RESTOCK_METRICS_DIR) and may hold other things.
        for stale in folder.glob("*.db"):
            stale.unlink()
        _use(folder)
        return folder


def join(folder: Path) -> None:
    """An ingest worker child: write its values into the hub's folder (never emptied by a child)."""
    with _lock:
        _use(folder)


def process_exited(pid: int) -> None:
    """Bookkeeping for a worker child that exited: its live gauges go; its counters stay in the sum."""
    if _dir is not None:
        mark_process_dead(pid, str(_dir))  # type: ignore[no-untyped-call]


class DatabaseCollector(Collector):
    """Gauges read from the database at scrape time: a handful of COUNT queries, nothing kept in memory."""

    def __init__(self, read: Callable[[], DatabaseGauges]) -> None:
        self.read = read

    def collect(self) -> Iterable[Metric]:
        """One gauge family per figure; nothing at all when the database does not answer."""
        try:
            gauges = self.read()
        except Exception:  # a scrape must not fail for the database: the missing series say it
            log.exception("metrics: database gauges not read")
            return []
        orders = GaugeMetricFamily("restock_orders", "Orders by status", labels=["status"])
        # Every status of the lifecycle, at zero too: a graph shows a status's line before its first order.
        counts = {str(status): 0 for status in OrderStatus} | gauges.orders_by_status
        for status, count in sorted(counts.items()):
            orders.add_metric([status], count)
        return [
            orders,
            GaugeMetricFamily("restock_timers_due", "Durable timers due now and not yet fired",
                              value=gauges.timers_due),
            GaugeMetricFamily("restock_timers_late", "Durable timers due for longer than a scheduler poll interval",
                              value=gauges.timers_late),
            GaugeMetricFamily("restock_devices_connected", "Active devices whose last status said online",
                              value=gauges.devices_connected),
            GaugeMetricFamily("restock_notifications_backlog", "Notification deliveries due now and not yet sent",
                              value=gauges.notifications_backlog),
        ]


@dataclass(frozen=True)
class DatabaseGauges:
    """The figures `DatabaseCollector` publishes."""

    orders_by_status: dict[str, int]
    timers_due: int
    timers_late: int
    devices_connected: int
    notifications_backlog: int


def exposition(folder: Path, extra: Iterable[Collector] = ()) -> bytes:
    """The text a scrape gets: every process's values added up, and the extra collectors' gauges."""
    registry = CollectorRegistry(auto_describe=False)
    MultiProcessCollector(registry, path=str(folder))  # type: ignore[no-untyped-call]
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry)


METRIC_NAMES = (
    "restock_ingest_events_total",
    "restock_ingest_dead_letters_total",
    "restock_ingest_shed_total",
    "restock_ingest_batch_messages",
    "restock_ingest_apply_seconds",
    "restock_ingest_fallbacks_total",
    "restock_feedback_latency_seconds",
    "restock_feedback_total",
    "restock_notifications_total",
    "restock_jobs_total",
    "restock_timers_fired_total",
    "restock_orders",
    "restock_timers_due",
    "restock_timers_late",
    "restock_devices_connected",
    "restock_notifications_backlog",
)
"""Every metric a scrape can show (histograms add _bucket, _sum and _count): the docs name these."""


def database_gauges(engine: Engine, now: datetime, poll_s: float) -> DatabaseGauges:
    """Read the scrape's gauges; a timer is late once it has been due for longer than a scheduler poll."""
    with Session(engine) as session:
        orders = metrics_queries.order_figures(session, now, now - timedelta(seconds=poll_s))
        return DatabaseGauges(
            orders_by_status=orders.by_status,
            timers_due=orders.timers_due,
            timers_late=orders.timers_late,
            devices_connected=metrics_queries.devices_connected(session),
            notifications_backlog=metrics_queries.deliveries_due(session, now),
        )


LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def authorised(token: str | None, client_host: str | None, authorization: str | None) -> bool:
    """Who may scrape: with a token set, whoever sends `Authorization: Bearer <token>`; without, loopback only."""
    if token:
        scheme, _, given = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    return client_host is not None and (client_host in LOOPBACK or client_host.startswith("127."))
