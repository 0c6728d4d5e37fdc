"""Order service: create, cancel, approve, reject, submit and advance orders. Callers commit."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from hub.domain.press import CANCELLABLE_STATUSES, Limits, Mode, OrderStatus, check_order
from hub.merchants.base import Merchant, Transition
from hub.store import repos
from hub.store.models import Household, Order, OrderEvent, OrderLine, Product


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


def record(session: Session, order: Order, status: str, actor: str, now: datetime, note: str | None = None) -> None:
    """Move an order to `status` and add the step to its timeline."""
    order.status = status
    order.updated_at = now
    session.add(order)
    session.add(OrderEvent(order_id=order.id, status=status, at=now, actor=actor, note=note))


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
) -> Order:
    """Create an order held for the cancel window, or waiting for approval when a limit says so."""
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
    order = Order(
        id=new_order_id(),
        household_id=household.id,
        device_id=device_id,
        source=source,
        status=verdict.status,
        reason=verdict.reason,
        total=total,
        currency=first.product.currency,
        merchant=first.product.merchant,
        created_at=now,
        updated_at=now,
    )
    if verdict.status == OrderStatus.PENDING:
        order.cancel_until = now + timedelta(seconds=household.cancel_window_s)
        order.due_at = order.cancel_until
    session.add(order)
    for line in lines:
        assert line.product.id is not None
        session.add(
            OrderLine(
                order_id=order.id,
                product_id=line.product.id,
                name=line.product.name,
                qty=line.qty,
                unit_price=line.product.price,
            )
        )
    session.add(OrderEvent(order_id=order.id, status=order.status, at=now, actor=actor, note=verdict.reason))
    return order


def cancel(session: Session, order: Order, actor: str, now: datetime) -> None:
    """Cancel an order that has not gone to the merchant yet."""
    if order.status not in CANCELLABLE_STATUSES:
        raise OrderError(f"order {order.id} is {order.status} and can no longer be cancelled")
    order.due_at = None
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
    if step.status == OrderStatus.FAILED and step.note:
        order.reason = step.note.split(":", 1)[0][:40]
    record(session, order, step.status, actor, now, note=step.note or step.tracking)


def run_due(session: Session, merchants: dict[str, Merchant], now: datetime) -> list[Order]:
    """Fire every due durable timer once: submit expired cancel windows, advance merchant steps."""
    changed: list[Order] = []
    active = [OrderStatus.PENDING, OrderStatus.SUBMITTED, OrderStatus.CONFIRMED, OrderStatus.SHIPPED]
    for order in repos.due_orders(session, [str(s) for s in active], now):
        merchant = merchants.get(order.merchant)
        if merchant is None:
            apply_transition(session, order, Transition(OrderStatus.FAILED, note="no_merchant"), now, "scheduler")
        elif order.status == OrderStatus.PENDING:
            step = merchant.submit(session, order, repos.order_lines(session, order.id), now)
            apply_transition(session, order, step, now, f"merchant:{merchant.name}")
        else:
            next_step = merchant.advance(session, order, now)
            if next_step is None:
                order.due_at = None
                session.add(order)
                continue
            apply_transition(session, order, next_step, now, f"merchant:{merchant.name}")
        changed.append(order)
    return changed
