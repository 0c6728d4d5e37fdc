"""Order service: create, cancel, approve, reject, submit and advance orders. Callers commit."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy.orm.instrumentation import manager_of_class
from sqlmodel import Session

from hub.domain.press import CANCELLABLE_STATUSES, SPENDING_STATUSES, Limits, Mode, OrderStatus, check_order
from hub.merchants.base import Merchant, Transition
from hub.merchants.webhook import Job, JobKind, Outcome, Prepared, RetryPolicy, idempotency_key, request_body
from hub.store import repos
from hub.store.batch import Writer, writer_of
from hub.store.models import (
    Device,
    Household,
    MerchantAccount,
    MerchantCallback,
    Order,
    OrderEvent,
    OrderLine,
    Product,
)

# Issue 8: statuses beyond the domain's lifecycle. A return is requested, then the merchant says returned.
RETURN_REQUESTED = "return_requested"
# Timeline-only steps (the order's status does not change): they explain, they are not state changes.
STEP_RETRY = "retry"
STEP_OUT_OF_STOCK = "out_of_stock"
STEP_SENT = "sent"
# Which request a remote merchant gets for an order in each status.
REMOTE_JOBS: dict[str, JobKind] = {
    OrderStatus.PENDING: "order",
    RETURN_REQUESTED: "return",
    OrderStatus.CANCELLED: "cancel",
}


# Creating an order and recording its steps write through a `Writer` (`hub.store.batch`): a plain session from
# the API, web and scheduler, or ingest's `Batch`, which holds new orders, their lines and timeline steps and
# writes them with one INSERT per table at the end of its batch. Every function here that takes a session also
# takes a writer in its place, so a use case reads and writes the same whichever of the two calls it.


class OrderError(Exception):
    """An order operation that is not allowed in the order's state."""


@dataclass(frozen=True)
class LineRequest:
    """A product and quantity to order; `bound_unit_price` is the price the household agreed to."""

    product: Product
    qty: int
    bound_unit_price: int | None = None


def new_order_id() -> str:
    """A short random order id, unguessable so ids leak nothing across households."""
    return "o-" + secrets.token_hex(5)


def month_start(now: datetime) -> datetime:
    """First instant of the calendar month (UTC) that `now` falls in."""
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def limits_of(household: Household) -> Limits:
    """A household's spending controls as a domain value."""
    return Limits(
        per_order_cap=household.per_order_cap,
        monthly_cap=household.monthly_cap,
        price_tolerance_pct=household.price_tolerance_pct,
    )


def _add_step(to: Writer, order_id: str, status: str, at: datetime, actor: str, note: str | None) -> None:
    to.add_row(OrderEvent, {"order_id": order_id, "status": status, "at": at, "actor": actor, "note": note,
                            "notified": False})


def record(
    session: Session | Writer, order: Order, status: str, actor: str, now: datetime, note: str | None = None
) -> None:
    """Move an order to `status` and add the step to its timeline."""
    to = writer_of(session)
    order.status = status
    order.updated_at = now
    to.add(order)
    _add_step(to, order.id, status, now, actor, note)


@cache
def _order_defaults() -> tuple[dict[str, Any], tuple[str, ...]]:
    """An order's constant field defaults, and the fields whose default is made anew each time."""
    fields = Order.model_fields
    factories = tuple(name for name, info in fields.items() if info.default_factory is not None)
    static = {name: info.get_default() for name, info in fields.items() if name not in factories}
    return static, factories


# The class manager SQLAlchemy builds instances with when it loads rows; see `_new_order`.
_ORDER_MANAGER = manager_of_class(Order)


def _new_order(values: dict[str, Any]) -> Order:
    """`Order(**values)` at a twentieth of the cost: a press under load builds thousands of these.

    SQLModel's constructor validates and assigns every field through both SQLAlchemy's and pydantic's
    `__setattr__`, for values that are ours and already right. So the order is made the way SQLAlchemy makes
    one it loads from a row (SQLModel supports that path: its `__new__` prepares pydantic's state for it),
    and its fields, with their defaults, go into the instance dict, which is where both keep them.
    tests/hub/services/test_new_order.py fails if a SQLModel or SQLAlchemy upgrade changes that.
    """
    order: Order = _ORDER_MANAGER.new_instance()
    static, factories = _order_defaults()
    fields = {**static, **{name: Order.model_fields[name].get_default(call_default_factory=True)
                           for name in factories if name not in values}, **values}
    order.__dict__.update(fields)
    return order


