"""Day-by-day simulation of one slot under one policy, and the side-by-side run over many traces.

Stock lives in two places: the container on the sensor and the shelf (delivered packs not loaded yet). The
household uses from the container and loads the next pack from the shelf when the container runs low; the
sensor reports the container once a day with its noise, glitches and offline days; orders arrive after the
lead time drawn for the day they were placed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from bench.replenish.bound import perfect_foresight
from bench.replenish.policies import POLICIES, DayPolicy, Observation
from bench.replenish.traces import Trace
from hub.domain.credit import Delivery
from hub.domain.readings import Reading

START = datetime(2025, 1, 1, tzinfo=UTC)
READ_AT = timedelta(hours=20)  # the sensor's daily report
DECIDE_AT = timedelta(hours=20, minutes=5)  # the hub's evaluation right after it
ARRIVE_AT = timedelta(hours=10)  # deliveries come in the morning
EPS = 1e-9


@dataclass(frozen=True)
class Result:
    """One policy on one trace."""

    trace: str
    scenario: str
    policy: str
    stockout_days: int
    mean_stock_days: float  # mean stock on hand, in days of the trace's average use
    orders: int
    bound_days: float  # the perfect-foresight bound at this policy's order count, in days of average use
    stock: tuple[float, ...]  # stock on hand at the end of each day (container + shelf)
    readings: tuple[tuple[int, float], ...]  # (day, value) the sensor sent


def _reading(trace: Trace, day: int, container: float) -> float:
    value = container + trace.noise[day] + trace.spike[day]
    if trace.step > 0:
        value = round(value / trace.step) * trace.step
    return max(value, 0.0)


def simulate(trace: Trace, policy_name: str, policy: DayPolicy | None = None) -> Result:
    """Run one year of `trace` under the named policy (or the given one, reported under that name)."""
    if policy is None:
        policy = POLICIES[policy_name](trace)
    pack = trace.pack_size
    container, shelf, on_order = trace.start_level, 0.0, 0.0
    arrivals: dict[int, list[tuple[float, datetime]]] = defaultdict(list)
    stock: list[float] = []
    readings: list[tuple[int, float]] = []
    stockouts = orders = 0
    for day in range(trace.days):
        midnight = START + timedelta(days=day)
        delivered = []
        for quantity, ordered_at in arrivals.pop(day, []):
            shelf += quantity
            on_order -= quantity
            delivered.append(Delivery(midnight + ARRIVE_AT, quantity, ordered_at))
        container += trace.refill[day]
        need = trace.used[day]
        while True:
            take = min(need, container)
            container -= take
            need -= take
            if need <= EPS or shelf <= EPS:
                break
            moved = min(pack, shelf)  # the container ran dry: open the next pack
            container, shelf = container + moved, shelf - moved
        if need > EPS:
            stockouts += 1
        if container < trace.load_below and shelf > EPS:
            moved = min(pack, shelf)
            container, shelf = container + moved, shelf - moved
        reading = None
        if trace.online[day]:
            value = _reading(trace, day, container)
            reading = Reading(midnight + READ_AT, value)
            readings.append((day, value))
        obs = Observation(day, midnight + DECIDE_AT, reading, max(on_order, 0.0), shelf, tuple(delivered))
        quantity = policy.step(obs)
        if quantity > 0:
            orders += 1
            on_order += quantity
            arrivals[day + trace.lead[day]].append((quantity, obs.now))
        stock.append(container + shelf)
    return Result(
        trace=trace.name,
        scenario=trace.scenario,
        policy=policy_name,
        stockout_days=stockouts,
        mean_stock_days=sum(stock) / len(stock) / trace.avg_use,
        orders=orders,
        bound_days=0.0,  # filled in by run(), which computes the trace's bound once for every policy
        stock=tuple(stock),
        readings=tuple(readings),
    )


def _all_policies(trace: Trace) -> list[Result]:
    results = [simulate(trace, name) for name in POLICIES]
    bound = perfect_foresight(trace, max(r.orders for r in results))
    return [replace(r, bound_days=bound.at(r.orders) / trace.avg_use) for r in results]


def run(traces: Sequence[Trace], workers: int = 1) -> list[Result]:
    """Every policy on every trace, in trace then policy order (independent of `workers`)."""
    if workers <= 1:
        per_trace = [_all_policies(trace) for trace in traces]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            per_trace = list(pool.map(_all_policies, traces, chunksize=4))
    return [result for results in per_trace for result in results]
