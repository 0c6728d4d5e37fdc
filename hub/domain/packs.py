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

from hub.domain.credit import BURST, DELIVERY_GRACE, LOAD_LOW, Delivery, quiet_days
from hub.domain.readings import Reading

# A rise of more than this share of a pack is a load whatever the usual use says: a sensor's noise and glitches
# that survive cleaning stay well under it (a noisy level sensor has a few per cent of a pack).
RISE_PACKS = 0.3
WINDOW_DAYS = 28.0  # the rate: whole weekly cycles, as the level-based one
RECENT_DAYS = 7.0  # and the last week, so a rise in use moves the order forward at once
# The container is empty at or below this share of a pack (as in hub.domain.replenish).
EMPTY_PACKS = 0.03
# A pack is opened into a container holding at most LOAD_LOW of a pack plus up to this many times the usual use
# between the readings (a busy day can empty it faster than usual).
BUSY = 3.0
ROUNDS = 12  # repetitions of "loads from the rate, rate from the loads"; it settles in a few
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class PackCount:
    """What the whole-pack balance saw: the rates, their irregularity and the delivered stock still on the shelf."""

    rate: float  # units a day over the last four weeks
    recent: float  # units a day over the last week
    wobble: float  # irregularity of use, units per sqrt(day)
    shelf: float  # delivered units not loaded yet
    loads: int  # packs loaded over the last four weeks
    days: float  # days the readings of the last four weeks span
    ledger: float  # the shelf by the ledger (at most `shelf`): the count may have missed loads down to it

    def pack_days(self, pack_size: float) -> float:
        """Days one pack lasts at the four-week rate (infinite without use)."""
        return pack_size / self.rate if self.rate > 0 else math.inf


def _loads(changes: Sequence[tuple[float, float, float]], pack: float, rate: float) -> list[int]:
    """Whole packs loaded in each (level before, level change, days) interval at the usual use `rate`.

    A household opens the next pack when the container runs low, so an interval can only hold a load if the
    level it starts from can have been used up in it, with room for a busy day (LOAD_LOW of a pack and
    BUSY times the usual use): a rise from a container far from empty is a glitch or a pack bought elsewhere.
    """
    found = []
    for before, change, days in changes:
        packs = max(0, math.floor((change + rate * days) / pack + 0.5))
        if change > RISE_PACKS * pack:
            packs = max(packs, 1)
        if before > LOAD_LOW * pack + BUSY * rate * days:
            packs = 0
        found.append(packs)
    return found


def _rate(
    changes: Sequence[tuple[float, float, float]], loads: Sequence[int], pack: float, since: int, empty: Sequence[bool]
) -> float:
    """Mean use a day over the intervals from index `since`: the packs loaded less the change in level.

    Intervals that start and end with an empty container and load nothing are left out: an empty container
    shows no use, and the household was out of stock (or away), not using nothing by choice.
    """
    days = used = 0.0
    for (_, change, span), n, dry in zip(changes[since:], loads[since:], empty[since:], strict=True):
        if dry and n == 0:
            continue
        days += span
        used += max(n * pack - change, 0.0)
    return used / days if days > 0 else 0.0


