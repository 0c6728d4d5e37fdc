"""Stock counted in whole packs for slots whose packs last days (hub.domain.packs, and its use in evaluate)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.domain.credit import Delivery
from hub.domain.packs import count
from hub.domain.readings import Reading
from hub.domain.replenish import SlotPolicy, evaluate

T0 = datetime(2025, 3, 1, 20, 0, tzinfo=UTC)
DAY = timedelta(days=1)
PACK = 200.0


Household = tuple[list[Reading], list[Delivery], float]


def household(uses: list[float], start: float, delivered: dict[int, int]) -> Household:
    """Daily readings of a container used by `uses`, the next pack opened whenever it runs dry; the deliveries
    (day -> packs, arriving that morning) and the true shelf stock at the end."""
    level, shelf = start, 0.0
    readings, deliveries = [], []
    for day, need in enumerate(uses):
        if day in delivered:
            shelf += delivered[day] * PACK
            deliveries.append(Delivery(T0 + day * DAY - timedelta(hours=10), delivered[day] * PACK))
        while need > 0:
            take = min(need, level)
            level -= take
            need -= take
            if need <= 0 or shelf <= 0:
                break
            level, shelf = level + PACK, shelf - PACK
        readings.append(Reading(T0 + day * DAY, level))
    return readings, deliveries, shelf


@settings(max_examples=150, deadline=None)
@given(
    uses=st.lists(st.floats(min_value=0.1 * PACK, max_value=0.4 * PACK), min_size=20, max_size=60),
    start=st.floats(min_value=0.5 * PACK, max_value=PACK),
    first=st.integers(min_value=1, max_value=8),
    packs=st.integers(min_value=1, max_value=30),
)
def test_packs_used_within_half_a_pack_a_reading_are_counted_exactly(
    uses: list[float], start: float, first: int, packs: int
) -> None:
    # With less than half a pack used between two readings (and no day of more than a burst, eight times the
    # usual use: a lone reading that needs more is taken for a glitch), every interval's whole number of packs
    # is the one that brings its change nearest the usual use, whatever the rate the count starts from.
    readings, deliveries, shelf = household(uses, start, {first: packs})
    counted = count(readings, deliveries, PACK, start_rate=0.0)
    assert counted is not None
    assert abs(counted.shelf - shelf) < 1e-6
    assert counted.shelf >= 0.0


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(st.floats(min_value=0.0, max_value=3 * PACK), min_size=3, max_size=40),
    delivered=st.lists(st.tuples(st.integers(min_value=0, max_value=40), st.integers(1, 10)), max_size=5),
    start_rate=st.floats(min_value=0.0, max_value=5 * PACK),
)
def test_the_shelf_is_never_negative_nor_more_than_was_delivered(
    values: list[float], delivered: list[tuple[int, int]], start_rate: float
) -> None:
    readings = [Reading(T0 + i * DAY, v) for i, v in enumerate(values)]
    deliveries = [Delivery(T0 + day * DAY - timedelta(hours=10), n * PACK) for day, n in delivered]
    counted = count(readings, deliveries, PACK, start_rate=start_rate)
    assert counted is not None
    assert 0.0 <= counted.shelf <= sum(d.quantity for d in deliveries if d.at >= readings[0].at) + 1e-9
    assert counted.rate >= 0.0 and counted.recent >= 0.0


def test_a_pack_opened_the_evening_before_the_shop_reports_the_delivery_is_counted_once() -> None:
    readings = [Reading(T0 + i * DAY, v) for i, v in enumerate([150.0, 90.0, 30.0, 170.0, 110.0, 50.0])]
    # The load shows between days 2 and 3; the shop records the delivery (three packs) on day 4.
    deliveries = [Delivery(T0 + 4 * DAY - timedelta(hours=2), 3 * PACK)]
    counted = count(readings, deliveries, PACK, start_rate=60.0)
    assert counted is not None
    assert counted.shelf == 2 * PACK
    assert abs(counted.rate - 60.0) < 1e-6


def test_a_slot_whose_packs_last_days_orders_when_the_packs_on_the_shelf_are_used_up() -> None:
    # 60 a day from 200-unit packs: a pack lasts three days, less than the five days of delivery plus three of
    # margin. Ten packs arrived on day 2; by day 28 eight have been opened (the level only ever rises by 140),
    # 40 + 2 packs are left: seven days of use, inside the eight, so it orders now.
    readings, deliveries, shelf = household([60.0] * 29, 180.0, {2: 10})
    policy = SlotPolicy(pack_size=PACK, max_stock=40 * PACK)
    result = evaluate(readings, policy, readings[-1].at, deliveries=deliveries)
    assert abs(result.forecast.shelf - shelf) < 1e-6
    assert result.forecast.rate_per_day is not None and abs(result.forecast.rate_per_day - 60.0) < 1e-6
    assert result.decision.action == "order"
    assert result.decision.packs >= 2
    # Two days earlier, 160 and two packs on the shelf are over nine days of use: nothing yet.
    earlier = evaluate(readings[:-2], policy, readings[-3].at, deliveries=deliveries)
    assert earlier.forecast.stock_now == 560.0
    assert earlier.decision.action == "none"


@settings(max_examples=100, deadline=None)
@given(
    uses=st.lists(st.floats(min_value=0.1 * PACK, max_value=0.4 * PACK), min_size=15, max_size=45),
    start=st.floats(min_value=0.5 * PACK, max_value=PACK),
    first=st.integers(min_value=1, max_value=10),
    packs=st.integers(min_value=1, max_value=20),
    cap_packs=st.integers(min_value=1, max_value=30),
)
def test_short_pack_orders_respect_the_cap_and_never_skip_a_forecast_stock_out(
    uses: list[float], start: float, first: int, packs: int, cap_packs: int
) -> None:
    # The same rules as for any slot (hub.domain.order_size through decide) on the whole-pack forecast.
    readings, deliveries, _ = household(uses, start, {first: packs})
    policy = SlotPolicy(pack_size=PACK, max_stock=cap_packs * PACK)
    result = evaluate(readings, policy, readings[-1].at, deliveries=deliveries)
    fc, decision, lead = result.forecast, result.decision, result.decision.lead
    assert lead is not None
    if decision.packs:
        rate = min(fc.rate_per_day or 0.0, fc.rate_long or fc.rate_per_day or 0.0)
        left = max((fc.stock_now or 0.0) - rate * lead.plan, 0.0)
        assert left + decision.quantity <= policy.max_stock + 1e-6
    if fc.run_out_earliest is not None and fc.run_out_earliest <= fc.at + timedelta(days=lead.plan):
        # A stock-out forecast inside the lead time: an order, or a warning when not a pack fits.
        assert decision.packs >= 1 or decision.action == "notify", decision


def test_a_run_out_in_an_older_cycle_empties_the_count_for_good() -> None:
    # Five packs arrive on day 1 and go faster than the sensor reads them: the level only ever falls, so the
    # count sees no load and keeps all five on the shelf, until the container sits empty for days (day 4 on):
    # nobody does that with a pack in the cupboard, so the shelf was empty then. Three more packs arrive on
    # day 9 and one is opened. The old cycle's credit must not come back with the new delivery.
    values = [190.0, 150.0, 90.0, 20.0, 0.0, 0.0, 0.0, 0.0, 0.0, 180.0, 120.0, 60.0]
    readings = [Reading(T0 + i * DAY, v) for i, v in enumerate(values)]
    deliveries = [
        Delivery(T0 + 1 * DAY - timedelta(hours=10), 5 * PACK),
        Delivery(T0 + 9 * DAY - timedelta(hours=10), 3 * PACK),
    ]
    counted = count(readings, deliveries, PACK, start_rate=60.0)
    assert counted is not None
    assert counted.shelf == 2 * PACK

