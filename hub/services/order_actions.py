"""What a household does to its orders from the API and the dashboard, and what a shop's callback reports:
each function is one committed use case over the order lifecycle in hub.services.orders.

On OrderError (or CallbackError) nothing is written: the session is rolled back before the error goes up.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from hub.services import callbacks, orders
from hub.services.transaction import committed
from hub.store.models import Household, MerchantAccount, Order


def cancel(session: Session, order: Order, actor: str, now: datetime) -> None:
    """Cancel an order inside its cancel window."""
    with committed(session):
        orders.cancel(session, order, actor, now)


def approve(session: Session, order: Order, actor: str, now: datetime) -> None:
    """Approve an order awaiting approval."""
    with committed(session):
        orders.approve(session, order, actor, now)


def reject(session: Session, order: Order, actor: str, now: datetime) -> None:
    """Reject an order awaiting approval."""
    with committed(session):
        orders.reject(session, order, actor, now)


def request_return(session: Session, order: Order, reason: str, actor: str, now: datetime) -> None:
    """Ask the merchant to take a delivered order back."""
    with committed(session):
        orders.request_return(session, order, reason, actor, now)


def order_again(session: Session, household: Household, order: Order, actor: str, now: datetime) -> Order:
    """A new order of the same products and quantities at today's prices, with the household's rules."""
    with committed(session):
        return orders.order_again(session, household, order, actor, now)


def apply_callback(
    session: Session, account: MerchantAccount, callback: callbacks.Callback, expected_delivery: datetime | None,
    now: datetime,
) -> Order:
    """Apply a shop's verified status report; a delivery date it promises is stored in the same commit as the
    step, so the household's notification of that step already carries it (the shop's newest word wins).
    IntegrityError when another delivery of the same event was applied first."""
    with committed(session):
        order = callbacks.apply_callback(session, account, callback, now)
        if expected_delivery is not None:
            order.expected_delivery = expected_delivery
            session.add(order)
    return order
