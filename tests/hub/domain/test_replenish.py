"""Reorder policy: when, how many packs, caps, modes and credit of delivered stock (hub.domain.replenish)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.domain.credit import Delivery, hidden_refills, shelf_stock
from hub.domain.forecast import Forecast, largest_burst
from hub.domain.lead import learn
from hub.domain.readings import CleanSeries, Reading, Refill, clean
from hub.domain.replenish import SlotPolicy, decide, evaluate

T0 = datetime(2025, 3, 1, 20, tzinfo=UTC)
DAY = timedelta(days=1)
POLICY = SlotPolicy(pack_size=1000.0, max_stock=4000.0, lead_time_days=5, safety_days=3, target_days=30)


def daily(values: list[float], start: datetime = T0) -> list[Reading]:
    return [Reading(start + i * DAY, v) for i, v in enumerate(values)]


def use(level: float, rate: float, days: int) -> list[float]:
    return [level - rate * i for i in range(days)]


def made_forecast(stock: float, rate: float, now: datetime = T0) -> Forecast:
    run_out = now + timedelta(days=stock / rate)
    return Forecast(now, "ok", stock, 0.0, rate, rate, rate, run_out, run_out, run_out)


def test_orders_when_run_out_falls_inside_lead_time_and_safety() -> None:
    readings = daily(use(700.0, 50.0, 14))  # 50 left after 13 days at 50 a day
    now = readings[-1].at
    result = evaluate(readings, POLICY, now)
    assert result.forecast.rate_per_day == pytest.approx(50.0)
    decision = result.decision
    assert decision.action == "order"
    # A pack lasts 20 days: by default six packs at a time (four months) are wanted; the cap of four trims
    # them, as nothing is left when they arrive, and the plan shown is what is ordered.
    assert decision.packs == 4 and decision.quantity == 4000.0
    assert decision.plan is not None and decision.plan.packs == 4


def test_no_order_while_stock_lasts_beyond_lead_time_and_safety() -> None:
    readings = daily(use(2000.0, 20.0, 14))  # 1740 left: 87 days
    assert evaluate(readings, POLICY, readings[-1].at).decision.action == "none"


def test_never_orders_while_an_order_is_open() -> None:
    decision = decide(made_forecast(10.0, 50.0), POLICY, on_order=1000.0)
    assert decision.action == "none" and decision.packs == 0
    assert "open" in decision.reason


def test_notify_mode_warns_instead_of_ordering() -> None:
    notify = SlotPolicy(pack_size=1000.0, max_stock=4000.0, mode="notify")
    decision = decide(made_forecast(100.0, 50.0), notify)
    assert decision.action == "notify" and decision.packs >= 1


def test_paused_mode_does_nothing() -> None:
    paused = SlotPolicy(pack_size=1000.0, max_stock=4000.0, mode="paused")
    assert decide(made_forecast(0.0 + 1.0, 50.0), paused).action == "none"


def test_cap_limits_the_packs_and_warns_when_full() -> None:
    tight = SlotPolicy(pack_size=1000.0, max_stock=1500.0, target_days=60)
    decision = decide(made_forecast(300.0, 60.0), tight)
    assert decision.action == "order" and decision.packs == 1  # 300 + 1000 <= 1500, a second pack is not
    full = SlotPolicy(pack_size=1000.0, max_stock=1000.0, safety_days=30)
    warned = decide(made_forecast(400.0, 20.0), full)
    assert warned.action == "notify" and warned.packs == 0


@settings(max_examples=300, deadline=None)
@given(
    stock=st.floats(min_value=0.0, max_value=5000.0),
    rate=st.floats(min_value=0.01, max_value=500.0),
    pack=st.floats(min_value=1.0, max_value=2000.0),
    cap_packs=st.floats(min_value=1.0, max_value=10.0),
    target=st.floats(min_value=1.0, max_value=120.0),
    lead=st.floats(min_value=0.0, max_value=20.0),
    tradeoff=st.floats(min_value=0.0, max_value=1.0),
    mode=st.sampled_from(["auto", "notify"]),
)
def test_the_order_quantity_respects_the_cap_and_never_skips_a_forecast_stock_out(
    stock: float, rate: float, pack: float, cap_packs: float, target: float, lead: float, tradeoff: float, mode: str
) -> None:
    policy = SlotPolicy(pack_size=pack, max_stock=pack * cap_packs, target_days=target, lead_time_days=lead,
                        tradeoff=tradeoff, mode=mode)  # type: ignore[arg-type]
    fc = made_forecast(stock, rate)
    decision = decide(fc, policy)
    if decision.packs:
        # Never above the cap: what is expected to be left when the order arrives, plus the order.
        assert max(stock - rate * lead, 0.0) + decision.quantity <= policy.max_stock + 1e-6
        assert decision.action == ("order" if mode == "auto" else "notify")
    assert fc.run_out_at is not None
    if fc.run_out_at <= fc.at + timedelta(days=lead):
        # Never zero when the slot is forecast to run out before a delivery could come.
        assert decision.packs >= 1, decision


def test_empty_slot_with_too_few_readings_gets_one_pack() -> None:
    readings = daily([0.0])
    decision = evaluate(readings, POLICY, readings[0].at).decision
    assert decision.action == "order" and decision.packs == 1
    learning = evaluate(daily([600.0]), POLICY, T0).decision
    assert learning.action == "none" and "learning" in learning.reason


def test_delivered_stock_on_the_shelf_is_credited() -> None:
    readings = daily(use(700.0, 50.0, 14))  # the container is nearly empty ...
    now = readings[-1].at
    delivered = [Delivery(now - DAY, 2000.0, ordered_at=now - 6 * DAY)]  # ... but two packs wait in the cupboard
    result = evaluate(readings, POLICY, now, deliveries=delivered)
    assert result.forecast.shelf == 2000.0
    assert result.decision.action == "none"


def test_a_loaded_pack_leaves_the_shelf_once() -> None:
    values = use(400.0, 50.0, 8) + use(1030.0, 50.0, 4)  # one pack loaded on day 8
    readings = daily(values)
    delivered = [Delivery(T0 + 2 * DAY, 2000.0)]
    result = evaluate(readings, POLICY, readings[-1].at, deliveries=delivered)
    assert len(result.series.refills) == 1
    assert result.forecast.shelf == 1000.0


def test_pack_loaded_before_the_delivery_was_recorded_is_not_counted_twice() -> None:
    refill = Refill(at=T0, before=20.0, after=1010.0)
    late = Delivery(T0 + DAY, 1000.0)  # the merchant's "delivered" came a day after the sensor saw it
    assert shelf_stock([late], [refill], pack_size=1000.0, since=T0 - DAY, now=T0 + DAY) == 0.0


def test_refills_without_a_delivery_do_not_create_credit() -> None:
    refill = Refill(at=T0, before=20.0, after=1010.0)
    assert shelf_stock([], [refill], pack_size=1000.0, since=T0 - DAY, now=T0 + DAY) == 0.0
    early = Delivery(T0 - 10 * DAY, 1000.0)  # older than the readings: assumed loaded
    assert shelf_stock([early], [], pack_size=1000.0, since=T0 - DAY, now=T0) == 0.0


def test_pack_loaded_while_the_sensor_was_offline_is_found() -> None:
    # Offline for 20 days at 50 a day: the level after (120) is below the level before (150), yet 1000 were
    # used meanwhile, so a pack went in unseen.
    readings = daily(use(500.0, 50.0, 8)) + daily(use(120.0, 50.0, 3), T0 + 27 * DAY)
    series = clean(readings)
    hidden = hidden_refills(series, 50.0, 1000.0)
    assert len(hidden) == 1 and hidden[0].amount == pytest.approx(970.0)  # 150 - 20 days * 50 + 970 = 120
    delivered = [Delivery(T0 + DAY, 1000.0)]
    result = evaluate(readings, POLICY, readings[-1].at, deliveries=delivered)
    assert result.forecast.shelf == 0.0


def test_a_pack_loaded_while_offline_whose_rise_shows_counts_once() -> None:
    # Offline for 7 days: 150 before, 900 after. The rise is a refill of one pack; the use over the gap (350)
    # hides no second one, so the other delivered pack is still in the cupboard.
    readings = daily(use(500.0, 50.0, 8)) + daily(use(900.0, 50.0, 6), T0 + 14 * DAY)
    series = clean(readings)
    assert len(series.refills) == 1 and not hidden_refills(series, 50.0, 1000.0)
    delivered = [Delivery(T0 + DAY, 2000.0)]
    result = evaluate(readings, POLICY, readings[-1].at, deliveries=delivered)
    assert result.forecast.shelf == 1000.0


def test_container_left_empty_drops_the_shelf_credit() -> None:
    # Empty for four days at 50 a day: a household with a pack in the cupboard would have opened it.
    readings = daily(use(1000.0, 50.0, 20) + [0.0] * 5)
    delivered = [Delivery(T0 + DAY, 1000.0)]
    result = evaluate(readings, POLICY, readings[-1].at, deliveries=delivered)
    assert result.forecast.shelf == 0.0
    assert result.decision.action == "order"


def test_an_order_on_the_guess_that_credited_packs_are_gone_is_a_single_pack() -> None:
    # A pack delivered and no load seen, then the container empty for four days at 50 a day. Either the pack
    # went unseen (one pack bridges to the next order) or the household has not needed it yet (one pack too
    # many, not a whole order of four, then waits in the cupboard).
    readings = daily(use(1000.0, 50.0, 20) + [0.0] * 5)
    result = evaluate(readings, POLICY, readings[-1].at, deliveries=[Delivery(T0 + DAY, 1000.0)])
    assert result.forecast.shelf == 0.0
    assert (result.decision.action, result.decision.packs, result.decision.quantity) == ("order", 1, 1000.0)
    assert result.decision.plan is not None and result.decision.plan.packs == 1
    assert result.decision.reason.endswith("ordering 1 pack now, in case the pack in the cupboard is gone")
    # With nothing credited to doubt, the same empty container orders the economic quantity.
    plain = evaluate(readings, POLICY, readings[-1].at)
    assert plain.decision.packs > 1


def _weekly_washes(weeks: int, empty_days: int) -> list[float]:
    """A cycle counter of 16 washes left, four washes every Sunday, then `empty_days` more at zero."""
    level, values = 16.0, []
    for day in range(7 * weeks):
        if day % 7 == 6:
            level -= 4.0
        values.append(level)
    return values + [0.0] * empty_days


def test_a_weekly_household_leaves_an_empty_container_for_a_week_with_the_pack_still_on_the_shelf() -> None:
    # Washing once a week, a household opens the delivered pack on wash day, not the day the counter hit zero:
    # four days at zero are no sign that a pack went unseen, however many "usual steps" (zero) that is.
    washes = SlotPolicy(pack_size=20.0, max_stock=80.0, lead_time_days=5, safety_days=3, target_days=30)
    delivered = [Delivery(T0 + 20 * DAY, 20.0)]
    readings = daily(_weekly_washes(4, 4))
    result = evaluate(readings, washes, readings[-1].at, deliveries=delivered)
    assert result.forecast.shelf == 20.0
    # Longer than any quiet stretch of its four weeks: a pack was loaded unseen, or the household would have.
    readings = daily(_weekly_washes(4, 9))
    result = evaluate(readings, washes, readings[-1].at, deliveries=delivered)
    assert result.forecast.shelf == 0.0
    assert result.decision.action == "order"


def test_a_pack_delivered_to_an_empty_container_is_not_doubted_at_once() -> None:
    # The container ran dry five days ago and the delivery came this morning: the household opens it when it
    # next needs some, so the empty days before it arrived say nothing about whether it was loaded.
    readings = daily(use(1000.0, 50.0, 20) + [0.0] * 5)
    arrived = [Delivery(readings[-1].at - timedelta(hours=10), 1000.0)]
    result = evaluate(readings, POLICY, readings[-1].at, deliveries=arrived)
    assert result.forecast.shelf == 1000.0
    assert result.decision.action == "none"


def test_longer_real_lead_times_bring_the_order_forward() -> None:
    readings = daily(use(1000.0, 50.0, 10))  # 550 left: 11 days, outside 5 + 3 ...
    now = readings[-1].at
    assert evaluate(readings, POLICY, now).decision.action == "none"
    slow = [Delivery(T0 - 20 * DAY, 1000.0, ordered_at=T0 - 29 * DAY)]  # ... but deliveries take 9 days
    assert learn(slow, 5.0).plan == pytest.approx(9.0)
    assert evaluate(readings, POLICY, now, deliveries=slow).decision.action == "order"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pack_size": 0.0, "max_stock": 10.0},
        {"pack_size": 10.0, "max_stock": 5.0},
        {"pack_size": 10.0, "max_stock": 50.0, "mode": "sometimes"},
        {"pack_size": 10.0, "max_stock": 50.0, "target_days": 0.0},
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SlotPolicy(**kwargs)  # type: ignore[arg-type]


def test_pack_loaded_just_before_a_very_busy_day_is_not_credited_twice() -> None:
    # A pack of 250 lasts five days; on day 6 the household loads the delivered pack and a party uses it all
    # by the next reading. The rise looks like a glitch to the cleaning, but a day of five times the usual
    # use is a party, not a glitch: the pack must not stay on the shelf.
    small = SlotPolicy(pack_size=250.0, max_stock=1000.0)
    values = use(290.0, 50.0, 6) + [290.0, 40.0, 0.0, 0.0]
    readings = daily(values)
    assert [r.reason for r in clean(readings, min_jump=25.0, max_jump=125.0).rejected] == ["spike"]
    delivered = [Delivery(T0 + DAY, 250.0)]
    result = evaluate(readings, small, readings[-1].at, deliveries=delivered)
    assert result.forecast.shelf == 0.0
    assert result.decision.action == "order"


def test_a_pack_opened_in_the_middle_of_two_busy_days_leaves_the_shelf() -> None:
    # 2500 packs at 150 a day. With 566 left the household has two days of eight times the usual use: the
    # container runs dry, the delivered pack goes in and by the evening 1559 are left, 663 the next. The rise,
    # under half a pack, reads as a spike; but a whole pack less the day's use explains it, and the two days'
    # use with a pack put in is a burst the household can have. The pack is no longer on the shelf.
    big = SlotPolicy(pack_size=2500.0, max_stock=10000.0)
    values = use(2216.0, 150.0, 12) + [1559.0] + use(663.0, 150.0, 4)
    readings = daily(values)
    assert [r.reason for r in clean(readings, min_jump=250.0, max_jump=1250.0).rejected] == ["spike"]
    delivered = [Delivery(T0 + DAY, 2500.0, ordered_at=T0 - 4 * DAY)]
    result = evaluate(readings, big, readings[-1].at, deliveries=delivered)
    assert result.forecast.shelf == 0.0
    # The same readings on a slot using 30 a day would need forty days of use in two: a glitch, the pack waits.
    slow = use(890.0, 30.0, 12) + [1559.0] + use(663.0, 30.0, 4)
    slow[:12] = [566.0 + 30.0 * (11 - i) for i in range(12)]
    result = evaluate(daily(slow), big, T0 + (len(slow) - 1) * DAY, deliveries=delivered)
    assert result.forecast.shelf == 2500.0


def test_a_glitch_no_use_could_explain_keeps_the_pack_on_the_shelf() -> None:
    # The same shape with a 1000 pack at 50 a day: 990 used between two readings would be twenty days of
    # use in one; it is a glitch, and the delivered pack still waits in the cupboard.
    values = use(500.0, 50.0, 8) + [1100.0, 110.0, 60.0, 10.0]
    readings = daily(values)
    delivered = [Delivery(T0 + DAY, 1000.0)]
    result = evaluate(readings, POLICY, readings[-1].at, deliveries=delivered)
    assert result.forecast.shelf == 1000.0


def test_a_glitch_up_just_before_the_real_load_does_not_count_the_pack_twice() -> None:
    # 20 a day from a 750 pack, two packs delivered. Nearly empty, the sensor glitches up to 600, reads 95 the
    # next day and then the real load. Compared with the loaded level after it the glitch is no spike, so it
    # reads as a refill of its own; but no use takes 505 in a day off a slot using 20, and the level went back
    # to where it was: one pack was loaded, one is still in the cupboard.
    bottle = SlotPolicy(pack_size=750.0, max_stock=3000.0)
    values = use(900.0, 20.0, 40)
    readings = daily(values + [600.0, 95.0] + use(820.0, 20.0, 6))
    assert len(clean(readings, min_jump=75.0, max_jump=375.0).refills) == 2
    delivered = [Delivery(T0 + 20 * DAY, 1500.0, ordered_at=T0 + 15 * DAY)]
    result = evaluate(readings, bottle, readings[-1].at, deliveries=delivered)
    assert result.forecast.shelf == 750.0
    # A real load followed by a day of seven times the usual use is still a load.
    busy = values + [835.0, 685.0] + use(660.0, 20.0, 5)
    result = evaluate(daily(busy), bottle, T0 + (len(busy) - 1) * DAY, deliveries=delivered)
    assert result.forecast.shelf == 750.0


def test_a_cycle_counter_glitch_just_before_the_pack_goes_in_is_no_second_pack() -> None:
    # 20-wash packs at about 1 a day: 2 left, the counter glitches to 19, reads 0 (two washes), then 18 once
    # the pack is in. Nineteen washes in a day would be twenty times the usual: one pack went in, not two.
    washes = SlotPolicy(pack_size=20.0, max_stock=80.0)
    values = [20.0 - i for i in range(19)] + [19.0, 0.0, 18.0, 18.0, 18.0, 16.0, 15.0]
    readings = daily(values)
    assert len(clean(readings, min_jump=2.0, max_jump=10.0).refills) == 2
    delivered = [Delivery(T0 + 5 * DAY, 40.0, ordered_at=T0)]
    result = evaluate(readings, washes, readings[-1].at, deliveries=delivered)
    assert result.forecast.shelf == 20.0


def test_a_glitch_down_then_up_is_no_pack_loaded() -> None:
    # 20 a day from a 2000 pack, one pack in the cupboard. The sensor reads 1060 (a glitch down), then 2940 (a
    # glitch up), then the real level again. The glitch up is a spike, which leaves a rise from 1060 back to
    # 1880 in the accepted readings; but nothing uses 880 in a day off a slot using 20, and the level only came
    # back to where it was: the delivered pack is still in the cupboard.
    jug = SlotPolicy(pack_size=2000.0, max_stock=8000.0)
    readings = daily(use(2400.0, 20.0, 25) + [1060.0, 2940.0] + use(1880.0, 20.0, 5))
    assert len(clean(readings, min_jump=200.0, max_jump=1000.0).refills) == 1
    delivered = [Delivery(T0 + 10 * DAY, 2000.0, ordered_at=T0 + 5 * DAY)]
    result = evaluate(readings, jug, readings[-1].at, deliveries=delivered)
    assert result.forecast.shelf == 2000.0
    # A glitch nearly to zero: the rise back is almost a pack, and the mass balance, which leaves out the dip
    # and not the real reading after it, sees no load either.
    deep = daily(use(2400.0, 20.0, 25) + [60.0, 2940.0] + use(1880.0, 20.0, 5))
    assert evaluate(deep, jug, deep[-1].at, deliveries=delivered).forecast.shelf == 2000.0


DELIVERED_DAY_1 = Delivery(T0 + DAY, 1000.0, ordered_at=T0 - 4 * DAY)


def test_a_pack_bought_elsewhere_and_put_on_a_full_container_leaves_the_delivery_on_the_shelf() -> None:
    # 800 left when a pack appears on the sensor: the household did not open the delivered pack on top of a
    # container that was far from empty (it bought one in a shop), so the delivery is still in the cupboard.
    _assert_the_delivery_waits(use(1100.0, 30.0, 11) + use(1770.0, 30.0, 8))


def _assert_the_delivery_waits(values: list[float]) -> None:
    """One refill seen in `values` (daily), and the pack delivered on day 1 still credited on the shelf."""
    readings = daily(values)
    result = evaluate(readings, POLICY, readings[-1].at, deliveries=[DELIVERED_DAY_1])
    assert len(result.series.refills) == 1
    assert result.forecast.shelf == 1000.0


def test_a_pack_bought_elsewhere_and_put_on_a_half_full_container_leaves_the_delivery_on_the_shelf() -> None:
    # 600 left, the level before could be a nearly empty container after a busy day (eight days of use in
    # one), but the level after is 1580: a pack on top of a container holding over half a pack. The delivered
    # pack goes into a nearly empty container, so this was a pack bought in a shop; the delivery waits.
    _assert_the_delivery_waits(use(1000.0, 25.0, 17) + use(1580.0, 25.0, 8))
    # The delivered pack put on a container that ran low is still the delivered pack.
    values = use(1000.0, 25.0, 32) + use(1180.0, 25.0, 8)
    loaded = evaluate(daily(values), POLICY, T0 + (len(values) - 1) * DAY, deliveries=[DELIVERED_DAY_1])
    assert loaded.forecast.shelf == 0.0


def test_a_quiet_sensor_does_not_stop_use_at_an_empty_container() -> None:
    # The container was nearly empty when the sensor went quiet two weeks ago; the household has been using
    # the shelf pack since, so the forecast must not keep counting all of it.
    readings = daily(use(700.0, 50.0, 14))  # 50 left on the last reading
    delivered = [Delivery(T0 + DAY, 1000.0)]
    now = readings[-1].at + 14 * DAY
    result = evaluate(readings, POLICY, now, deliveries=delivered)
    assert result.forecast.level_now == 0.0
    assert result.forecast.stock_now == pytest.approx(1000.0 + 50.0 - 14 * 50.0)
    assert result.decision.action == "order"


def test_a_cycle_counter_waiting_at_zero_keeps_its_shelf_pack() -> None:
    # Thirty washes a pack, one every three days or so: the counter sits at zero until the next wash, when
    # the household opens the delivered pack. Two readings at zero a day apart do not mean it is gone.
    counts = [8.0, 8.0, 7.0, 7.0, 7.0, 6.0, 5.0, 5.0, 5.0, 4.0, 3.0, 3.0, 2.0, 1.0, 1.0, 0.0, 0.0]
    readings = daily(counts)
    counter = SlotPolicy(pack_size=30.0, max_stock=90.0)
    delivered = [Delivery(T0 + 2 * DAY, 30.0)]
    result = evaluate(readings, counter, readings[-1].at, deliveries=delivered)
    assert result.forecast.shelf == 30.0
    assert result.decision.action == "none"


def test_a_low_slot_orders_at_once_while_learning() -> None:
    # 150 g of a 2 kg pack on the first readings: too few for a rate, but clearly low against the pack.
    bag = SlotPolicy(pack_size=2000.0, max_stock=6000.0)
    first = daily([160.0, 150.0])[:2]
    decision = evaluate(first, bag, first[-1].at).decision
    assert (decision.action, decision.packs) == ("order", 1)
    assert decision.reason == (
        "learning how fast it is used, and only 8% of a pack is left; delivery takes about 5 days; "
        "ordering 1 pack now"
    )
    notify = evaluate(first, SlotPolicy(pack_size=2000.0, max_stock=6000.0, mode="notify"), first[-1].at)
    assert (notify.decision.action, notify.decision.packs) == ("notify", 1)
    assert "order 1 pack now" in notify.decision.reason
    # Above the household's share of a pack it waits for a forecast; the share is theirs to set.
    plenty = daily([900.0])
    assert evaluate(plenty, bag, T0).decision.action == "none"
    assert evaluate(plenty, SlotPolicy(pack_size=2000.0, max_stock=6000.0, learning_low=0.5), T0).decision.packs == 1
    # An open order stops any repeat.
    assert evaluate(first, bag, first[-1].at, on_order=2000.0).decision.action == "none"


def test_every_decision_says_why_in_words() -> None:
    readings = daily(use(700.0, 50.0, 14))  # 50 left, 50 a day: runs out tomorrow evening
    now = readings[-1].at
    delivered = [Delivery(T0 - 30 * DAY, 1000.0, ordered_at=T0 - 33 * DAY, shop="demo"),
                 Delivery(T0 - 60 * DAY, 1000.0, ordered_at=T0 - 66 * DAY, shop="demo")]
    decision = evaluate(readings, POLICY, now, deliveries=delivered, shop="demo").decision
    assert decision.action == "order"
    packs = decision.packs
    assert decision.reason == f"runs out around Sat 15 Mar; delivery takes 3-6 days; ordering {packs} packs now"
    assert decision.lead is not None and decision.lead.plan == 6.0
    assert decision.plan is not None and decision.plan.packs == decision.packs
    calm = evaluate(daily(use(2000.0, 20.0, 14)), POLICY, T0 + 13 * DAY).decision
    assert calm.action == "none"
    assert calm.reason.startswith("runs out around ") and "; next order around " in calm.reason


def test_fewer_deliveries_orders_more_packs_at_a_time() -> None:
    readings = daily(use(700.0, 50.0, 14))
    now = readings[-1].at
    small = evaluate(readings, replace(POLICY, tradeoff=0.0, target_days=1.0, max_stock=10000.0), now).decision
    large = evaluate(readings, replace(POLICY, tradeoff=1.0, target_days=1.0, max_stock=10000.0), now).decision
    assert small.packs < large.packs
    capped = evaluate(readings, replace(POLICY, tradeoff=1.0, max_stock=3000.0), now).decision
    assert capped.packs == 3  # nothing left when it arrives, so three packs fit the cap


def test_the_plan_shown_between_orders_fits_under_the_cap() -> None:
    # Two months of stock at 50 a day: nothing to do, and the next order wants six 20-day packs, but the cap of
    # four is what any order can bring, so that is the plan the household reads.
    decision = decide(made_forecast(3000.0, 50.0), POLICY)
    assert decision.action == "none"
    assert decision.plan is not None and decision.plan.packs * POLICY.pack_size <= POLICY.max_stock


def bursty(burst: float, days: int = 60) -> list[Reading]:
    """`days` at 20 a day ending with 210 left (10.5 days), with three days of `burst` a day from day 15."""
    values, level = [], 210.0 + days * 20.0 + 3 * (burst - 20.0)
    for day in range(days):
        level -= burst if 15 <= day < 18 else 20.0
        values.append(level)
    return daily(values)


def test_a_burst_of_use_weeks_ago_brings_the_order_forward() -> None:
    # 210 left lasts 10.5 days at 20 a day: outside the lead time and margin (5 + 3), so a steady slot waits.
    # A slot that used 100 a day for three days six weeks ago (long forgotten by the four-week irregularity)
    # orders now: another such burst while the delivery is on its way would empty it.
    steady = bursty(20.0)
    assert steady[-1].value == pytest.approx(210.0)
    assert evaluate(steady, POLICY, steady[-1].at).decision.action == "none"
    readings = bursty(100.0)
    assert readings[-1].value == pytest.approx(210.0)
    result = evaluate(readings, POLICY, readings[-1].at)
    assert result.decision.action == "order"
    assert "burst" in result.decision.reason


def test_a_weekly_habit_is_no_burst() -> None:
    # Everything used on one day a week: a day is seven days' use, a lead time no more than a week's.
    values, level = [], 1900.0
    for day in range(60):
        level -= 140.0 if day % 7 == 3 else 0.0
        values.append(level)
    series = clean(daily(values), min_jump=100.0, max_jump=500.0)
    assert largest_burst(series, T0 + 59 * DAY, 5.0) <= 40.0


def test_a_slower_habit_or_a_glitch_after_a_refill_is_no_burst() -> None:
    # Forty a day for a month, then twenty: the old habit is no burst against the new one (judged against the
    # use around each stretch, not today's). A glitch up on the first reading after a refill is no burst either.
    values = [2000.0 - 40.0 * d for d in range(30)] + [800.0 - 20.0 * d for d in range(30)]
    series = clean(daily(values), min_jump=100.0, max_jump=500.0)
    assert largest_burst(series, T0 + 59 * DAY, 5.0) <= 60.0
    before = daily([1000.0 - 20.0 * d for d in range(30)])
    after = daily([2900.0] + [1980.0 - 20.0 * d for d in range(1, 30)], start=T0 + 30 * DAY)
    glitched = CleanSeries(segments=(tuple(before), tuple(after)), refills=(), rejected=(), gaps=(), jump=100.0)
    assert largest_burst(glitched, after[-1].at, 5.0) <= 20.0


def test_a_burst_is_remembered_for_sixteen_weeks() -> None:
    # Bursts come every two to six weeks: one thirteen weeks ago still counts, one eighteen weeks ago no longer.
    readings = bursty(100.0, days=106)
    assert evaluate(readings, POLICY, readings[-1].at).decision.action == "order"
    readings = bursty(100.0, days=140)
    assert evaluate(readings, POLICY, readings[-1].at).decision.action == "none"
