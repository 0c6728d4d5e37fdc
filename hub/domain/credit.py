"""Crediting delivered stock the sensor cannot see yet (pure, stdlib only).

A delivered pack usually waits in the cupboard until the one on the sensor runs out, so the sensor alone
would make the slot look empty and order again. Delivered stock is therefore credited as *shelf* stock
until a refill on the sensor shows it loaded. The asymmetry drives every choice here: forgetting shelf
stock only brings the next order forward, imagining shelf stock that is gone causes a stock-out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.domain.readings import CleanSeries, Reading, Refill, median

# A refill explains whole packs of delivered stock: a bottle swap shows a jump a little under a pack (the
# rest of the old bottle), so 0.8 pack counts as one; rounding up errs towards forgetting shelf stock.
ATTRIBUTION_SLACK = 0.25
# The sensor may see a delivery loaded before the merchant reports it delivered.
DELIVERY_GRACE = timedelta(days=2)
# This much more use than the level shows (share of a pack) means a pack was loaded without a visible jump.
HIDDEN_PACKS = 0.5
# A pack goes into a container that is nearly empty: at most this share of a pack is left in it (a bottle
# swapped with a little left in the old one, a hopper topped up just before it runs dry).
LOAD_LOW = 0.35
# Use between two readings may exceed the average rate this many times (the weekly wash day, a party).
BURST = 8.0
# Sensor noise on the level after a load, share of a pack.
LOAD_NOISE = 0.1
# An empty container with a pack credited on the shelf: the credit is dropped once this many typical uses
# (the series' usual step between readings) should have happened meanwhile; a household loads the next pack
# when it needs it, so a cycle counter may sit at zero for days until the next wash.
EMPTY_USES = 3.0
# How far back the household's longest stretch without use is looked for: four weeks, whole weekly cycles.
QUIET_WINDOW_DAYS = 28.0
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Delivery:
    """Stock that arrived from a delivered order; `ordered_at`, the shop's `promised` date and the `shop` let the
    policy learn real lead times."""

    at: datetime
    quantity: float
    ordered_at: datetime | None = None
    shop: str | None = None
    promised: datetime | None = None


def loaded_packs(refill: Refill, pack_size: float, rate_high: float | None = None) -> int:
    """Whole packs a refill took from the shelf: 0 when the rise cannot be packs put into a nearly empty container.

    Loading n packs into a container holding b (at most LOAD_LOW of a pack) between two readings shows a rise of
    n packs less the use u between the readings, from a level before of at most b + u, to a level after of at
    most b + n packs (use after the load only lowers it). A rise far short of whole packs (more than a burst of
    use could explain: a glitch on a reading), or one from a container that was far from empty (a glitch up, or
    a pack bought elsewhere put on top), took nothing from the shelf. Without a rate every rise that lands near
    whole packs counts, as forgetting shelf stock is the cheaper mistake.
    """
    packs = max(1, math.ceil(refill.amount / pack_size - ATTRIBUTION_SLACK))
    low = LOAD_LOW * pack_size
    noise = LOAD_NOISE * pack_size
    if refill.after - packs * pack_size > low + noise:
        # More than the packs on top of a nearly empty container: the container was far from empty when the
        # stock went in, whatever a burst of use before the reading could have taken (a pack bought in a shop
        # and put on a half-full container, not a delivered one opened when it ran low).
        return 0
    if rate_high is None:
        return packs
    days = (refill.at - refill.since) / _DAY if refill.since is not None else 1.0
    burst = BURST * max(rate_high, 0.0) * max(days, 0.0)
    if packs * pack_size - refill.amount > burst + low or refill.before - burst > low + noise:
        return 0
    return packs


def shelf_stock(
    deliveries: Iterable[Delivery],
    refills: Iterable[Refill],
    *,
    pack_size: float,
    since: datetime,
    now: datetime,
    rate_high: float | None = None,
) -> float:
    """Delivered stock not yet seen on the sensor: deliveries since `since` minus the refills they explain."""
    return sum(
        left
        for _, left in credited(deliveries, refills, pack_size=pack_size, since=since, now=now, rate_high=rate_high)
    )


def credited(
    deliveries: Iterable[Delivery],
    refills: Iterable[Refill],
    *,
    pack_size: float,
    since: datetime,
    now: datetime,
    rate_high: float | None = None,
) -> list[tuple[Delivery, float]]:
    """Each delivery since `since`, oldest first, with the units of it the refills leave on the shelf."""
    # Deliveries older than the readings we were given are taken as loaded: we could not see their refills.
    kept = [d for d in sorted(deliveries, key=lambda d: d.at) if since <= d.at <= now]
    left = [d.quantity for d in kept]
    for refill in sorted(refills, key=lambda r: r.at):
        if refill.at > now:
            continue
        take = loaded_packs(refill, pack_size, rate_high) * pack_size
        for i, delivery in enumerate(kept):
            if take <= 0:
                break
            if delivery.at <= refill.at + DELIVERY_GRACE and left[i] > 0:
                used = min(left[i], take)
                left[i] -= used
                take -= used
    return list(zip(kept, left, strict=True))


def hidden_refills(
    series: CleanSeries, rate_per_day: float | None, pack_size: float, since: datetime | None = None
) -> tuple[Refill, ...]:
    """Refills without a visible jump: over a gap or a segment, the level fell far less than the rate says.

    Segments are judged from `since` on only: the rate is the recent one, and use that has grown since would
    make every older, quieter stretch look as if it had hidden a pack. Gaps are judged whenever they were:
    a pack loaded while the sensor was offline must stay loaded once the gap has left the rate's window,
    and a gap taken for a hidden load by mistake only brings an order forward.
    """
    if not rate_per_day:
        return ()
    limit = HIDDEN_PACKS * pack_size
    found = []
    # A rise seen across the gap is a refill of its own, counted by its jump: only the rest is hidden.
    shown = {refill.at: refill.amount for refill in series.refills}
    for gap in series.gaps:  # loaded while the sensor was offline
        unseen = rate_per_day * gap.days - (gap.before - gap.after) - max(shown.get(gap.end, 0.0), 0.0)
        if unseen > limit:
            found.append(Refill(gap.end, gap.after - unseen, gap.after, gap.start))
    for whole in series.segments:
        segment = whole if since is None else tuple(r for r in whole if r.at >= since)
        # Loaded on a busy day, so the rise hid under the day's use: the segment ends higher than its start
        # minus its use. Medians of three at each end keep the noise out; the sum telescopes, so only the
        # ends and the rate matter.
        if len(segment) < 6:
            continue
        head, tail = segment[:3], segment[-3:]
        days = (tail[1].at - head[1].at) / _DAY
        start, end = median(r.value for r in head), median(r.value for r in tail)
        unseen = end - start + rate_per_day * days
        if unseen > limit:
            found.append(Refill(segment[-1].at, end - unseen, end, segment[0].at))
    return tuple(found)


def looks_empty(
    series: CleanSeries, level: float, rate_per_day: float | None = None, *, since: datetime | None = None
) -> bool:
    """True when the container has sat at or below `level` for at least two readings and, given a rate, for
    long enough that the household would have needed the next pack (EMPTY_USES typical uses).

    Only the time since `since` (the newest delivery) counts: a pack that arrived while the container stood
    empty has had no chance to be opened before the household next needed it.
    """
    run = 0
    for reading in reversed(series.readings):
        if reading.value > level or (since is not None and reading.at < since):
            break
        run += 1
    if run < 2:
        return False
    first, last = series.readings[-run], series.readings[-1]
    if (last.at - first.at) / _DAY <= quiet_days(series.readings[: len(series.readings) - run + 1], level):
        # A household that uses the slot once a week leaves an almost empty container alone for a week
        # before it opens the next pack: not yet a sign that a pack went unseen.
        return False
    if rate_per_day is None:
        return True
    use = rate_per_day * (last.at - first.at) / _DAY
    return use >= EMPTY_USES * max(series.step, level)


def quiet_days(readings: Sequence[Reading], tolerance: float, window: float = QUIET_WINDOW_DAYS) -> float:
    """The longest stretch, in the last `window` days of `readings`, over which the level fell by no more than
    `tolerance`: how long this household goes without using the slot (a weekly wash: about six days)."""
    if not readings:
        return 0.0
    since = readings[-1].at - timedelta(days=window)
    recent = [r for r in readings if r.at >= since]
    longest, start = 0.0, 0
    for i in range(1, len(recent)):
        if recent[i].value > recent[i - 1].value + tolerance:  # a load: the quiet stretch starts again
            start = i
            continue
        while recent[start].value - recent[i].value > tolerance:
            start += 1
        longest = max(longest, (recent[i].at - recent[start].at) / _DAY)
    return longest