def create_order(
    session: Session | Writer,
    household: Household,
    lines: Sequence[LineRequest],
    *,
    source: str,
    actor: str,
    now: datetime,
    device_id: str | None = None,
    mode: Mode = Mode.ORDER,
    note: str | None = None,
    slot_id: int | None = None,
) -> Order:
    """Create an order held for the cancel window, or waiting for approval when a limit says so; `note` says
    why on its first timeline step (a replenishment's reason) unless a limit's reason takes its place.

    `slot_id` links a replenishment order to its slot. Takes a session (API, web, scheduler) or ingest's batch.
    """
    to = writer_of(session)
    if not lines:
        raise OrderError("an order needs at least one line")
    assert household.id is not None
    total = sum(line.product.price * line.qty for line in lines)
    # The price-rise check compares a single bound product; multi-line orders come from the cart,
    # where the household saw the prices when it checked out.
    first = lines[0]
    verdict = check_order(
        total=total,
        unit_price=first.product.price,
        bound_unit_price=first.bound_unit_price if len(lines) == 1 else None,
        # The monthly sum is only worth a query when there is a cap to compare it with.
        spent_this_month=(
            to.month_spending(household.id, month_start(now)) if household.monthly_cap is not None else 0
        ),
        limits=limits_of(household),
        mode=mode,
    )
    values: dict[str, Any] = {
        "id": new_order_id(),
        "household_id": household.id,
        "device_id": device_id,
        "source": source,
        "status": verdict.status,
        "reason": verdict.reason,
        "total": total,
        "currency": first.product.currency,
        "merchant": first.product.merchant,
        "created_at": now,
        "updated_at": now,
        "slot_id": slot_id,
    }
    if verdict.status == OrderStatus.PENDING:
        values["cancel_until"] = values["due_at"] = now + timedelta(seconds=household.cancel_window_s)
    order = _new_order(values)
    to.add_order(order)
    for line in lines:
        assert line.product.id is not None
        to.add_row(OrderLine, {"order_id": order.id, "product_id": line.product.id,
                               "name": line.product.name, "qty": line.qty, "unit_price": line.product.price})
    _add_step(to, order.id, order.status, now, actor, verdict.reason or (note[:200] if note else None))
    return order


def order_again(session: Session, household: Household, order: Order, actor: str, now: datetime) -> Order:
    """A new order of the same products and quantities at today's prices, under today's window, limits and
    approval rules (the cart's path: the household sees the prices on the new order before it goes out)."""
    assert household.id is not None
    requests = []
    for line in repos.order_lines(session, order.id):
        product = repos.visible_product(session, household.id, line.product_id)
        if product is None:
            raise OrderError(f"{line.name} is no longer sold")
        requests.append(LineRequest(product, line.qty))
    return create_order(session, household, requests, source="again", actor=actor, now=now)


def cancel(session: Session | Writer, order: Order, actor: str, now: datetime) -> None:
    """Cancel an order that has not gone to the merchant yet."""
    if order.status not in CANCELLABLE_STATUSES:
        raise OrderError(f"order {order.id} is {order.status} and can no longer be cancelled")
    # A submission to a remote shop may already have reached it (in flight, or its answer lost in a
    # crash): then the shop is asked to cancel too, at once.
    order.due_at = now if order.attempts > 0 else None
    order.attempts = 0
    record(session, order, OrderStatus.CANCELLED, actor, now)


def approve(session: Session, order: Order, actor: str, now: datetime) -> None:
    """Approve a waiting order: the household decided, so it goes out at the next scheduler tick."""
    if order.status != OrderStatus.AWAITING_APPROVAL:
        raise OrderError(f"order {order.id} is {order.status}, not awaiting approval")
    order.cancel_until = now
    order.due_at = now
    record(session, order, OrderStatus.PENDING, actor, now, note="approved")


def reject(session: Session, order: Order, actor: str, now: datetime) -> None:
    """Reject a waiting order."""
    if order.status != OrderStatus.AWAITING_APPROVAL:
        raise OrderError(f"order {order.id} is {order.status}, not awaiting approval")
    order.due_at = None
    record(session, order, OrderStatus.CANCELLED, actor, now, note="rejected")


