"""Order service: what the household does with orders (create, cancel, approve, reject, again, request a
return). Merchant progress is in `hub.services.fulfilment`, shop callbacks in `hub.services.callbacks`. Callers
commit."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session
from sqlmodel._compat import partial_init

from hub.domain import lifecycle
from hub.domain.lifecycle import APPROVABLE_STATUSES, Actor, OrderStatus, actor_of
from hub.domain.press import Limits, Mode, check_order
from hub.notify import live
from hub.store import repos
from hub.store.models import Household, Order, OrderEvent, OrderLine, Product, table_of

# A session whose `info` holds `repos.DEFERRED_ROWS` collects new order lines and timeline steps as plain
# rows instead of ORM objects, and new orders (`repos.DEFERRED_ORDERS`) outside the session; its owner writes
# them all with `write_deferred` (ingest's batch does). Reads before the commit look at them: `repos.order_lines`
# at the rows, and every pending-order lookup at the orders.


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


def _add_row(session: Session, model: type[OrderLine] | type[OrderEvent], values: dict[str, Any]) -> None:
    deferred: dict[type[Any], list[dict[str, Any]]] | None = session.info.get(repos.DEFERRED_ROWS)
    if deferred is None:
        session.add(model(**values))
    else:
        deferred.setdefault(model, []).append(values)


def _add_step(session: Session, order_id: str, status: str, at: datetime, actor: str, note: str | None) -> None:
    _add_row(session, OrderEvent, {"order_id": order_id, "status": status, "at": at, "actor": actor, "note": note,
                                   "notified": False})


def defer_rows(session: Session) -> None:
    """Collect this session's new orders, order lines and timeline steps for `write_deferred`."""
    session.info[repos.DEFERRED_ROWS] = {}
    session.info[repos.DEFERRED_ORDERS] = []


def write_deferred(session: Session) -> None:
    """Flush the session and insert what it collected: one INSERT per table, orders before their rows.

    A collected order that a later step added to the session (a cancel, a replenishment linking its slot) is
    taken out of it first: its INSERT carries its final state, and the ORM must not insert it a second time.
    """
    orders: list[Order] = session.info.pop(repos.DEFERRED_ORDERS, None) or []
    for order in orders:
        if order in session:
            session.expunge(order)
    session.flush()
    if orders:
        columns = [column.name for column in table_of(Order).columns]
        session.execute(insert(table_of(Order)), [{name: getattr(order, name) for name in columns} for order in orders])
        # The ORM's events never see these rows: the change feed is told here.
        live.written(session, orders)
    deferred: dict[type[Any], list[dict[str, Any]]] = session.info.pop(repos.DEFERRED_ROWS, None) or {}
    for model in (OrderLine, OrderEvent):
        rows = deferred.get(model)
        if rows:
            # The table, not the class: the ORM bulk path costs more per row than the INSERT itself.
            session.execute(insert(table_of(model)), rows)


def record(session: Session, order: Order, status: str, actor: str, now: datetime, note: str | None = None) -> None:
    """Move an order to `status` and add the step to its timeline."""
    order.status = status
    order.updated_at = now
    session.add(order)
    _add_step(session, order.id, status, now, actor, note)


@cache
def _order_defaults() -> tuple[dict[str, Any], tuple[str, ...]]:
    """An order's constant field defaults, and the fields whose default is made anew each time."""
    fields = Order.model_fields
    factories = tuple(name for name, info in fields.items() if info.default_factory is not None)
    static = {name: info.get_default() for name, info in fields.items() if name not in factories}
    return static, factories


def _new_order(values: dict[str, Any]) -> Order:
    """`Order(**values)` at a fifth of the cost: a press under load builds thousands of these.

    SQLModel's constructor assigns every field through both SQLAlchemy's and pydantic's `__setattr__`. A new
    (transient) object needs neither: its INSERT reads the instance dict, which is where pydantic keeps field
    values too. So SQLAlchemy's instance state is made the way SQLModel's own `model_validate` does it
    (`partial_init`), and the fields, with their defaults, go into the dict at once.
    """
    with partial_init():
        order = Order()  # type: ignore[call-arg]  # the fields follow below
    static, factories = _order_defaults()
    fields = {**static, **{name: Order.model_fields[name].get_default(call_default_factory=True)
                           for name in factories if name not in values}, **values}
    order.__dict__.update(fields)
    object.__setattr__(order, "__pydantic_fields_set__", set(values))
    return order


def create_order(
    session: Session,
    household: Household,
    lines: Sequence[LineRequest],
    *,
    source: str,
    actor: str,
    now: datetime,
    device_id: str | None = None,
    mode: Mode = Mode.ORDER,
    note: str | None = None,
) -> Order:
    """Create an order held for the cancel window, or waiting for approval when a limit says so; `note` says
    why on its first timeline step (a replenishment's reason) unless a limit's reason takes its place."""
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
            repos.month_spending(session, household.id, month_start(now)) if household.monthly_cap is not None else 0
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
    }
    if verdict.status == OrderStatus.PENDING:
        values["cancel_until"] = values["due_at"] = now + timedelta(seconds=household.cancel_window_s)
    order = _new_order(values)
    deferred = session.info.get(repos.DEFERRED_ORDERS)
    if deferred is None:
        session.add(order)
    else:
        # Ingest's batch writes its new orders with one INSERT (`write_deferred`): the ORM's flush of an
        # order cost more than everything else an order costs.
        deferred.append(order)
    for line in lines:
        assert line.product.id is not None
        _add_row(session, OrderLine, {"order_id": order.id, "product_id": line.product.id,
                                      "name": line.product.name, "qty": line.qty, "unit_price": line.product.price})
    _add_step(session, order.id, order.status, now, actor, verdict.reason or (note[:200] if note else None))
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


def move(session: Session, order: Order, status: str, by: Actor, actor: str, now: datetime,
         note: str | None = None) -> None:
    """Move an order to `status` as `record` does, once the lifecycle allows `by` that change.

    Raises lifecycle.TransitionError otherwise: a step no rule allows is a bug, never written to a timeline.
    """
    lifecycle.check(order.status, status, by)
    record(session, order, status, actor, now, note)


def cancel(session: Session, order: Order, actor: str, now: datetime) -> None:
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


def note_step(session: Session, order: Order, step: str, actor: str, now: datetime, note: str | None = None) -> None:
    """Add an explanatory step to the timeline without changing the order's status."""
    _add_step(session, order.id, step, now, actor, (note or "")[:200] or None)


def request_return(session: Session, order: Order, reason: str, actor: str, now: datetime) -> None:
    """Ask the merchant to take a delivered order back."""
    if not lifecycle.allowed(order.status, OrderStatus.RETURN_REQUESTED, Actor.HOUSEHOLD):
        raise OrderError(f"order {order.id} is {order.status}; only a delivered order can be returned")
    order.return_reason = reason[:200]
    order.attempts = 0
    order.due_at = now
    move(session, order, OrderStatus.RETURN_REQUESTED, Actor.HOUSEHOLD, actor, now, note=reason[:200])
