"""Read queries of the metrics scrape (hub/metrics.py, DatabaseCollector): four small aggregates.

A scrape comes every 15 to 60 seconds, so each figure is one COUNT, and orders by status with their timers are
one pass over the orders table together; the notifier's backlog uses the deliveries' (status, next_at) index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func
from sqlmodel import Session, col, select

from hub.store.models import Device, NotificationDelivery, Order


@dataclass(frozen=True)
class OrderFigures:
    """Orders by status, and their durable timers due now and due for longer than `late_before`."""

    by_status: dict[str, int]
    timers_due: int
    timers_late: int


def order_figures(session: Session, now: datetime, late_before: datetime) -> OrderFigures:
    """One grouped pass over the orders: the count per status and how many timers are due, and late."""
    due = col(Order.due_at)
    query = select(
        Order.status,
        func.count(),
        func.sum(case((and_(due.is_not(None), due <= now), 1), else_=0)),
        func.sum(case((and_(due.is_not(None), due < late_before), 1), else_=0)),
    ).group_by(col(Order.status))
    by_status: dict[str, int] = {}
    timers_due = timers_late = 0
    for status, count, due_now, late in session.exec(query):
        by_status[status] = int(count)
        timers_due += int(due_now or 0)
        timers_late += int(late or 0)
    return OrderFigures(by_status, timers_due, timers_late)


def devices_connected(session: Session) -> int:
    """Active devices whose last status message said online."""
    query = select(func.count()).select_from(Device).where(col(Device.online), col(Device.active))
    return int(session.exec(query).one())


def deliveries_due(session: Session, now: datetime) -> int:
    """Notification deliveries pending whose (re)try time has come: the notifier's backlog."""
    query = (
        select(func.count())
        .select_from(NotificationDelivery)
        .where(NotificationDelivery.status == "pending", col(NotificationDelivery.next_at) <= now)
    )
    return int(session.exec(query).one())
