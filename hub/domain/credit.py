"""Crediting delivered stock the sensor cannot see yet, and learning real lead times (pure, stdlib only).

A delivered pack usually waits in the cupboard until the one on the sensor runs out, so the sensor alone
would make the slot look empty and order again. Delivered stock is therefore credited as *shelf* stock
until a refill on the sensor shows it loaded. The asymmetry drives every choice here: forgetting shelf
stock only brings the next order forward, imagining shelf stock that is gone causes a stock-out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.domain.readings import CleanSeries, Refill, median

# A refill explains whole packs of delivered stock: a bottle swap shows a jump a little under a pack (the
# rest of the old bottle), so 0.8 pack counts as one; rounding up errs towards forgetting shelf stock.
ATTRIBUTION_SLACK = 0.25
# The sensor may see a delivery loaded before the merchant reports it delivered.
DELIVERY_GRACE = timedelta(days=2)
# This much more use than the level shows (share of a pack) means a pack was loaded without a visible jump.
HIDDEN_PACKS = 0.5
# Real lead times are learnt from this many of the latest deliveries (their longest one is used).
LEAD_SAMPLES = 6
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Delivery:
    """Stock that arrived from a delivered order; `ordered_at` lets the policy learn real lead times."""

    at: datetime
    quantity: float
    ordered_at: datetime | None = None


def shelf_stock(
    deliveries: Iterable[Delivery],
    refills: Iterable[Refill],
    *,
    pack_size: float,
    since: datetime,
    now: datetime,
) -> float:
    """Delivered stock not yet seen on the sensor: deliveries since `since` minus the refills they explain."""
    # Deliveries older than the readings we were given are taken as loaded: we could not see their refills.
    kept = [d for d in sorted(deliveries, key=lambda d: d.at) if since <= d.at <= now]
    left = [d.quantity for d in kept]
    for refill in sorted(refills, key=lambda r: r.at):
        if refill.at > now:
            continue
        take = max(1, math.ceil(refill.amount / pack_size - ATTRIBUTION_SLACK)) * pack_size
        for i, delivery in enumerate(kept):
            if take <= 0:
                break
            if delivery.at <= refill.at + DELIVERY_GRACE and left[i] > 0:
                used = min(left[i], take)
                left[i] -= used
                take -= used
    return sum(left)


def hidden_refills(series: CleanSeries, rate_per_day: float | None, pack_size: float) -> tuple[Refill, ...]:
    """Refills without a visible jump: over a gap or a segment, the level fell far less than the rate says."""
    if not rate_per_day:
        return ()
    limit = HIDDEN_PACKS * pack_size
    found = []
    for gap in series.gaps:  # loaded while the sensor was offline
        unseen = rate_per_day * gap.days - (gap.before - gap.after)
        if unseen > limit:
            found.append(Refill(at=gap.end, before=gap.after - unseen, after=gap.after))
    for segment in series.segments:
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
            found.append(Refill(at=segment[-1].at, before=end - unseen, after=end))
    return tuple(found)


def looks_empty(series: CleanSeries, level: float) -> bool:
    """True when the last two accepted readings are both at or below `level` (the container sits empty)."""
    readings = series.readings[-2:]
    return len(readings) == 2 and all(r.value <= level for r in readings)


def lead_days(deliveries: Iterable[Delivery]) -> float | None:
    """The longest lead time among the latest deliveries that know when they were ordered."""
    samples = [d for d in deliveries if d.ordered_at is not None]
    samples.sort(key=lambda d: d.at)
    # The longest, not the mean: the merchant's slow weeks are what empties a slot.
    waits = [(d.at - d.ordered_at) / _DAY for d in samples[-LEAD_SAMPLES:] if d.ordered_at is not None]
    return max(waits) if waits else None