def apply_transition(session: Session, order: Order, step: Transition, now: datetime, actor: str) -> None:
    """Record what the merchant said about an order."""
    order.due_at = step.due_at
    if step.tracking:
        order.tracking = step.tracking
    if step.merchant_ref:
        order.merchant_ref = step.merchant_ref
    if step.expected_delivery is not None:
        order.expected_delivery = step.expected_delivery
    if step.status == OrderStatus.FAILED and step.note:
        order.reason = step.note.split(":", 1)[0][:40]
    record(session, order, step.status, actor, now, note=step.note or step.tracking)


def run_due(
    session: Session,
    merchants: dict[str, Merchant],
    now: datetime,
    dispatch: list[Job] | None = None,
    policy: RetryPolicy | None = None,
) -> list[Order]:
    """Fire every due durable timer once: submit expired cancel windows, advance merchant steps.

    Orders of a remote (webhook) merchant are leased and appended to `dispatch` instead: the caller hands
    them to the sender after the commit, so no HTTP call runs inside this transaction.
    """
    changed: list[Order] = []
    active = [OrderStatus.PENDING, OrderStatus.SUBMITTED, OrderStatus.CONFIRMED, OrderStatus.SHIPPED]
    statuses = [str(s) for s in active] + [RETURN_REQUESTED, str(OrderStatus.CANCELLED)]
    for order in repos.due_orders(session, statuses, now):
        merchant = merchants.get(order.merchant)
        # Only the household's own shop: another household's, named by a product, is no merchant at all.
        account = repos.household_merchant(session, order.household_id, order.merchant) if merchant is None else None
        if account is not None and account.active and order.status in REMOTE_JOBS:
            job = lease(session, order, now, policy or RetryPolicy())
            if dispatch is not None:
                dispatch.append(job)
        elif order.status == OrderStatus.CANCELLED or (account is not None and account.active):
            # A cancel to pass on to a built-in merchant, or a remote order waiting for its callback.
            order.due_at = None
            session.add(order)
        elif merchant is None:
            apply_transition(session, order, Transition(OrderStatus.FAILED, note="no_merchant"), now, "scheduler")
            changed.append(order)
        elif order.status == OrderStatus.PENDING:
            step = merchant.submit(session, order, repos.order_lines(session, order.id), now)
            if step.status == OrderStatus.FAILED and (step.note or "").startswith("out_of_stock"):
                out_of_stock(session, order, None, f"merchant:{merchant.name}", now, step.note)
            else:
                apply_transition(session, order, step, now, f"merchant:{merchant.name}")
            changed.append(order)
        else:
            next_step = merchant.advance(session, order, now)
            if next_step is None:
                order.due_at = None
                session.add(order)
                continue
            apply_transition(session, order, next_step, now, f"merchant:{merchant.name}")
            changed.append(order)
    return changed


# --- Issue 8: remote merchants, substitutes, returns, callbacks ------------------------------------------


def note_step(
    session: Session | Writer, order: Order, step: str, actor: str, now: datetime, note: str | None = None
) -> None:
    """Add an explanatory step to the timeline without changing the order's status."""
    _add_step(writer_of(session), order.id, step, now, actor, (note or "")[:200] or None)


def lease(session: Session, order: Order, now: datetime, policy: RetryPolicy) -> Job:
    """Claim the next request of an order for the sender; if the hub dies meanwhile the lease expires."""
    order.attempts += 1
    order.due_at = now + timedelta(seconds=policy.lease_s)
    session.add(order)
    return Job(order.id, REMOTE_JOBS[order.status], order.attempts)


def prepare_job(session: Session, job: Job) -> Prepared | None:
    """What to send for a leased job, or None when the order moved on since it was leased."""
    order = session.get(Order, job.order_id)
    if order is None or order.attempts != job.attempt or REMOTE_JOBS.get(order.status) != job.kind:
        return None
    account = repos.household_merchant(session, order.household_id, order.merchant)
    if account is None:
        return None
    lines = list(repos.order_lines(session, order.id))
    device = session.get(Device, order.device_id) if order.device_id else None
    allow = bool(device is not None and device.binding_allow_substitutes)
    body = request_body(session, order, lines, job.kind, allow)
    return Prepared(account=account, body=body, key=idempotency_key(order, job.kind))


