"""The webhook merchant: any shop with an HTTP endpoint, configured per household (MerchantAccount).

Requests (hub → shop), all ``POST <url>`` with a JSON body, signed (see hub.merchants.signing), with
``X-Restock-Merchant: <name>`` and ``Idempotency-Key``:

- ``{"type": "order", "order_id", "lines": [{"sku", "name", "qty", "unit_price"}], "total", "currency",
  "allow_substitutes"}``, key ``<order id>`` (``<order id>.r<n>`` after the n-th substitution);
- ``{"type": "return", "order_id", "reason"}``, key ``<order id>.return``;
- ``{"type": "cancel", "order_id"}``, key ``<order id>.cancel`` (only when a cancel crossed a submission).

A 2xx answer to an order (optionally ``{"ref": "<shop's order number>", "expected_delivery": "<date>"}``) means
accepted. ``expected_delivery`` is the delivery date the shop promises, ISO 8601: a date (``2025-03-14``, read as
the end of that day, UTC) or a date and time with its offset (``2025-03-14T18:00:00+01:00``); the household sees it
on the order and in its notifications. A value that is not such a date is ignored (the order is still accepted).
5xx, 408, 429, timeouts and connection errors are retried with exponential backoff; other 4xx answers are final.
The HTTP call never runs inside a database transaction: `WebhookMerchant` leases the order (``due_at`` = now +
lease) and hands a `hub.jobs.Job` to the sender (`hub.jobs.Sender`), which posts and records the outcome in a new
transaction. A hub that dies mid-call leaves the lease to expire, and the next attempt carries the same idempotency
key, so the shop sees one order. Status changes come back through ``POST /api/v1/merchants/callback``
(hub.api.merchants, applied by hub.services.callbacks), signed the same way: ``{"event_id", "order_id", "status",
"tracking", "carrier", "reason", "substitute", "expected_delivery"}``; its optional ``expected_delivery`` is read
exactly like the one in the order answer (`promised_date`) and replaces the earlier promise (a delay moves the
date), a value that is not such a date is ignored and the status change still applied.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import httpx
from sqlmodel import Session

from hub.domain.lifecycle import Request
from hub.jobs import Job, Outcome, RetryPolicy
from hub.merchants.base import Progress, Requested
from hub.merchants.signing import IDEMPOTENCY_HEADER, MERCHANT_HEADER, signed_headers
from hub.store.models import MerchantAccount, Order, OrderLine, Product


@dataclass(frozen=True)
class ShopAnswer(Outcome):
    """A shop's answer to a request: an `Outcome`, with the shop's order number and promised delivery date."""

    ref: str | None = None
    expected_delivery: datetime | None = None


class WebhookMerchant:
    """A household's webhook shop: every request is leased here and posted by the sender after the commit."""

    def __init__(self, account: MerchantAccount, policy: RetryPolicy) -> None:
        self.account = account
        self.policy = policy
        self.name = account.name

    def submit(self, session: Session, order: Order, lines: Sequence[OrderLine], now: datetime) -> Progress:
        """Lease the order request."""
        return Requested(self._lease(session, order, Request.ORDER, now))

    def cancel(self, session: Session, order: Order, now: datetime) -> Progress:
        """Lease the cancel request (the shop may have taken the order before it was cancelled)."""
        return Requested(self._lease(session, order, Request.CANCEL, now))

    def return_(self, session: Session, order: Order, now: datetime) -> Progress:
        """Lease the return request."""
        return Requested(self._lease(session, order, Request.RETURN, now))

    def advance(self, session: Session, order: Order, now: datetime) -> Progress:
        """Nothing to ask: the shop reports progress through its callbacks."""
        return None

    def _lease(self, session: Session, order: Order, kind: Request, now: datetime) -> Job:
        """Claim the order's next request for the sender; if the hub dies meanwhile the lease expires."""
        order.attempts += 1
        order.due_at = self.policy.lease_until(now)
        session.add(order)
        return Job(order.id, kind, order.attempts)


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


def idempotency_key(order: Order, kind: str) -> str:
    """The key a shop deduplicates on: the order id, so a retry or a restarted hub never orders twice."""
    if kind == Request.ORDER:
        return order.id if order.revision == 0 else f"{order.id}.r{order.revision}"
    return f"{order.id}.{kind}"


def request_body(
    session: Session, order: Order, lines: list[OrderLine], kind: str, allow_substitutes: bool
) -> dict[str, Any]:
    """The JSON a shop receives for a job."""
    if kind == Request.RETURN:
        return {"type": "return", "order_id": order.id, "reason": order.return_reason or ""}
    if kind == Request.CANCEL:
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
) -> ShopAnswer:
    """One signed POST to the shop, translated into a ShopAnswer (never raises for network trouble)."""
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
        return ShopAnswer(ok=False, retryable=True, error="timeout")
    except httpx.HTTPError as exc:
        return ShopAnswer(ok=False, retryable=True, error=f"connection: {type(exc).__name__}")
    if 200 <= response.status_code < 300:
        ref = promise = None
        with contextlib.suppress(ValueError):
            answer = response.json()
            if isinstance(answer, dict):
                if isinstance(answer.get("ref"), str):
                    ref = answer["ref"][:64]
                promise = promised_date(answer.get("expected_delivery"))
        return ShopAnswer(ok=True, ref=ref, expected_delivery=promise)
    retryable = response.status_code >= 500 or response.status_code in (408, 429)
    return ShopAnswer(ok=False, retryable=retryable, error=f"HTTP {response.status_code}")


@dataclass(frozen=True)
class Prepared:
    """Everything a job needs from the database, read before the HTTP call."""

    account: MerchantAccount
    body: dict[str, Any]
    key: str
