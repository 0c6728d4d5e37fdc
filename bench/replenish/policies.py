"""The policies run side by side: restock's real domain policy and the usual alternatives.

Every policy gets one observation a day and answers with the units to order (0: none). The alternatives are
given what a careful household would set them to *plus* two things restock is not given: the true yearly
average use, and the true number of delivered packs waiting on the shelf.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bench.replenish.traces import Trace
from hub.domain.credit import Delivery
from hub.domain.readings import Reading
from hub.domain.replenish import SlotPolicy, evaluate

# The household's settings, shared by every threshold policy: the merchant quotes five days (real: 2-7).
LEAD_DAYS = 5.0
SAFETY_DAYS = 3.0
TARGET_DAYS = 30.0
# Max stock: room for about four months of use, at least three packs. (With room for exactly three months a
# quarterly order never fits: something is always left when it arrives.)
CUPBOARD_DAYS = 120.0
HISTORY_DAYS = 180  # readings the hub hands to the domain on each evaluation (it passes its last 500)
MONTH_DAYS = 365.0 / 12.0


@dataclass(frozen=True)
class Observation:
    """What a policy can see at the end of a day."""

    day: int
    now: datetime
    reading: Reading | None  # today's sensor reading, if the sensor was online
    on_order: float  # units ordered and not yet delivered
    shelf: float  # true delivered units not yet loaded on the sensor (restock does not use this)
    delivered: tuple[Delivery, ...]  # deliveries that arrived today, as the hub records them


class DayPolicy:
    """A policy's state for one trace."""

    def step(self, obs: Observation) -> float:
        """Units to order now (0 for none)."""
        raise NotImplementedError


PolicyFactory = Callable[[Trace], DayPolicy]


def max_stock(trace: Trace) -> float:
    """The household's cupboard cap for the slot."""
    packs = max(3, math.ceil(CUPBOARD_DAYS * trace.avg_use / trace.pack_size))
    return packs * trace.pack_size


class Restock(DayPolicy):
    """restock's policy: hub.domain.replenish.evaluate on the readings the sensor actually sent."""

    def __init__(self, trace: Trace) -> None:
        self.policy = SlotPolicy(
            pack_size=trace.pack_size,
            max_stock=max_stock(trace),
            lead_time_days=LEAD_DAYS,
            safety_days=SAFETY_DAYS,
            target_days=TARGET_DAYS,
        )
        self.readings: list[Reading] = []
        self.deliveries: list[Delivery] = []

    def step(self, obs: Observation) -> float:
        """Feed today's reading and deliveries to the domain and follow its decision."""
        if obs.reading is not None:
            self.readings.append(obs.reading)
        self.deliveries.extend(obs.delivered)
        since = obs.now - timedelta(days=HISTORY_DAYS)
        recent = [r for r in self.readings[-HISTORY_DAYS * 2 :] if r.at >= since]
        result = evaluate(recent, self.policy, obs.now, deliveries=self.deliveries, on_order=obs.on_order)
        return result.decision.quantity if result.decision.action == "order" else 0.0


class Subscription(DayPolicy):
    """Fixed-interval subscription: whole packs covering the yearly average use of one interval."""

    def __init__(self, trace: Trace, months: int) -> None:
        self.every = months * MONTH_DAYS
        self.quantity = max(1, math.ceil(trace.avg_use * self.every / trace.pack_size)) * trace.pack_size
        self.shipped = 0

    def step(self, obs: Observation) -> float:
        """Ship on day 0 and every interval after."""
        if obs.day >= round(self.shipped * self.every):
            self.shipped += 1
            return self.quantity
        return 0.0


class MinStock(DayPolicy):
    """Reorder point on the latest reading plus true shelf stock, sized from the true average use."""

    def __init__(self, trace: Trace, consecutive: int = 1) -> None:
        self.threshold = trace.avg_use * (LEAD_DAYS + SAFETY_DAYS)
        self.quantity = max(1, math.ceil(trace.avg_use * TARGET_DAYS / trace.pack_size)) * trace.pack_size
        self.consecutive = consecutive
        self.low = 0
        self.last: float | None = None

    def step(self, obs: Observation) -> float:
        """Order when the last `consecutive` readings were all below the reorder point."""
        if obs.reading is not None:
            self.last = obs.reading.value
            self.low = self.low + 1 if obs.reading.value + obs.shelf < self.threshold else 0
        elif self.last is not None and self.consecutive == 1:
            # No new reading: the plain threshold keeps judging the last one against today's shelf.
            self.low = 1 if self.last + obs.shelf < self.threshold else 0
        if obs.on_order <= 0 and self.low >= self.consecutive:
            self.low = 0
            return self.quantity
        return 0.0


def _sub(months: int) -> PolicyFactory:
    return lambda trace: Subscription(trace, months)


POLICIES: dict[str, PolicyFactory] = {
    "subscription 1 mo": _sub(1),
    "subscription 2 mo": _sub(2),
    "subscription 3 mo": _sub(3),
    "min-stock threshold": lambda trace: MinStock(trace),
    "3 low readings": lambda trace: MinStock(trace, consecutive=3),
    "restock": Restock,
}
RESTOCK = "restock"
SUBSCRIPTIONS = ("subscription 1 mo", "subscription 2 mo", "subscription 3 mo")
