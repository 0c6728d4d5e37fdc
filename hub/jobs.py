"""Durable jobs: retries with backoff and leases, shared by merchant requests and notification deliveries.

A job is claimed in a database transaction (its attempt counter goes up and its timer moves to the end of a
lease), then run by a `Sender` outside any transaction (an HTTP call, an e-mail), and its `Outcome` recorded in
a new transaction. A hub that dies mid-call leaves the lease to expire and the job comes back; the attempt number
it carries tells a late answer from a current one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from hub import metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How a job is timed out, retried (exponential backoff, capped) and leased."""

    timeout_s: float = 10.0
    base_s: float = 1.0
    max_s: float = 300.0
    max_attempts: int = 8
    lease_s: float = 60.0

    def backoff(self, attempt: int) -> timedelta:
        """Delay after the given (1-based) failed attempt: base, 2·base, 4·base … capped."""
        return timedelta(seconds=min(self.max_s, self.base_s * 2 ** max(0, attempt - 1)))

    @property
    def lease(self) -> timedelta:
        """How long a claimed job is left alone before it is tried again."""
        return timedelta(seconds=self.lease_s)

    def lease_until(self, now: datetime) -> datetime:
        """When a job claimed now comes back if nobody records its outcome."""
        return now + self.lease

    def retry_at(self, attempt: int, now: datetime, retryable: bool = True) -> datetime | None:
        """When to try again after the given failed attempt, or None: give up (final error or last attempt)."""
        if not retryable or attempt >= self.max_attempts:
            return None
        return now + self.backoff(attempt)



@dataclass(frozen=True)
class DeliveryPolicy(RetryPolicy):
    """Timeout, backoff and give-up rule of channel deliveries: slower and more patient than a shop's."""

    timeout_s: float = 10.0
    base_s: float = 5.0
    max_s: float = 3600.0
    max_attempts: int = 12

    @property
    def lease(self) -> timedelta:
        """How long a claimed delivery is left alone (a hub that dies mid-send retries after it): three timeouts
        and a margin, whatever `lease_s` says."""
        return timedelta(seconds=self.timeout_s * 3 + 5)

@dataclass(frozen=True)
class Job:
    """One leased request for a row (`ref`, e.g. an order id); `attempt` matches the row's counter when leased."""

    ref: str
    kind: str
    attempt: int


@dataclass(frozen=True)
class Outcome:
    """What running a job gave: done, or failed (retryable or final) with the error in one line."""

    ok: bool
    retryable: bool = False
    error: str | None = None


JobT = TypeVar("JobT", contravariant=True)
JobU = TypeVar("JobU")
Prep = TypeVar("Prep")


class Handler(Protocol[JobT, Prep]):
    """What a sender does with a job of its kind: read, act outside any transaction, record."""

    def prepare(self, session: Session, job: JobT) -> Prep | None:
        """Everything the job needs from the database, or None when its row moved on since the lease."""
        ...

    async def perform(self, client: httpx.AsyncClient, prepared: Prep) -> Outcome:
        """Run the job (network, never the database); never raises for the other side's trouble."""
        ...

    def finish(self, session: Session, job: JobT, outcome: Outcome, now: datetime) -> None:
        """Record the outcome (the sender commits)."""
        ...


class Sender(Generic[JobU, Prep]):
    """Runs leased jobs on the event loop; each job is its own task, so a slow peer delays nobody else."""

    def __init__(self, engine: Engine, now: Callable[[], datetime], handler: Handler[JobU, Prep], name: str) -> None:
        self.engine = engine
        self.now = now
        self.handler = handler
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[JobU] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def dispatch(self, job: JobU) -> None:
        """Hand a job over from any thread; dropped when not running (the lease expires and it comes back)."""
        loop, queue = self._loop, self._queue
        if loop is None or queue is None:
            return
        with contextlib.suppress(RuntimeError):  # loop closed during shutdown
            loop.call_soon_threadsafe(queue.put_nowait, job)

    async def run(self) -> None:
        """Consume jobs until cancelled."""
        # Bound before the first await: a job dispatched once this task has started is never dropped.
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        try:
            async with httpx.AsyncClient() as client:
                while True:
                    job = await self._queue.get()
                    task = asyncio.create_task(self._one(client, job))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        finally:
            self._loop = None
            for task in list(self._tasks):
                task.cancel()

    def _prepare_tx(self, job: JobU) -> Prep | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return self.handler.prepare(session, job)

    def _finish_tx(self, job: JobU, outcome: Outcome) -> None:
        with Session(self.engine, expire_on_commit=False) as session:
            self.handler.finish(session, job, outcome, self.now())
            session.commit()

    async def _one(self, client: httpx.AsyncClient, job: JobU) -> None:
        try:
            prepared = await asyncio.to_thread(self._prepare_tx, job)
            if prepared is None:
                return  # the row moved on (cancelled, answered by a callback, channel gone): nothing to do
            outcome = await self.handler.perform(client, prepared)
            await asyncio.to_thread(self._finish_tx, job, outcome)
            result = "done" if outcome.ok else "retry" if outcome.retryable else "failed"
            metrics.current().jobs.labels(self.name, result).inc()
        except asyncio.CancelledError:
            raise
        except Exception:
            metrics.current().jobs.labels(self.name, "error").inc()
            # The lease expires and the job is claimed again: nothing is lost.
            log.exception("job failed", extra={"sender": self.name, "job": repr(job)})
