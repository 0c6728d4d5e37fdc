"""The webhook merchant: any shop with an HTTP endpoint, configured per household (MerchantAccount).

Requests (hub → shop), all ``POST <url>`` with a JSON body, signed (see hub.merchants.signing), with
``X-Restock-Merchant: <name>`` and ``Idempotency-Key``:

- ``{"type": "order", "order_id", "lines": [{"sku", "name", "qty", "unit_price"}], "total", "currency",
  "allow_substitutes"}``, key ``<order id>`` (``<order id>.r<n>`` after the n-th substitution);
- ``{"type": "return", "order_id", "reason"}``, key ``<order id>.return``;
- ``{"type": "cancel", "order_id"}``, key ``<order id>.cancel`` (only when a cancel crossed a submission).

A 2xx answer to an order (optionally ``{"ref": "<shop's order number>", "expected_delivery": "<date>"}``)
means accepted. ``expected_delivery`` is the delivery date the shop promises, ISO 8601: a date
(``2025-03-14``, read as the end of that day, UTC) or a date and time with its offset
(``2025-03-14T18:00:00+01:00``); the household sees it on the order and in its notifications. A value that
is not such a date is ignored (the order is still accepted). 5xx, 408, 429, timeouts and
connection errors are retried with exponential backoff; other 4xx answers are final. The HTTP call never
runs inside a database transaction: the scheduler leases the order (``due_at`` = now + lease) and hands a
`Job` to the `Sender`, which posts and records the outcome in a new transaction. A hub that dies mid-call
leaves the lease to expire, and the next attempt carries the same idempotency key, so the shop sees one
order. Status changes come back through ``POST /api/v1/merchants/callback`` (hub.api.merchants), signed the
same way: ``{"event_id", "order_id", "status", "tracking", "carrier", "reason", "substitute",
"expected_delivery"}``; its optional ``expected_delivery`` is read exactly like the one in the order answer
(`promised_date`) and replaces the earlier promise (a delay moves the date), a value that is not such a date
is ignored and the status change still applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from hub.merchants.signing import IDEMPOTENCY_HEADER, MERCHANT_HEADER, signed_headers
from hub.store.models import MerchantAccount, Order, OrderLine, Product

log = logging.getLogger(__name__)
JobKind = Literal["order", "return", "cancel"]


@dataclass(frozen=True)
class RetryPolicy:
    """How remote requests are timed out, retried and leased."""

    timeout_s: float = 10.0
    base_s: float = 1.0
    max_s: float = 300.0
    max_attempts: int = 8
    lease_s: float = 60.0

    def backoff(self, attempt: int) -> timedelta:
        """Delay after the given (1-based) failed attempt: base, 2·base, 4·base … capped."""
        return timedelta(seconds=min(self.max_s, self.base_s * 2 ** max(0, attempt - 1)))


@dataclass(frozen=True)
class Job:
    """One HTTP request the sender must make for an order; `attempt` matches Order.attempts when leased."""

    order_id: str
    kind: JobKind
    attempt: int


@dataclass(frozen=True)
class Outcome:
    """What a request to the shop gave."""

    ok: bool
    retryable: bool = False
    error: str | None = None
    ref: str | None = None
    expected_delivery: datetime | None = None


def promised_date(value: object) -> datetime | None:
    """A shop's `expected_delivery`: an ISO 8601 date (end of that day, UTC) or an aware date-time; else None."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    # A time without an offset could be any zone's: only an unambiguous promise is shown to the household.
    return at.astimezone(UTC) if at.tzinfo is not None else None


def idempotency_key(order: Order, kind: JobKind) -> str:
    """The key a shop deduplicates on: the order id, so a retry or a restarted hub never orders twice."""
    if kind == "order":
        return order.id if order.revision == 0 else f"{order.id}.r{order.revision}"
    return f"{order.id}.{kind}"


