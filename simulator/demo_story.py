"""The demo's detergent slot with four weeks behind it, so the forecast and a reorder show on first sign-in.

A newcomer should not meet a slot that is "learning": the washing machine's sensor is given the readings a
real one would have sent over the last weeks (a freshly loaded 2 kg pack, about one wash a day), stored as
the ingest stores them. Nothing is decided on the past: the sensor's first live reading goes through the
real ingest and replenishment policy, which then finds little left and reorders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from hub.services import replenish as replenish_service
from hub.store import repos
from hub.store.models import Device, Reading, Slot

SLOT = "detergent"
UNIT = "g"
PRODUCT_SKU = "DET-2L"
PACK_G = 2000.0  # the 2 l bottle as the load cell weighs it
HISTORY_DAYS = 28
START_G = 1985.0  # a fresh pack, loaded four weeks ago
DOSE_G = 50.0  # one wash
# Washes per day through a week (more at the weekend), repeated: about 57 g a day.
WASHES = (1, 1, 0, 2, 1, 1, 2)
WASH_HOURS = (8, 19)
REPORT_EVERY = timedelta(hours=6)  # the sensor's heartbeat (report_every_h)
# A deterministic wobble of the load cell, a gram or two either way.
NOISE_G = (0.0, 1.2, -0.8, 0.5, -1.5, 0.9, -0.3)


@dataclass(frozen=True)
class History:
    """What was seeded: the readings and the level the sensor shows now (one more wash this morning)."""

    readings: tuple[tuple[datetime, float], ...]
    level_now: float


def _washes(start: datetime, until: datetime) -> list[datetime]:
    """Every wash between start and until."""
    times = []
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    n = 0
    while day < until:
        for hour in WASH_HOURS[: WASHES[n % len(WASHES)]]:
            at = day + timedelta(hours=hour)
            if start < at < until:
                times.append(at)
        day += timedelta(days=1)
        n += 1
    return times


def history(now: datetime) -> History:
    """Four weeks of heartbeat readings ending a little before `now`, and the level with this morning's wash."""
    start = now - timedelta(days=HISTORY_DAYS)
    last = now - timedelta(hours=1)
    washes = _washes(start, last)
    readings = []
    at, n = start, 0
    while at <= last:
        used = DOSE_G * sum(1 for w in washes if w <= at)
        readings.append((at, round(START_G - used + NOISE_G[n % len(NOISE_G)], 1)))
        at += REPORT_EVERY
        n += 1
    level_now = START_G - DOSE_G * (len(washes) + 1)
    return History(tuple(readings), round(level_now, 1))


def set_up_slot(session: Session, device: Device, now: datetime) -> History:
    """Give the sensor's slot its product, pack size and automatic reordering, and its past readings.

    The readings are stored as the ingest stores a level event; the policy runs on the next live reading.
    A slot that has readings already (a demo run on its old data) keeps them. Caller commits.
    """
    product = repos.product_by_sku(session, "demo", PRODUCT_SKU)
    if product is None:
        raise LookupError(f"the demo shop has no {PRODUCT_SKU}")
    slot: Slot = replenish_service.slot_for(session, device, SLOT, UNIT)
    replenish_service.update_slot(session, slot, product, mode="auto", pack_size=PACK_G)
    past = history(now)
    if not repos.readings(session, device.id, SLOT, limit=1):
        for at, value in past.readings:
            session.add(Reading(device_id=device.id, slot=SLOT, value=value, unit=UNIT, at=at))
    session.flush()
    return past
