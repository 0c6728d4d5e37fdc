"""Order size traded between deliveries and stock on hand (hub.domain.order_size)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.domain.order_size import DEFAULT_TRADEOFF, delivery_weight, economic_packs, plan


def cost(packs: int, pack_days: float, weight: float) -> float:
    """Delivery and cupboard cost per day, in pack-days, of ordering `packs` at a time."""
    return weight / (packs * pack_days) + packs / 2.0


@settings(max_examples=300, deadline=None)
@given(
    rate=st.floats(min_value=1e-3, max_value=1e4),
    pack=st.floats(min_value=1e-3, max_value=1e4),
    tradeoff=st.floats(min_value=0.0, max_value=1.0),
)
def test_the_size_is_the_cheapest_whole_number_of_packs(rate: float, pack: float, tradeoff: float) -> None:
    packs = economic_packs(rate, pack, tradeoff)
    assert packs >= 1
    pack_days = pack / rate
    weight = delivery_weight(tradeoff)
    best = cost(packs, pack_days, weight)
    assert best <= cost(packs + 1, pack_days, weight) + 1e-9
    if packs > 1:
        assert best <= cost(packs - 1, pack_days, weight) + 1e-9


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(min_value=1e-3, max_value=1e4),
    pack=st.floats(min_value=1e-3, max_value=1e4),
    low=st.floats(min_value=0.0, max_value=1.0),
    high=st.floats(min_value=0.0, max_value=1.0),
)
def test_fewer_deliveries_never_means_smaller_orders(rate: float, pack: float, low: float, high: float) -> None:
    low, high = min(low, high), max(low, high)
    assert economic_packs(rate, pack, low) <= economic_packs(rate, pack, high)


def test_the_middle_of_the_slider_orders_a_quarter_of_a_monthly_pack() -> None:
    assert economic_packs(1000.0 / 30.0, 1000.0, 0.5) == 3  # a pack a month: a quarter's worth
    assert economic_packs(1000.0 / 90.0, 1000.0, 0.5) == 2  # a pack a season: two, twice a year
    assert economic_packs(1000.0 / 200.0, 1000.0, 0.5) == 1
    assert economic_packs(1000.0 / 14.0, 1000.0, 0.5) == 4  # a pack a fortnight: four
    assert economic_packs(1000.0 / 30.0, 1000.0, 0.0) == 1
    assert economic_packs(1000.0 / 30.0, 1000.0, 1.0) == 8


def test_the_default_orders_at_least_a_quarter_of_use() -> None:
    # The default leans to fewer deliveries: no more orders than a quarterly subscription, the max-stock cap
    # (applied by the caller) trimming what is more than the cupboard holds.
    for pack_days in (12.0, 14.0, 30.0, 90.0):  # the bench's households: a pack lasts 12 to 90 days
        packs = economic_packs(1000.0 / pack_days, 1000.0, DEFAULT_TRADEOFF)
        assert packs * pack_days >= 90.0, pack_days
    assert economic_packs(1000.0 / 14.0, 1000.0, DEFAULT_TRADEOFF) == 8
    assert economic_packs(1000.0 / 200.0, 1000.0, DEFAULT_TRADEOFF) == 2


def test_a_minimum_horizon_and_no_use() -> None:
    assert economic_packs(100.0, 1000.0, 0.0, min_days=45.0) == math.ceil(4.5)
    assert economic_packs(0.0, 1000.0, 0.5) == 1
    assert plan(2, 0.0, 1000.0) is None
    two = plan(2, 1000.0 / 30.0, 1000.0)
    assert two is not None and two.days == pytest.approx(60.0) and two.per_year == pytest.approx(365 / 60)
    assert two.text == "2 packs per order, about 9 weeks each (6 a year)"
