"""The perfect-foresight bound: the least stock on hand any policy placing a given number of orders could hold.

The bound knows the trace's whole future use and the real lead time an order placed on each day would get, so
it can make every delivery arrive the day stock would run out, sized in whole packs to last until the next.
With at most `k` orders and no stock-out day allowed, it picks the arrival days that minimise the stock held
over the year. Stock on hand at the end of day t is the trace's own position (start level plus manual refills
minus use) plus everything delivered so far, so minimising stock is minimising the cumulative delivered
quantity summed over the days. The cumulative quantity only has to be a whole number of packs covering the
largest shortfall up to the next arrival, so the cost of a delivery interval [a, b) is (b - a) * L(b) with
L(b) the packs needed through day b - 1. The best split into k intervals is a dynamic programme; each step
is a lower envelope of lines (a convex hull trick), so the whole curve costs O(k * days).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bench.replenish.traces import Trace

_EPS = 1e-9


@dataclass(frozen=True)
class Bound:
    """Least mean stock on hand (units) for each number of orders 0..len-1; None where no schedule avoids a
    stock-out with that few orders."""

    mean_stock: tuple[float | None, ...]
    fewest_orders: int  # the fewest orders that avoid every stock-out

    def at(self, orders: int) -> float:
        """The bound for `orders` orders; a policy that placed fewer than any stock-out-free schedule needs is
        compared with the fewest that do (it paid for its few orders with stock-outs, not with skill)."""
        k = min(max(orders, self.fewest_orders), len(self.mean_stock) - 1)
        value = self.mean_stock[k]
        assert value is not None
        return value


def _positions(trace: Trace) -> list[float]:
    """End-of-day stock if nothing were ever delivered (negative: a shortfall deliveries must cover)."""
    level, positions = trace.start_level, []
    for used, refill in zip(trace.used, trace.refill, strict=True):
        level += refill - used
        positions.append(level)
    return positions


def _arrivals(trace: Trace) -> list[bool]:
    """Days on which some order placed on or after day 0 can arrive."""
    reachable = [False] * (trace.days + 1)
    for day, lead in enumerate(trace.lead):
        if day + lead < trace.days:
            reachable[day + lead] = True
    return reachable


def _levels(positions: Sequence[float], pack: float) -> list[float]:
    """levels[b]: the cumulative delivered units, in whole packs, that keep days 0..b-1 free of stock-outs."""
    levels, worst = [0.0], 0.0
    for position in positions:
        worst = max(worst, -position)
        levels.append(pack * math.ceil(worst / pack - _EPS) if worst > _EPS else 0.0)
    return levels


def perfect_foresight(trace: Trace, max_orders: int) -> Bound:
    """The bound for 0..max_orders orders on `trace`."""
    positions = _positions(trace)
    reachable = _arrivals(trace)
    first = next((d for d, ok in enumerate(reachable) if ok), trace.days)
    levels = _levels(positions, trace.pack_size)
    if levels[first] > 0:
        # The trace runs dry before any order could arrive: lend it that stock, so the bound measures what
        # ordering can change and not what nobody could have prevented.
        lent = -min(positions[:first])
        positions = [p + lent for p in positions]
        levels = _levels(positions, trace.pack_size)
    base = sum(positions)
    days = trace.days
    inf = math.inf
    # best[b]: least sum of the cumulative delivered quantity over days 0..b-1 with at most k orders so far.
    best = [0.0 if levels[b] <= 0 else inf for b in range(days + 1)]
    curve: list[float | None] = [None if best[days] == inf else (base + best[days]) / days]
    for _k in range(max_orders):
        best = _one_more_order(best, levels, reachable)
        curve.append(None if best[days] == inf else (base + best[days]) / days)
    fewest = next((k for k, v in enumerate(curve) if v is not None), len(curve))
    if fewest == len(curve):
        # Not even max_orders orders avoid a stock-out: extend until some number does (always, eventually).
        extended = perfect_foresight(trace, max_orders * 2 + 1)
        return Bound(extended.mean_stock[: max(max_orders, extended.fewest_orders) + 1], extended.fewest_orders)
    return Bound(tuple(curve), fewest)


def _one_more_order(best: list[float], levels: list[float], reachable: list[bool]) -> list[float]:
    """One step of the programme: best with at most one more delivery interval.

    new[b] = min(best[b], min over arrival days a < b of best[a] + (b - a) * levels[b]). For a fixed b that
    is b * levels[b] + min over a of (best[a] - a * levels[b]): the lowest of the lines y = -a * x + best[a]
    at x = levels[b]. Lines come in with falling slopes and x only grows with b, so a deque that drops lines
    from the front once a later one is lower answers every query in amortised constant time.
    """
    days = len(best) - 1
    new = list(best)
    slopes: list[float] = []
    cuts: list[float] = []
    head = 0
    for b in range(1, days + 1):
        a = b - 1
        if reachable[a] and best[a] < math.inf:
            m, c = -float(a), best[a]
            while len(slopes) - head >= 2:
                m1, c1 = slopes[-2], cuts[-2]
                m2, c2 = slopes[-1], cuts[-1]
                # The middle line is never the lowest if the new one undercuts it where it meets the older.
                if (c - c1) * (m1 - m2) <= (c2 - c1) * (m1 - m):
                    slopes.pop()
                    cuts.pop()
                else:
                    break
            slopes.append(m)
            cuts.append(c)
        if len(slopes) > head:
            x = levels[b]
            while len(slopes) - head >= 2 and slopes[head + 1] * x + cuts[head + 1] <= slopes[head] * x + cuts[head]:
                head += 1
            new[b] = min(best[b], b * x + slopes[head] * x + cuts[head])
    return new
