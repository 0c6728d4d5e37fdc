"""Order service: what the household does with orders (create, cancel, approve, reject, again, request a
return). Merchant progress is in `hub.services.fulfilment`, shop callbacks in `hub.services.callbacks`. Callers
commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy.orm.instrumentation import manager_of_class
from sqlmodel import Session

from hub.domain import lifecycle
from hub.domain.lifecycle import APPROVABLE_STATUSES, Actor, OrderStatus, actor_of
from hub.domain.press import Limits, Mode, check_order
from hub.services import random_ids
from hub.store import repos
from hub.store.batch import Writer, writer_of
from hub.store.models import Household, Order, OrderEvent, OrderLine, Product

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


def new_order_id(now: datetime) -> str:
    """An order id: the second it was made (8 hex digits), then 40 random bits so it cannot be guessed.

    Ids in the order of their making put each new order, its lines and its steps at the end of their
    indexes. Random ids scattered them over the whole index: once a hub held some 100,000 orders, every batch
    of presses rewrote a page per order in each of three indexes, and the commit (its write-ahead log and
    checkpoints) cost four times what it did on an empty database. The id tells only when the order was made,
    which its own household sees anyway.
    """
    return f"o-{int(now.timestamp()) & 0xFFFFFFFF:08x}{random_ids.token_hex(5)}"


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
    lifecycle.check(None, verdict.status, actor_of(actor))
    values: dict[str, Any] = {
        "id": new_order_id(now),
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


def move(session: Session | Writer, order: Order, status: str, by: Actor, actor: str, now: datetime,
         note: str | None = None) -> None:
    """Move an order to `status` as `record` does, once the lifecycle allows `by` that change.

    Raises lifecycle.TransitionError otherwise: a step no rule allows is a bug, never written to a timeline.
    """
    lifecycle.check(order.status, status, by)
    record(session, order, status, actor, now, note)


def cancel(session: Session | Writer, order: Order, actor: str, now: datetime) -> None:
    """Cancel an order that has not gone to the merchant yet."""
    by = actor_of(actor)
    if not lifecycle.allowed(order.status, OrderStatus.CANCELLED, by):
        raise OrderError(f"order {order.id} is {order.status} and can no longer be cancelled")
    # A submission to a remote shop may already have reached it (in flight, or its answer lost in a
    # crash): then the shop is asked to cancel too, at once.
    order.due_at = now if order.attempts > 0 else None
    order.attempts = 0
    move(session, order, OrderStatus.CANCELLED, by, actor, now)


def approve(session: Session, order: Order, actor: str, now: datetime) -> None:
    """Approve a waiting order: the household decided, so it goes out at the next scheduler tick."""
    if order.status not in APPROVABLE_STATUSES:
        raise OrderError(f"order {order.id} is {order.status}, not awaiting approval")
    order.cancel_until = now
    order.due_at = now
    move(session, order, OrderStatus.PENDING, Actor.HOUSEHOLD, actor, now, note="approved")


def reject(session: Session, order: Order, actor: str, now: datetime) -> None:
    """Reject a waiting order."""
    if order.status not in APPROVABLE_STATUSES:
        raise OrderError(f"order {order.id} is {order.status}, not awaiting approval")
    order.due_at = None
    move(session, order, OrderStatus.CANCELLED, Actor.HOUSEHOLD, actor, now, note="rejected")


# --- Timeline notes and returns ------------------------------------------------------------------------


def note_step(
    session: Session | Writer, order: Order, step: str, actor: str, now: datetime, note: str | None = None
) -> None:
    """Add an explanatory step to the timeline without changing the order's status."""
    _add_step(writer_of(session), order.id, step, now, actor, (note or "")[:200] or None)


def request_return(session: Session, order: Order, reason: str, actor: str, now: datetime) -> None:
    """Ask the merchant to take a delivered order back."""
    if not lifecycle.allowed(order.status, OrderStatus.RETURN_REQUESTED, Actor.HOUSEHOLD):
        raise OrderError(f"order {order.id} is {order.status}; only a delivered order can be returned")
    order.return_reason = reason[:200]
    order.attempts = 0
    order.due_at = now
    move(session, order, OrderStatus.RETURN_REQUESTED, Actor.HOUSEHOLD, actor, now, note=reason[:200])
