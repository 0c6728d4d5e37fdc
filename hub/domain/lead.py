"""Delivery lead times learnt per shop from a slot's own delivered orders: promised vs. actual (pure, stdlib only).

The household enters the lead time a shop usually needs, and the shop promises a date for each order; each
delivered order shows what it really took, and how late it was against its promise. The policy
plans with the longest of the shop's recent real lead times when that is longer than the promise (a slow week
is what empties a slot). A shop that beats its promise does not earn a shorter plan: a handful of quick
deliveries says little about the slow one that comes next, and a late delivery costs a stock-out while an
early one only costs a few days of stock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from hub.domain.credit import Delivery

# Real lead times are learnt from this many of the shop's latest deliveries.
LEAD_SAMPLES = 6
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class LeadTime:
    """What a delivery from the slot's shop takes: promised, seen (shortest and longest) and planned for."""

    promised: float
    low: float  # the shortest recent real lead time (the promise while there is none)
    high: float  # the longest recent real lead time (the promise while there is none)
    plan: float  # what the reorder timing uses
    samples: int  # delivered orders of this shop the figures come from
    shop: str | None = None
    late: float | None = None  # the most the shop was late against its own promised date, days (None: no promise)

    @property
    def text(self) -> str:
        """The lead time in a household's words: 'delivery takes 3-5 days' or 'delivery takes about 5 days'."""
        # From the fastest delivery seen to the time planned for (the promise while it is the longer one).
        low, high = _whole_days(self.low), _whole_days(max(self.high, self.plan))
        if not self.samples:
            return f"delivery takes about {_days(_whole_days(self.plan))}"
        if low == high:
            return f"delivery takes {_days(high)}"
        return f"delivery takes {low}-{_days(high)}"


    @property
    def record(self) -> str:
        """What the shop's deliveries to this slot showed, and what the policy plans with."""
        plan = _days(_whole_days(self.plan))
        if not self.samples:
            return f"no delivery yet; planning with {plan}"
        low, high = _whole_days(self.low), _whole_days(self.high)
        took = _days(high) if low == high else f"{low}-{_days(high)}"
        orders = "the last delivery" if self.samples == 1 else f"the last {self.samples} deliveries"
        text = f"{orders} took {took}"
        if self.late is not None:
            late = _whole_days(self.late)
            text += f", up to {_days(late)} later than promised" if late else ", as promised"
        return f"{text}; planning with {plan}"


def _whole_days(days: float) -> int:
    # Lead times are counted in whole days as a household counts them, by the calendar: ordered Monday evening and
    # delivered Wednesday morning (1.6 days) is "2 days", 4 days and an hour is "4 days".
    return max(0, math.floor(days + 0.5))


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def promised_only(promised: float, shop: str | None = None) -> LeadTime:
    """The lead time of a shop that has delivered nothing to this slot yet: its promise."""
    return LeadTime(promised, promised, promised, promised, 0, shop)


def learn(deliveries: Iterable[Delivery], promised: float, shop: str | None = None) -> LeadTime:
    """The shop's lead time from its latest delivered orders that know when they were ordered.

    With `shop` None every delivery counts (a slot whose orders all go to one shop, as in the benchmark).
    """
    own = sorted(
        (d for d in deliveries if d.ordered_at is not None and (shop is None or d.shop == shop)),
        key=lambda d: d.at,
    )[-LEAD_SAMPLES:]
    waits = [max((d.at - d.ordered_at) / _DAY, 0.0) for d in own if d.ordered_at is not None]
    if not waits:
        return promised_only(promised, shop)
    longest = max(waits)
    lateness = [(d.at - d.promised) / _DAY for d in own if d.promised is not None]
    late = max(max(lateness), 0.0) if lateness else None
    return LeadTime(promised, min(waits), longest, max(longest, promised), len(waits), shop, late)
