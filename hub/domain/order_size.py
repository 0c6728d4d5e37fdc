"""How many packs one replenishment order brings: deliveries traded against stock on hand (pure, stdlib only).

An economic-order-quantity rule in whole packs. Every delivery has a cost (a fee, a parcel to take in, a box
to recycle) and every pack waiting in the cupboard has one too (space, money spent early). Ordering n packs of
a slot that uses up a pack in P days costs, per day, one delivery every n*P days plus about n/2 packs on hand:
W / (n * P) + n / 2 in pack-days, where W is what one delivery is worth in pack-days of cupboard. The best n
is the smallest with n * (n + 1) >= 2 * W / P: slots that empty a pack quickly get several packs per order,
slow ones a single pack. The household sets W with one slider, "fewer deliveries" against "less in the
cupboard"; the max-stock cap (applied by the caller) bounds it from above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# What one delivery is worth, in pack-days of cupboard, at the two ends of the household's setting. The
# default (the middle, 100) gives a slot using a pack a month three packs per order (a delivery a quarter,
# if the cupboard has room), one using a pack a fortnight four, and a pack lasting three months two.
LEAST_STOCK_WEIGHT = 10.0
FEWEST_DELIVERIES_WEIGHT = 1000.0
DEFAULT_TRADEOFF = 0.8
YEAR_DAYS = 365.0


@dataclass(frozen=True, slots=True)
class OrderPlan:
    """What one order brings and how long it lasts at the expected rate."""

    packs: int
    days: float  # days of use one order covers
    per_year: float  # orders a year at this size

    @property
    def text(self) -> str:
        """The plan in a household's words, e.g. '2 packs per order, about 9 weeks each (6 a year)'."""
        packs = f"{self.packs} pack{'s' if self.packs != 1 else ''} per order"
        weeks = self.days / 7.0
        lasts = f"{round(self.days)} days" if weeks < 3 else f"{round(weeks)} weeks"
        return f"{packs}, about {lasts} each ({self.per_year:.0f} a year)"


def delivery_weight(tradeoff: float) -> float:
    """Pack-days of cupboard one delivery is worth: geometric between the ends (0 = least stock)."""
    x = min(max(tradeoff, 0.0), 1.0)
    return float(LEAST_STOCK_WEIGHT * (FEWEST_DELIVERIES_WEIGHT / LEAST_STOCK_WEIGHT) ** x)


def economic_packs(rate_per_day: float, pack_size: float, tradeoff: float, *, min_days: float = 0.0) -> int:
    """Packs per order minimising delivery and cupboard cost per day; at least one, and at least `min_days` of use."""
    if not rate_per_day > 0 or not math.isfinite(rate_per_day):
        return 1
    pack_days = pack_size / rate_per_day
    ratio = 2.0 * delivery_weight(tradeoff) / pack_days
    best = math.ceil((-1.0 + math.sqrt(1.0 + 4.0 * ratio)) / 2.0 - 1e-9)  # smallest n with n (n + 1) >= ratio
    floor = math.ceil(min_days / pack_days - 1e-9) if min_days > 0 else 1
    return max(1, best, floor)


def plan(packs: int, rate_per_day: float, pack_size: float) -> OrderPlan | None:
    """How long `packs` last at `rate_per_day` and how many such orders a year makes (None without use)."""
    if not rate_per_day > 0 or packs < 1:
        return None
    days = packs * pack_size / rate_per_day
    return OrderPlan(packs, days, YEAR_DAYS / days)