def finish_job(session: Session, job: Job, outcome: Outcome, now: datetime, policy: RetryPolicy) -> None:
    """Record what the shop answered to a job, in its own transaction (the caller commits)."""
    order = repos.lock_order(session, job.order_id)
    if order is None:
        return
    actor = f"merchant:{order.merchant}"
    if order.attempts != job.attempt or REMOTE_JOBS.get(order.status) != job.kind:
        # The order moved on while the request was in flight. If it was cancelled and the shop has just
        # taken it, the shop must hear about the cancel.
        if job.kind == "order" and outcome.ok and order.status == OrderStatus.CANCELLED:
            order.merchant_ref = outcome.ref or order.merchant_ref
            order.attempts = 0
            order.due_at = now
            session.add(order)
            note_step(session, order, STEP_SENT, actor, now, "the shop took the order after it was cancelled")
        return
    if outcome.ok:
        order.attempts = 0
        if job.kind == "order":
            step = Transition(OrderStatus.SUBMITTED, merchant_ref=outcome.ref, note=f"accepted by {order.merchant}",
                              expected_delivery=outcome.expected_delivery)
            apply_transition(session, order, step, now, actor)
        else:
            order.due_at = None
            session.add(order)
            note_step(session, order, STEP_SENT, actor, now, f"{job.kind} request accepted by {order.merchant}")
        return
    if outcome.retryable and job.attempt < policy.max_attempts:
        delay = policy.backoff(job.attempt)
        order.due_at = now + delay
        session.add(order)
        note = f"{job.kind} attempt {job.attempt}: {outcome.error}; next in {delay.total_seconds():g} s"
        note_step(session, order, STEP_RETRY, actor, now, note)
        return
    order.attempts = 0
    order.due_at = None
    if job.kind == "order":
        reason = "merchant_unreachable" if outcome.retryable else "merchant_rejected"
        order.reason = reason
        record(session, order, OrderStatus.FAILED, actor, now, note=f"{reason}: {outcome.error}")
    else:
        session.add(order)
        note_step(session, order, STEP_RETRY, actor, now, f"{job.kind} request given up: {outcome.error}")


def out_of_stock(
    session: Session, order: Order, offered: Product | None, actor: str, now: datetime, note: str | None = None
) -> None:
    """Substitute when the button's binding allows it (within the household's limits), else fail the order."""
    lines = list(repos.order_lines(session, order.id))
    device = session.get(Device, order.device_id) if order.device_id else None
    substitute: Product | None = None
    if device is not None and device.binding_allow_substitutes and len(lines) == 1:
        chosen = session.get(Product, device.binding_substitute_id) if device.binding_substitute_id else None
        substitute = chosen or offered
    household = repos.household(session, order.household_id)
    order.attempts = 0
    if substitute is None or household is None or substitute.id == lines[0].product_id or device is None:
        order.due_at = None
        order.reason = "out_of_stock"
        record(session, order, OrderStatus.FAILED, actor, now, note=note or "out_of_stock")
        return
    assert substitute.id is not None
    note_step(session, order, STEP_OUT_OF_STOCK, actor, now, note or "out of stock")
    line = lines[0]
    spent = repos.month_spending(session, order.household_id, month_start(now))
    if order.status in SPENDING_STATUSES:
        spent -= order.total  # the order is counted already, at its old total
    line.product_id, line.name, line.unit_price = substitute.id, substitute.name, substitute.price
    session.add(line)
    order.total = substitute.price * line.qty
    order.currency = substitute.currency
    order.merchant = substitute.merchant
    order.revision += 1
    verdict = check_order(
        total=order.total,
        unit_price=substitute.price,
        bound_unit_price=device.binding_unit_price,
        spent_this_month=spent,
        limits=limits_of(household),
        mode=Mode.ORDER,
    )
    text = f"substitute: {substitute.name} at {substitute.price} {substitute.currency} (was {lines[0].name})"
    if verdict.status == OrderStatus.PENDING:
        # The household agreed to substitutes for this button: the substitute goes out at once.
        order.reason = None
        order.cancel_until = now
        order.due_at = now
        record(session, order, OrderStatus.PENDING, actor, now, note=text)
    else:
        order.reason = verdict.reason
        order.due_at = None
        record(session, order, OrderStatus.AWAITING_APPROVAL, actor, now, note=f"{text}; {verdict.reason}")


def request_return(session: Session, order: Order, reason: str, actor: str, now: datetime) -> None:
    """Ask the merchant to take a delivered order back."""
    if order.status != OrderStatus.DELIVERED:
        raise OrderError(f"order {order.id} is {order.status}; only a delivered order can be returned")
    order.return_reason = reason[:200]
    order.attempts = 0
    order.due_at = now
    record(session, order, RETURN_REQUESTED, actor, now, note=reason[:200])