def count(
    readings: Sequence[Reading],
    deliveries: Sequence[Delivery],
    pack_size: float,
    start_rate: float,
    *,
    burst: float = BURST,
) -> PackCount | None:
    """The whole-pack balance of `readings` (accepted, oldest first); None with fewer than a day of them.

    A lone reading whose loads need a day of more than `burst` times the usual use is left out.
    """
    if len(readings) < 3 or (readings[-1].at - readings[0].at) / _DAY < 1.0:
        return None
    end = readings[-1].at
    rate = max(start_rate, 0.0)
    kept: list[Reading] = list(readings)
    loads: list[int] = []
    for _ in range(ROUNDS):
        kept = _plain(readings, pack_size, rate, burst)
        balance = _Balance(kept, pack_size, end)
        again = _loads(balance.changes, pack_size, rate)
        if again == loads:
            break
        loads = again
        rate = _rate(balance.changes, loads, pack_size, balance.since, balance.empty)
    # Packs used faster than the sensor reads them hide their loads; a delivery that ran out shows the real use.
    cycles = _cycles(kept, deliveries, pack_size)
    rate = max(rate, _cycle_rate(kept, cycles))
    since, changes, empty = balance.since, balance.changes, balance.empty
    recent_since = next(
        (i for i, (a, _) in enumerate(balance.pairs) if a.at >= end - timedelta(days=RECENT_DAYS)), since
    )
    recent = _rate(changes, loads, pack_size, recent_since, empty)
    steps = [
        (max(n * pack_size - c, 0.0) - rate * d) / math.sqrt(d)
        for (_, c, d), n in zip(changes[since:], loads[since:], strict=True)
        if d > 0
    ]
    wobble = math.sqrt(sum(s * s for s in steps) / len(steps)) if steps else 0.0
    # A delivery seen opened, then the container empty for longer than the household ever goes without using
    # it: nobody leaves it so with a pack in the cupboard, so the shelf was empty then, and any credit left is
    # loads the balance missed. (An empty container the delivery has not been seen in is a household away.)
    # Every such run-out in the history empties the count, not only the newest: a credit kept from an older
    # cycle would come back with the next delivery and grow with every cycle whose loads went unseen.
    shelf, ledger = _shelf(balance.pairs, loads, deliveries, pack_size, rate, [out for _, out in cycles])
    span = (end - balance.pairs[since][0].at) / _DAY if balance.pairs else 0.0
    return PackCount(rate, recent, wobble, shelf, sum(loads[since:]), span, min(ledger, shelf))


class _Balance:
    """The intervals between consecutive readings: (level before, change, days), which start and end empty,
    and the first of the last four weeks."""

    def __init__(self, readings: Sequence[Reading], pack: float, end: datetime) -> None:
        self.pairs = list(zip(readings, readings[1:], strict=False))
        self.changes = [(a.value, b.value - a.value, (b.at - a.at) / _DAY) for a, b in self.pairs]
        low = EMPTY_PACKS * pack
        self.empty = [a.value <= low and b.value <= low for a, b in self.pairs]
        start = end - timedelta(days=WINDOW_DAYS)
        self.since = next((i for i, (a, _) in enumerate(self.pairs) if a.at >= start), 0)


def _interval(a: Reading, b: Reading, pack: float, rate: float) -> tuple[int, float]:
    """Packs loaded between two readings at the usual use `rate`, and the use that makes, a day."""
    days = (b.at - a.at) / _DAY
    packs = _loads([(a.value, b.value - a.value, days)], pack, rate)[0]
    return packs, (packs * pack - (b.value - a.value)) / max(days, 1e-9)


def _plain(readings: Sequence[Reading], pack: float, rate: float, burst: float) -> list[Reading]:
    """`readings` without the lone ones that only add loads: a reading above or below both neighbours whose
    intervals hold more packs than the one from its left neighbour to its right, and a day's use more than
    `burst` times the usual. A glitch to zero and back reads as a pack emptied and one loaded; a pack
    loaded just before a party that used it all is kept."""
    kept = [readings[0]]
    for i in range(1, len(readings) - 1):
        a, x, b = kept[-1], readings[i], readings[i + 1]
        if min(a.value, b.value) <= x.value <= max(a.value, b.value) or rate <= 0:
            kept.append(x)
            continue
        (left, used_left), (right, used_right) = _interval(a, x, pack, rate), _interval(x, b, pack, rate)
        if left + right > _interval(a, b, pack, rate)[0] and max(used_left, used_right) > burst * rate:
            continue
        kept.append(x)
    kept.append(readings[-1])
    return kept


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


def delivered_rate(deliveries: Sequence[Delivery], since: datetime) -> float | None:
    """Units delivered a day: the deliveries since `since` before the newest one, over the days from `since`
    until the newest arrived (None with fewer than two deliveries)."""
    arrivals = sorted((d for d in deliveries if d.at >= since), key=lambda d: d.at)
    if len(arrivals) < 2:
        return None
    days = (arrivals[-1].at - since) / _DAY
    return sum(d.quantity for d in arrivals[:-1]) / days if days > 0 else None


