"""Lead times learnt per shop from delivered orders, promised vs. actual (hub.domain.lead)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.domain.credit import Delivery
from hub.domain.lead import LEAD_SAMPLES, learn

T0 = datetime(2025, 3, 1, 9, tzinfo=UTC)
DAY = timedelta(days=1)


def delivered(ordered_day: int, took: float, shop: str = "demo", promised: float | None = None) -> Delivery:
    ordered = T0 + ordered_day * DAY
    return Delivery(ordered + took * DAY, 1000.0, ordered_at=ordered, shop=shop,
                    promised=ordered + promised * DAY if promised is not None else None)


def test_a_shop_without_deliveries_is_planned_with_its_promise() -> None:
    lead = learn([], 5.0, "demo")
    assert (lead.plan, lead.samples) == (5.0, 0)
    assert lead.text == "delivery takes about 5 days"
    assert lead.record == "no delivery yet; planning with 5 days"


def test_the_longest_recent_delivery_of_the_shop_is_planned_for() -> None:
    history = [delivered(0, 3, promised=3), delivered(30, 7, promised=4), delivered(60, 4, promised=4)]
    lead = learn(history, 5.0, "demo")
    assert (lead.low, lead.high, lead.plan, lead.samples) == (3.0, 7.0, 7.0, 3)
    assert lead.late == pytest.approx(3.0)
    assert lead.text == "delivery takes 3-7 days"
    assert lead.record == "the last 3 deliveries took 3-7 days, up to 3 days later than promised; planning with 7 days"


def test_a_faster_shop_keeps_the_household_promise_as_the_plan() -> None:
    lead = learn([delivered(0, 2, promised=2), delivered(20, 2, promised=3)], 5.0, "demo")
    assert (lead.high, lead.plan) == (2.0, 5.0)
    assert lead.text == "delivery takes 2-5 days"
    assert lead.record.endswith(", as promised; planning with 5 days")


def test_other_shops_and_old_deliveries_do_not_count() -> None:
    history = [delivered(0, 12, shop="slowshop")] + [delivered(10 * i, 3) for i in range(LEAD_SAMPLES)]
    history.insert(0, delivered(-100, 9))  # older than the last LEAD_SAMPLES deliveries of the shop
    lead = learn(history, 2.0, "demo")
    assert (lead.high, lead.samples) == (3.0, LEAD_SAMPLES)
    assert learn(history, 2.0, "slowshop").plan == 12.0


def test_days_are_counted_as_a_household_counts_them() -> None:
    # Ordered Monday at 20:05, delivered Wednesday at 10:00: 1.6 days, which a household calls two days; and
    # Saturday evening to the next Friday morning, six.
    ordered = datetime(2025, 3, 3, 20, 5, tzinfo=UTC)
    quick = Delivery(datetime(2025, 3, 5, 10, tzinfo=UTC), 1000.0, ordered_at=ordered, shop="demo")
    slow = Delivery(datetime(2025, 3, 14, 11, tzinfo=UTC), 1000.0, ordered_at=ordered + 5 * DAY, shop="demo")
    lead = learn([quick, slow], 5.0, "demo")
    assert lead.text == "delivery takes 2-6 days"