class CallbackError(Exception):
    """A merchant callback that is refused; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Callback:
    """A status change reported by a shop."""

    event_id: str
    order_id: str
    status: str
    tracking: str | None = None
    carrier: str | None = None
    reason: str | None = None
    substitute_sku: str | None = None
    substitute_name: str | None = None
    substitute_price: int | None = None


# Which statuses each reported status may follow; anything else is out of order and refused.
CALLBACK_FROM: dict[str, frozenset[str]] = {
    OrderStatus.CONFIRMED: frozenset({OrderStatus.SUBMITTED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.SUBMITTED, OrderStatus.CONFIRMED}),
    OrderStatus.DELIVERED: frozenset({OrderStatus.SUBMITTED, OrderStatus.CONFIRMED, OrderStatus.SHIPPED}),
    OrderStatus.CANCELLED: frozenset({OrderStatus.SUBMITTED, OrderStatus.CONFIRMED}),
    OrderStatus.FAILED: frozenset({OrderStatus.SUBMITTED, OrderStatus.CONFIRMED}),
    STEP_OUT_OF_STOCK: frozenset({OrderStatus.SUBMITTED, OrderStatus.CONFIRMED}),
    OrderStatus.RETURNED: frozenset({RETURN_REQUESTED}),
}


def apply_callback(session: Session, account: MerchantAccount, callback: Callback, now: datetime) -> Order:
    """Apply a verified shop callback once; a replayed event id or an out-of-order status is refused."""
    order = repos.lock_order(session, callback.order_id)
    if order is None or order.household_id != account.household_id or order.merchant != account.name:
        raise CallbackError(f"order {callback.order_id} not found", 404)
    if repos.merchant_callback(session, account.name, callback.event_id) is not None:
        raise CallbackError(f"event {callback.event_id} was already applied", 409)
    allowed = CALLBACK_FROM.get(callback.status)
    if allowed is None:
        raise CallbackError(f"unknown status {callback.status}", 422)
    actor = f"merchant:{account.name}"
    if order.status == OrderStatus.PENDING and order.attempts > 0 and OrderStatus.SUBMITTED in allowed:
        # The shop answered through the callback before its answer to our request arrived: it has the order.
        order.attempts = 0
        apply_transition(session, order, Transition(OrderStatus.SUBMITTED, note="reported by the shop"), now, actor)
    if order.status not in allowed:
        raise CallbackError(f"order {order.id} is {order.status} and cannot become {callback.status}", 409)
    session.add(MerchantCallback(merchant=account.name, event_id=callback.event_id, order_id=order.id,
                                 status=callback.status, received_at=now))
    if callback.status == STEP_OUT_OF_STOCK:
        offered = _offered_product(session, account, callback)
        out_of_stock(session, order, offered, actor, now, f"out_of_stock: {callback.reason or 'reported by the shop'}")
    elif callback.status == OrderStatus.SHIPPED:
        order.carrier = (callback.carrier or "")[:40] or None
        note = " ".join(x for x in (callback.carrier, callback.tracking) if x) or None
        step = Transition(OrderStatus.SHIPPED, tracking=callback.tracking, note=note)
        apply_transition(session, order, step, now, actor)
    elif callback.status == OrderStatus.FAILED:
        reason = callback.reason or "failed"
        step = Transition(OrderStatus.FAILED, note=reason if ":" in reason else f"{reason}: reported by the shop")
        apply_transition(session, order, step, now, actor)
    else:
        apply_transition(session, order, Transition(callback.status, note=callback.reason), now, actor)
    return order


def _offered_product(session: Session, account: MerchantAccount, callback: Callback) -> Product | None:
    """The shop's suggested substitute as a product of the household's catalog (created on first sight)."""
    if not callback.substitute_sku or not callback.substitute_name or callback.substitute_price is None:
        return None
    product = repos.product_by_sku(session, account.name, callback.substitute_sku)
    if product is None:
        household = repos.household(session, account.household_id)
        product = Product(household_id=account.household_id, merchant=account.name, sku=callback.substitute_sku,
                          name=callback.substitute_name, price=callback.substitute_price,
                          currency=household.currency if household else "EUR")
        session.add(product)
        session.flush()
    else:
        # The shop's latest word on the price counts: it is what the household will pay.
        product.price = callback.substitute_price
        session.add(product)
    return product
