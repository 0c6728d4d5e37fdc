"""bench/replenish's perfect-foresight bound: the programme finds the best schedule, and that schedule is real."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from bench.replenish.bound import perfect_foresight
from bench.replenish.policies import DayPolicy, Observation
from bench.replenish.sim import simulate
from bench.replenish.traces import Trace

PACK = 10.0


def small_trace(seed: int, days: int = 24) -> Trace:
    rng = random.Random(seed)
    used = tuple(float(rng.choice((0, 1, 2, 3, 4))) for _ in range(days))
    lead = tuple(rng.randint(1, 4) for _ in range(days))
    first = min(d + wait for d, wait in enumerate(lead))
    # Enough to last until the first delivery could come: otherwise no schedule avoids a stock-out.
    start = max(float(rng.randint(4, 12)), sum(used[:first]))
    return Trace(
        name=f"small-{seed}", scenario="small", unit="count", pack_size=PACK, used=used, refill=(0.0,) * days,
        start_level=start, load_below=0.0, lead=lead, noise=(0.0,) * days, spike=(0.0,) * days,
        online=(True,) * days, step=0.0,
    )


def schedule_cost(trace: Trace, arrivals: tuple[int, ...]) -> tuple[float, list[float]] | None:
    """Mean stock of delivering on `arrivals` just enough whole packs to last until the next (None: a stock-out)."""
    level, position = trace.start_level, []
    for used in trace.used:
        level -= used
        position.append(level)
    bounds = [*arrivals, trace.days]
    if any(p < -1e-9 for p in position[: bounds[0]]):
        return None
    delivered, quantities, stock = 0.0, [], []
    for start, end in itertools.pairwise(bounds):
        worst = max(-p for p in position[:end])
        target = PACK * math.ceil(worst / PACK - 1e-9) if worst > 1e-9 else 0.0
        quantities.append(max(target - delivered, 0.0))
        delivered = max(delivered, target)
        stock.extend(p + delivered for p in position[start:end])
    return sum(position[: bounds[0]]) / trace.days + sum(stock) / trace.days, quantities


def best_by_brute_force(trace: Trace, orders: int) -> tuple[float, tuple[int, ...], list[float]] | None:
    reachable = sorted({d + lead for d, lead in enumerate(trace.lead) if d + lead < trace.days})
    best = None
    for k in range(orders + 1):
        for arrivals in itertools.combinations(reachable, k):
            found = schedule_cost(trace, arrivals)
            if found is not None and (best is None or found[0] < best[0] - 1e-9):
                best = (found[0], arrivals, found[1])
    return best


@pytest.mark.parametrize("seed", range(6))
def test_the_programme_finds_the_least_stock_for_each_number_of_orders(seed: int) -> None:
    trace = small_trace(seed)
    bound = perfect_foresight(trace, 4)
    for orders in range(5):
        brute = best_by_brute_force(trace, orders)
        if brute is None:
            assert bound.mean_stock[orders] is None
        else:
            assert bound.mean_stock[orders] == pytest.approx(brute[0])
    assert bound.fewest_orders == min(k for k in range(5) if best_by_brute_force(trace, k) is not None)


class Scripted(DayPolicy):
    """Orders on given days (perfect foresight needs no observation)."""

    def __init__(self, plan: dict[int, float]) -> None:
        self.plan = plan

    def step(self, obs: Observation) -> float:
        return self.plan.get(obs.day, 0.0)


@pytest.mark.parametrize("seed", range(4))
def test_the_bound_is_a_schedule_the_simulator_can_run(seed: int) -> None:
    # Replayed through the bench's own simulation, the best schedule has no stock-out and holds exactly the
    # bound: the bound is reachable, not just a number below every policy.
    trace = small_trace(seed)
    orders = perfect_foresight(trace, 3).fewest_orders + 1
    brute = best_by_brute_force(trace, orders)
    assert brute is not None
    stock, arrivals, quantities = brute
    plan = {}
    for arrival, quantity in zip(arrivals, quantities, strict=True):
        if quantity > 0:
            day = next(d for d, lead in enumerate(trace.lead) if d + lead == arrival)
            plan[day] = quantity
    result = simulate(trace, "perfect foresight", Scripted(plan))
    assert result.stockout_days == 0
    assert result.mean_stock_days * trace.avg_use == pytest.approx(stock)
    assert perfect_foresight(trace, orders).at(result.orders) == pytest.approx(stock)
