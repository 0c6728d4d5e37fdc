"""Read queries only the dashboard needs (activity feed, last event per device, sensor slots).

Kept apart from repos.py so the dashboard's reads stay in one place; same rule: the only SQL outside store/.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from hub.store.models import (
    BatteryReading,
    Device,
    Order,
    OrderEvent,
    OrderLine,
    ProcessedEvent,
    Product,
    Reading,
)
from hub.store.models import Slot as SlotRow


@dataclass(frozen=True)
class Slot:
    """A sensor slot that has readings."""

    device_id: str
    slot: str
    count: int
    last_at: datetime


def recent_device_events(session: Session, household_id: int, limit: int = 20) -> Sequence[ProcessedEvent]:
    """The newest accepted events of the household's devices."""
    return session.exec(
        select(ProcessedEvent)
        .join(Device, col(Device.id) == col(ProcessedEvent.device_id))
        .where(Device.household_id == household_id)
        .order_by(col(ProcessedEvent.id).desc())
        .limit(limit)
    ).all()


def recent_order_steps(session: Session, household_id: int, limit: int = 20) -> Sequence[OrderEvent]:
    """The newest order timeline steps of the household that no device caused (people, merchant, timers)."""
    return session.exec(
        select(OrderEvent)
        .join(Order, col(Order.id) == col(OrderEvent.order_id))
        .where(Order.household_id == household_id, col(OrderEvent.actor).not_like("device:%"))
        .order_by(col(OrderEvent.id).desc())
        .limit(limit)
    ).all()


def last_device_events(session: Session, device_ids: Sequence[str]) -> dict[str, ProcessedEvent]:
    """The newest accepted event of each device."""
    if not device_ids:
        return {}
    newest = (
        select(func.max(ProcessedEvent.id))
        .where(col(ProcessedEvent.device_id).in_(list(device_ids)))
        .group_by(col(ProcessedEvent.device_id))
    )
    rows = session.exec(select(ProcessedEvent).where(col(ProcessedEvent.id).in_(newest))).all()
    return {row.device_id: row for row in rows}


def lines_of_orders(session: Session, order_ids: Sequence[str]) -> dict[str, list[OrderLine]]:
    """Lines of several orders at once, by order id."""
    result: dict[str, list[OrderLine]] = {oid: [] for oid in order_ids}
    if not order_ids:
        return result
    rows = session.exec(
        select(OrderLine).where(col(OrderLine.order_id).in_(list(order_ids))).order_by(col(OrderLine.id))
    ).all()
    for row in rows:
        result[row.order_id].append(row)
    return result


def reading_slots(session: Session, household_id: int) -> list[Slot]:
    """Every (device, slot) of the household's devices that has readings."""
    rows = session.exec(
        select(col(Reading.device_id), col(Reading.slot), func.count(), func.max(col(Reading.at)))
        .join(Device, col(Device.id) == col(Reading.device_id))
        .where(Device.household_id == household_id)
        .group_by(col(Reading.device_id), col(Reading.slot))
        .order_by(col(Reading.device_id), col(Reading.slot))
    ).all()
    return [Slot(device_id, slot, int(count), last_at) for device_id, slot, count, last_at in rows]


def battery_history(
    session: Session, device_ids: Sequence[str], since: datetime
) -> dict[str, list[tuple[datetime, int]]]:
    """(time, millivolts) of each device's battery since a date, oldest first."""
    result: dict[str, list[tuple[datetime, int]]] = {d: [] for d in device_ids}
    if not device_ids:
        return result
    rows = session.exec(
        select(BatteryReading)
        .where(col(BatteryReading.device_id).in_(list(device_ids)), col(BatteryReading.at) >= since)
        .order_by(col(BatteryReading.at), col(BatteryReading.id))
    ).all()
    for row in rows:
        result[row.device_id].append((row.at, row.millivolts))
    return result


@dataclass(frozen=True)
class Level:
    """A reading as the activity feed tells it, with what the slot holds."""

    value: float
    unit: str
    slot: str
    product: str | None


def level_at(session: Session, device_id: str, received_at: datetime) -> Level | None:
    """The reading a level event of the device stored: its newest reading taken up to when the event arrived.

    Events do not keep their reading's id; readings carry the device's own time, which is never later than the
    arrival (a replayed reading is older), so this is the event's reading except when one arrival brought
    several levels at once, where it is the newest of them."""
    found = session.exec(
        select(Reading, SlotRow)
        .join(SlotRow, (col(SlotRow.device_id) == col(Reading.device_id)) & (col(SlotRow.name) == col(Reading.slot)),
              isouter=True)
        .where(Reading.device_id == device_id, col(Reading.at) <= received_at)
        .order_by(col(Reading.at).desc(), col(Reading.id).desc())
        .limit(1)
    ).first()
    if found is None:
        return None
    reading, slot = found
    product = None
    if slot is not None and slot.product_id is not None:
        product = session.exec(select(Product.name).where(Product.id == slot.product_id)).first()
    return Level(reading.value, reading.unit, reading.slot, product)