def request_body(
    session: Session, order: Order, lines: list[OrderLine], kind: JobKind, allow_substitutes: bool
) -> dict[str, Any]:
    """The JSON a shop receives for a job."""
    if kind == "return":
        return {"type": "return", "order_id": order.id, "reason": order.return_reason or ""}
    if kind == "cancel":
        return {"type": "cancel", "order_id": order.id}
    items = []
    for line in lines:
        product = session.get(Product, line.product_id)
        items.append(
            {"sku": product.sku if product else None, "name": line.name, "qty": line.qty, "unit_price": line.unit_price}
        )
    return {
        "type": "order",
        "order_id": order.id,
        "lines": items,
        "total": order.total,
        "currency": order.currency,
        "allow_substitutes": allow_substitutes,
    }


async def post(
    client: httpx.AsyncClient, account: MerchantAccount, body: dict[str, Any], key: str, now: datetime, timeout_s: float
) -> Outcome:
    """One signed POST to the shop, translated into an Outcome (never raises for network trouble)."""
    raw = json.dumps(body, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        MERCHANT_HEADER: account.name,
        IDEMPOTENCY_HEADER: key,
        **signed_headers(account.secret, raw, now),
    }
    try:
        response = await client.post(account.url, content=raw, headers=headers, timeout=timeout_s)
    except httpx.TimeoutException:
        return Outcome(ok=False, retryable=True, error="timeout")
    except httpx.HTTPError as exc:
        return Outcome(ok=False, retryable=True, error=f"connection: {type(exc).__name__}")
    if 200 <= response.status_code < 300:
        ref = promise = None
        with contextlib.suppress(ValueError):
            answer = response.json()
            if isinstance(answer, dict):
                if isinstance(answer.get("ref"), str):
                    ref = answer["ref"][:64]
                promise = promised_date(answer.get("expected_delivery"))
        return Outcome(ok=True, ref=ref, expected_delivery=promise)
    retryable = response.status_code >= 500 or response.status_code in (408, 429)
    return Outcome(ok=False, retryable=retryable, error=f"HTTP {response.status_code}")


@dataclass(frozen=True)
class Prepared:
    """Everything a job needs from the database, read before the HTTP call."""

    account: MerchantAccount
    body: dict[str, Any]
    key: str


class Sender:
    """Runs merchant jobs on the event loop; each job is its own task, so a slow shop delays nobody else."""

    def __init__(
        self,
        engine: Engine,
        policy: RetryPolicy,
        now: Callable[[], datetime],
        prepare: Callable[[Session, Job], Prepared | None],
        finish: Callable[[Session, Job, Outcome, datetime], None],
    ) -> None:
        self.engine = engine
        self.policy = policy
        self.now = now
        self._prepare = prepare
        self._finish = finish
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Job] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def dispatch(self, job: Job) -> None:
        """Hand a job over from any thread; dropped when not running (the lease expires and it comes back)."""
        loop, queue = self._loop, self._queue
        if loop is None or queue is None:
            return
        with contextlib.suppress(RuntimeError):  # loop closed during shutdown
            loop.call_soon_threadsafe(queue.put_nowait, job)

    async def run(self) -> None:
        """Consume jobs until cancelled."""
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

    def _prepare_tx(self, job: Job) -> Prepared | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return self._prepare(session, job)

    def _finish_tx(self, job: Job, outcome: Outcome) -> None:
        with Session(self.engine, expire_on_commit=False) as session:
            self._finish(session, job, outcome, self.now())
            session.commit()

    async def _one(self, client: httpx.AsyncClient, job: Job) -> None:
        try:
            prepared = await asyncio.to_thread(self._prepare_tx, job)
            if prepared is None:
                return  # the order moved on (cancelled, answered by a callback): nothing to send
            outcome = await post(
                client, prepared.account, prepared.body, prepared.key, self.now(), self.policy.timeout_s
            )
            log.info(
                "merchant request",
                extra={"order": job.order_id, "kind": job.kind, "attempt": job.attempt, "ok": outcome.ok,
                       "error": outcome.error},
            )
            await asyncio.to_thread(self._finish_tx, job, outcome)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The lease expires and the scheduler dispatches the job again: nothing is lost.
            log.exception("merchant job failed", extra={"order": job.order_id, "kind": job.kind})