def _opened(readings: Sequence[Reading], full: float) -> int | None:
    """Index of the first reading above `full`: a pack seen opened (sensor noise on an empty one is not)."""
    return next((i for i, r in enumerate(readings) if r.value > full), None)


def _cycles(
    readings: Sequence[Reading], deliveries: Sequence[Delivery], pack_size: float
) -> list[tuple[Delivery, datetime]]:
    """The deliveries (since the first reading) that ran out, oldest first, each with when: seen opened (the
    container well above empty after it arrived), then empty for longer than the household goes without using
    it (`_ran_out`), before the next delivery. One that arrived at an empty container not used for days was
    not used up."""
    arrivals = sorted((d for d in deliveries if d.at >= readings[0].at), key=lambda d: d.at)
    cycles = []
    for k, arrival in enumerate(arrivals):
        until = arrivals[k + 1].at if k + 1 < len(arrivals) else readings[-1].at + _DAY
        after = [r for r in readings if arrival.at < r.at < until]
        opened = _opened(after, RISE_PACKS * pack_size)
        if opened is None:
            continue
        out = _ran_out(after[opened:], readings, EMPTY_PACKS * pack_size)
        if out is not None:
            cycles.append((arrival, out))
    return cycles


def _cycle_rate(readings: Sequence[Reading], cycles: Sequence[tuple[Delivery, datetime]]) -> float:
    """Use a day over the newest delivery that ran out within the rate's window: its quantity and the level before it
    arrived, used between its arrival and the run-out (0 if none ran out; an old cycle says little about today).

    A lower bound: the shelf may have held more when it arrived. It stands when the balance cannot see the
    loads at all (a pack or more used between two readings, the level at zero whenever it is read).
    """
    for arrival, out in reversed(cycles):
        if out < readings[-1].at - timedelta(days=WINDOW_DAYS):
            break
        before = [r for r in readings if r.at <= arrival.at]
        held = arrival.quantity + (before[-1].value if before else 0.0)
        return held / max((out - arrival.at) / _DAY, 1.0)
    return 0.0


def _shelf(
    pairs: Sequence[tuple[Reading, Reading]],
    loads: Sequence[int],
    deliveries: Sequence[Delivery],
    pack: float,
    rate: float,
    outs: Sequence[datetime] = (),
) -> tuple[float, float]:
    """Delivered units not loaded: deliveries since the first reading, less the packs loaded after each arrived;
    and what the ledger leaves instead (the level when the counted shelf was last empty, plus deliveries since,
    less the use at `rate` and the level now). A load missed costs the count a whole pack, the ledger only
    its rate's error over the days since.

    A delivery older than the readings is taken as loaded (as in hub.domain.credit). A load with nothing on
    the shelf is held for DELIVERY_GRACE: the sensor may see a pack opened before the shop reports it delivered.
    """
    if not pairs:
        return 0.0, 0.0
    first = pairs[0][0]
    arrivals = sorted((d for d in deliveries if d.at >= first.at), key=lambda d: d.at)
    waiting: list[tuple[datetime, int]] = []
    shelf, i = 0.0, 0
    empty, since = first, 0.0  # the reading at which the counted shelf was last empty; delivered since
    pending = sorted(outs)
    for (_, b), packs in zip(pairs, loads, strict=True):
        if pending and pending[0] <= b.at:
            # The container ran out here with nothing on the shelf (see `count`).
            while pending and pending[0] <= b.at:
                pending.pop(0)
            shelf, waiting = 0.0, []
        while i < len(arrivals) and arrivals[i].at <= b.at:
            shelf += arrivals[i].quantity
            since += arrivals[i].quantity
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
        if shelf <= 0:
            empty, since = b, 0.0
    last = pairs[-1][1]
    ledger = max(empty.value + since - rate * (last.at - empty.at) / _DAY - last.value, 0.0)
    # Deliveries recorded after the newest reading have not been seen loaded yet.
    later = sum(d.quantity for d in arrivals[i:])
    return shelf + later, ledger + later
