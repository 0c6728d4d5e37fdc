"""Rate, level and run-out with uncertainty (hub.domain.forecast)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.domain.forecast import forecast
from hub.domain.readings import Reading, clean

T0 = datetime(2025, 3, 1, 20, tzinfo=UTC)
DAY = timedelta(days=1)


def series_of(values: list[float], start: datetime = T0) -> list[Reading]:
    return [Reading(start + i * DAY, v) for i, v in enumerate(values)]


def linear(start: float, rate: float, days: int) -> list[float]:
    return [start - rate * i for i in range(days)]


def width(fc_values: list[float], now: datetime) -> float:
    fc = forecast(clean(series_of(fc_values)), now)
    assert fc.run_out_earliest is not None and fc.run_out_latest is not None
    return (fc.run_out_latest - fc.run_out_earliest) / DAY


def test_steady_use_gives_rate_level_and_run_out() -> None:
    values = linear(1000.0, 20.0, 21)  # 600 left on the last day
    now = T0 + 20 * DAY
    fc = forecast(clean(series_of(values)), now, shelf=400.0)
    assert fc.status == "ok"
    assert fc.rate_per_day == pytest.approx(20.0)
    assert fc.level_now == pytest.approx(600.0)
    assert fc.stock_now == pytest.approx(1000.0)
    assert fc.run_out_at == now + 50 * DAY
    assert fc.run_out_earliest is not None and fc.run_out_latest is not None
    assert fc.run_out_earliest <= fc.run_out_at <= fc.run_out_latest


def test_too_few_readings_give_no_rate() -> None:
    fc = forecast(clean(series_of([500.0, 480.0])), T0 + DAY)
    assert fc.status == "sparse"
    assert fc.rate_per_day is None and fc.run_out_at is None
    assert fc.level_now == 480.0
    empty = forecast(clean([]), T0)
    assert empty.level_now is None and empty.stock_now is None


def test_no_use_means_no_run_out() -> None:
    fc = forecast(clean(series_of([300.0] * 14)), T0 + 13 * DAY)
    assert fc.status == "idle"
    assert fc.rate_per_day == 0.0
    assert fc.run_out_at is None and fc.run_out_latest is None


def test_rate_adapts_quickly_after_a_step_up() -> None:
    values = linear(2000.0, 10.0, 28)
    values += linear(values[-1] - 30.0, 30.0, 6)  # a new baby: three times the use
    fc = forecast(clean(series_of(values)), T0 + 33 * DAY)
    assert fc.habit_change == "up"
    assert fc.rate_per_day is not None and fc.rate_per_day >= 25.0


def test_step_down_keeps_the_old_rate_as_the_pessimistic_bound() -> None:
    values = linear(2000.0, 30.0, 28)
    values += linear(values[-1] - 10.0, 10.0, 8)
    fc = forecast(clean(series_of(values)), T0 + 35 * DAY)
    assert fc.habit_change == "down"
    assert fc.rate_per_day is not None and fc.rate_per_day == pytest.approx(10.0, abs=2.0)
    assert fc.rate_high is not None and fc.rate_high >= 20.0


def test_spikes_do_not_move_the_rate() -> None:
    values = linear(1000.0, 12.0, 28)
    for day, glitch in ((5, 600.0), (11, -500.0), (19, 700.0)):
        values[day] += glitch
    fc = forecast(clean(series_of(values)), T0 + 27 * DAY)
    assert fc.rate_per_day == pytest.approx(12.0, rel=0.05)


def test_rate_is_pooled_across_a_refill() -> None:
    values = linear(300.0, 10.0, 14) + linear(1000.0, 10.0, 14)
    series = clean(series_of(values))
    assert len(series.refills) == 1
    fc = forecast(series, T0 + 27 * DAY)
    assert fc.rate_per_day == pytest.approx(10.0)
    assert fc.level_now == pytest.approx(870.0)


def test_uncertainty_widens_with_sensor_noise() -> None:
    rng = random.Random(7)
    clean_values = linear(1500.0, 15.0, 28)
    noisy = [v + rng.gauss(0.0, 25.0) for v in clean_values]
    now = T0 + 27 * DAY
    assert width(noisy, now) > width(clean_values, now) + 1.0


def test_offline_sensor_projects_the_level_and_keeps_the_run_out_date() -> None:
    values = linear(1500.0, 15.0, 28)
    values = [v + (3.0 if i % 2 else -3.0) for i, v in enumerate(values)]
    fresh = forecast(clean(series_of(values)), T0 + 27 * DAY)
    stale = forecast(clean(series_of(values)), T0 + 37 * DAY)  # ten days without a reading
    assert stale.level_now is not None and fresh.level_now is not None
    assert stale.level_now == pytest.approx(fresh.level_now - 150.0, abs=5.0)
    assert stale.run_out_at is not None and fresh.run_out_at is not None
    assert abs(stale.run_out_at - fresh.run_out_at) < DAY


def test_a_drop_continuing_a_fast_fall_counts_in_the_level_at_once() -> None:
    # Four weeks at 1 a day, then 5 in a day (guests arrived), then 12: more than a burst for one reading,
    # but the fall was already going on, so the level is the newest reading, not the day before's.
    now = T0 + 29 * DAY
    going = forecast(clean(series_of(linear(100.0, 1.0, 28) + [68.0, 56.0])), now)
    assert going.level_now == pytest.approx(56.0)
    assert going.rate_per_day == pytest.approx(1.0)  # the rate still waits for a second opinion
    # The same drop after a usual day has no second opinion and waits for the next reading.
    lone = forecast(clean(series_of(linear(100.0, 1.0, 29) + [60.0])), now)
    assert lone.level_now == pytest.approx(71.0)
    # After a week without use there is no usual use to call a fall fast: a first step down, then a drop to
    # zero, still waits for the next reading.
    idle = clean(series_of([540.0] * 6 + [520.0, 0.0]), min_jump=100.0, max_jump=500.0)
    assert forecast(idle, T0 + 7 * DAY).level_now == pytest.approx(520.0)


def test_use_unseen_while_offline_widens_the_earliest_run_out() -> None:
    # Lumpy use (0, 0, 30 or 45 a day): ten days without a reading teach nothing new, so the earliest
    # plausible run-out should stay about where it was; it moved 2.5 days later when the unseen days' use
    # was taken as regular as the rate.
    rng = random.Random(3)
    values, level = [], 1500.0
    for _ in range(28):
        values.append(level)
        level -= rng.choice((0.0, 0.0, 30.0, 45.0))
    series = clean(series_of(values))
    fresh = forecast(series, T0 + 27 * DAY)
    stale = forecast(series, T0 + 37 * DAY)
    assert fresh.run_out_earliest is not None and stale.run_out_earliest is not None
    assert stale.run_out_earliest - fresh.run_out_earliest < 2 * DAY


@settings(max_examples=80, deadline=None)
@given(
    st.floats(min_value=0.0, max_value=50.0),
    st.lists(st.floats(min_value=-20.0, max_value=20.0), min_size=5, max_size=40),
    st.floats(min_value=0.0, max_value=20.0),
    st.floats(min_value=0.0, max_value=500.0),
)
def test_run_out_bounds_are_ordered(rate: float, noise: list[float], age: float, shelf: float) -> None:
    values = [max(2000.0 - rate * i + n, 0.0) for i, n in enumerate(noise)]
    fc = forecast(clean(series_of(values)), T0 + (len(values) - 1 + age) * DAY, shelf=shelf)
    assert fc.level_now is not None and fc.level_now >= 0.0
    if fc.run_out_at is not None:
        assert fc.run_out_earliest is not None and fc.run_out_earliest <= fc.run_out_at
        if fc.run_out_latest is not None:
            assert fc.run_out_at <= fc.run_out_latest
    if fc.rate_low is not None and fc.rate_high is not None and fc.rate_per_day is not None:
        assert fc.rate_low <= fc.rate_per_day <= fc.rate_high
