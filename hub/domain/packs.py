"""Slots whose packs last only a few days: stock counted in whole packs loaded, not read from the level (pure).

When a pack lasts two or three days, a daily reading rarely sees a refill as a jump: the pack is opened and half
used between two readings, so the level goes 80, 230, 60, 310 and a median of slopes within "segments" of one
or two readings says almost nothing about the rate, nor do the jumps say how many packs left the shelf. The
level's mass balance does: between two readings it changes by the packs loaded less the use, and the packs are
whole. So each interval holds the whole number of packs that brings its change closest to the usual use
over that time, at least one where the level rose by more than noise can explain. The use that follows from
those loads gives the rate; the loads, taken from the deliveries, give what is left on the shelf. Starting
from the level-based rate and repeating moves the rate up to the first consistent one (an interval's packs
only change where its use is half a pack away from the usual), so a quiet slot is not talked into loads.

Every rounding error costs a pack of credit one way or the other. The shelf count never goes below zero, so
a pack counted twice only brings an order forward and is forgotten at the next delivery; a pack missed keeps
a credit the empty-container check in the caller still catches.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.domain.credit import DELIVERY_GRACE, Delivery, quiet_days
from hub.domain.readings import Reading

# A rise of more than this share of a pack is a load whatever the usual use says: a sensor's noise and glitches
# that survive cleaning stay well under it (a noisy level sensor has a few per cent of a pack).
RISE_PACKS = 0.3
WINDOW_DAYS = 28.0  # the rate: whole weekly cycles, as the level-based one
RECENT_DAYS = 7.0  # and the last week, so a rise in use moves the order forward at once
# The container is empty at or below this share of a pack (as in hub.domain.replenish).
EMPTY_PACKS = 0.03
ROUNDS = 12  # repetitions of "loads from the rate, rate from the loads"; it settles in a few
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class PackCount:
    """What the whole-pack balance saw: the rates, their irregularity and the delivered stock still on the shelf."""

    rate: float  # units a day over the last four weeks
    recent: float  # units a day over the last week
    wobble: float  # irregularity of use, units per sqrt(day)
    shelf: float  # delivered units not loaded yet
    loads: int  # packs loaded over the readings

    def pack_days(self, pack_size: float) -> float:
        """Days one pack lasts at the four-week rate (infinite without use)."""
        return pack_size / self.rate if self.rate > 0 else math.inf


def _loads(changes: Sequence[tuple[float, float]], pack: float, rate: float) -> list[int]:
    """Whole packs loaded in each (level change, days) interval at the usual use `rate`."""
    found = []
    for change, days in changes:
        packs = max(0, math.floor((change + rate * days) / pack + 0.5))
        if change > RISE_PACKS * pack:
            packs = max(packs, 1)
        found.append(packs)
    return found


def _rate(
    changes: Sequence[tuple[float, float]], loads: Sequence[int], pack: float, since: int, empty: Sequence[bool]
) -> float:
    """Mean use a day over the intervals from index `since`: the packs loaded less the change in level.

    Intervals that start and end with an empty container and load nothing are left out: an empty container
    shows no use, and the household was out of stock (or away), not using nothing by choice.
    """
    days = used = 0.0
    for (change, span), n, dry in zip(changes[since:], loads[since:], empty[since:], strict=True):
        if dry and n == 0:
            continue
        days += span
        used += max(n * pack - change, 0.0)
    return used / days if days > 0 else 0.0


def count(
    readings: Sequence[Reading], deliveries: Sequence[Delivery], pack_size: float, start_rate: float
) -> PackCount | None:
    """The whole-pack balance of `readings` (accepted, oldest first); None with fewer than a day of them."""
    if len(readings) < 3 or (readings[-1].at - readings[0].at) / _DAY < 1.0:
        return None
    pairs = list(zip(readings, readings[1:], strict=False))
    changes = [(b.value - a.value, (b.at - a.at) / _DAY) for a, b in pairs]
    low = EMPTY_PACKS * pack_size
    empty = [a.value <= low and b.value <= low for a, b in pairs]
    end = readings[-1].at
    since = next((i for i, (a, _) in enumerate(pairs) if a.at >= end - timedelta(days=WINDOW_DAYS)), 0)
    rate = max(start_rate, 0.0)
    loads = _loads(changes, pack_size, rate)
    for _ in range(ROUNDS):
        rate = _rate(changes, loads, pack_size, since, empty)
        again = _loads(changes, pack_size, rate)
        if again == loads:
            break
        loads = again
    # Packs used faster than the sensor reads them hide their loads; a delivery that ran out shows the real use.
    rate = max(rate, _cycle_rate(readings, deliveries, EMPTY_PACKS * pack_size))
    recent_since = next((i for i, (a, _) in enumerate(pairs) if a.at >= end - timedelta(days=RECENT_DAYS)), since)
    recent = _rate(changes, loads, pack_size, recent_since, empty)
    steps = [
        (max(n * pack_size - c, 0.0) - rate * d) / math.sqrt(d)
        for (c, d), n in zip(changes[since:], loads[since:], strict=True)
        if d > 0
    ]
    wobble = math.sqrt(sum(s * s for s in steps) / len(steps)) if steps else 0.0
    shelf = _shelf(pairs, loads, deliveries, pack_size)
    newest = max((d.at for d in deliveries), default=None)
    if shelf > 0 and _ran_out([r for r in readings if newest is None or r.at >= newest], readings, low):
        # Empty for longer than the household ever goes without using it, with a pack credited: nobody
        # leaves it so with a pack in the cupboard, so the credit is loads the balance missed.
        shelf = 0.0
    return PackCount(rate, recent, wobble, shelf, sum(loads))


def _ran_out(window: Sequence[Reading], readings: Sequence[Reading], low: float) -> datetime | None:
    """When the container in `window` ran out: the first of at least two readings at or below `low` that last
    longer than the household's longest stretch without use before them (a household using it on two days a
    week leaves an empty container alone until the next of them, with a pack in the cupboard)."""
    run: list[Reading] = []
    for reading in window:
        if reading.value > low:
            run = []
            continue
        run.append(reading)
        if len(run) >= 2:
            earlier = [r for r in readings if r.at <= run[0].at]
            if (run[-1].at - run[0].at) / _DAY > quiet_days(earlier, low):
                return run[0].at
    return None


def _cycle_rate(readings: Sequence[Reading], deliveries: Sequence[Delivery], low: float) -> float:
    """Use a day over the newest delivery that ran out: its quantity and the level before it arrived, used
    between its arrival and the first two empty readings in a row before the next delivery (0 if none ran out).

    A lower bound: the shelf may have held more when it arrived. It stands when the balance cannot see the
    loads at all (a pack or more used between two readings, the level at zero whenever it is read).
    """
    arrivals = sorted((d for d in deliveries if d.at >= readings[0].at), key=lambda d: d.at)
    for k in range(len(arrivals) - 1, -1, -1):
        arrival = arrivals[k]
        until = arrivals[k + 1].at if k + 1 < len(arrivals) else readings[-1].at + _DAY
        before = [r for r in readings if r.at <= arrival.at]
        after = [r for r in readings if arrival.at < r.at < until]
        out = _ran_out(after, readings, low)
        if out is not None:
            days = (out - arrival.at) / _DAY
            held = arrival.quantity + (before[-1].value if before else 0.0)
            return held / max(days, 1.0)
    return 0.0


def _shelf(
    pairs: Sequence[tuple[Reading, Reading]], loads: Sequence[int], deliveries: Sequence[Delivery], pack: float
) -> float:
    """Delivered units not loaded: deliveries since the first reading, less the packs loaded after each arrived.

    A delivery older than the readings is taken as loaded (as in hub.domain.credit). A load with nothing on
    the shelf is held for DELIVERY_GRACE: the sensor may see a pack opened before the shop reports it delivered.
    """
    first = pairs[0][0].at if pairs else None
    arrivals = sorted((d for d in deliveries if first is not None and d.at >= first), key=lambda d: d.at)
    shelf, waiting, i = 0.0, [], 0
    for (_, b), packs in zip(pairs, loads, strict=True):
        while i < len(arrivals) and arrivals[i].at <= b.at:
            shelf += arrivals[i].quantity
            # Loads seen shortly before this delivery was recorded came out of it.
            early = sum(n for at, n in waiting if arrivals[i].at - at <= DELIVERY_GRACE)
            taken = min(shelf, early * pack)
            shelf -= taken
            waiting = []
            i += 1
        if packs:
            taken = min(shelf, packs * pack)
            shelf -= taken
            left = packs - round(taken / pack)
            if left > 0:
                waiting.append((b.at, left))
    # Deliveries recorded after the newest reading have not been seen loaded yet.
    shelf += sum(d.quantity for d in arrivals[i:])
    return shelf
