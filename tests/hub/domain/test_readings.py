"""Cleaning a slot's readings: refills, spikes, gaps (hub.domain.readings)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.domain.readings import Reading, clean

T0 = datetime(2025, 3, 1, 20, tzinfo=UTC)


def daily(values: list[float], start: datetime = T0) -> list[Reading]:
    """One reading a day."""
    return [Reading(start + timedelta(days=i), v) for i, v in enumerate(values)]


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError):
        Reading(datetime(2025, 1, 1), 1.0)


def test_refill_splits_the_series() -> None:
    values = [100.0 - 5 * i for i in range(10)] + [500.0 - 5 * i for i in range(10)]
    series = clean(daily(values))
    assert len(series.refills) == 1
    refill = series.refills[0]
    assert refill.at == T0 + timedelta(days=10)
    # Measured to where the level settled: the median of the first three readings after the jump (495).
    assert refill.amount == pytest.approx(440.0)
    assert [len(s) for s in series.segments] == [10, 10]
    assert not series.rejected


def test_refill_followed_by_a_busy_day_is_still_a_refill() -> None:
    # The container was loaded, then a party used a lot: the level falls back near where it was, but the
    # next reading was clearly higher, so it is a refill, not a spike.
    values = [40.0 - 2 * i for i in range(16)] + [26.0, 18.0, 11.0, 9.0, 7.0, 5.0, 3.0]
    series = clean(daily(values), min_jump=3.0)
    assert [r.at for r in series.refills] == [T0 + timedelta(days=16)]
    assert not series.rejected


def test_up_and_down_spikes_are_rejected() -> None:
    values = [200.0 - 4 * i for i in range(20)]
    values[6] = 900.0  # someone leaned on the scale
    values[13] = 2.0  # bad contact
    series = clean(daily(values))
    assert {r.reading.at for r in series.rejected} == {T0 + timedelta(days=6), T0 + timedelta(days=13)}
    assert all(r.reason == "spike" for r in series.rejected)
    assert not series.refills
    assert len(series.segments) == 1


def test_dip_then_refill_is_use_not_a_spike() -> None:
    values = [100.0, 96.0, 92.0, 88.0, 5.0, 500.0, 496.0, 492.0]
    series = clean(daily(values))
    assert not series.rejected
    assert len(series.refills) == 1 and series.refills[0].before == 5.0


def test_invalid_and_duplicate_values_are_rejected() -> None:
    readings = daily([10.0, 9.0, 8.0])
    readings += [Reading(T0, 11.0), Reading(T0 + timedelta(days=5), math.nan), Reading(T0, -1.0)]
    series = clean(readings)
    reasons = sorted(r.reason for r in series.rejected)
    assert reasons == ["duplicate", "invalid", "invalid"]
    assert len(series.readings) == 3


def test_gap_is_reported_and_ends_a_segment() -> None:
    readings = daily([100.0, 98.0, 96.0, 94.0]) + daily([70.0, 68.0, 66.0], T0 + timedelta(days=16))
    series = clean(readings)
    assert len(series.gaps) == 1
    assert series.gaps[0].days == pytest.approx(13.0)
    assert len(series.segments) == 2
    assert not series.refills and not series.rejected


def test_two_rises_in_a_row_are_one_refill() -> None:
    values = [40.0, 36.0, 32.0, 28.0, 24.0, 300.0, 980.0, 976.0, 972.0, 968.0]
    series = clean(daily(values), min_jump=50.0)
    assert len(series.refills) == 1
    assert series.refills[0].amount == pytest.approx(976.0 - 24.0)
    assert [r.reason for r in series.rejected] == ["transient"]


def test_a_glitch_on_the_reading_after_a_refill_does_not_count_twice() -> None:
    values = [300.0 - 20 * i for i in range(10)] + [2500.0, 1090.0, 1070.0, 1050.0, 1030.0]
    series = clean(daily(values), min_jump=100.0, max_jump=500.0)
    [refill] = series.refills
    assert refill.after == 1090.0  # where the level settled, not the 2500 the glitch showed
    assert refill.amount == pytest.approx(1090.0 - 120.0)


def test_a_glitchy_sensor_is_told_from_a_quiet_one() -> None:
    quiet = [2000.0 - 10 * i for i in range(60)]
    glitchy = list(quiet)
    for i in range(3, 60, 12):
        glitchy[i] += 600.0  # five glitches in sixty readings
    assert not clean(daily(quiet)).glitchy
    assert clean(daily(glitchy), min_jump=100.0, max_jump=500.0).glitchy


def test_max_jump_keeps_refills_visible_on_a_very_noisy_sensor() -> None:
    noise = [0, 150, -150, 120, -120, 150, -150, 120, -120, 150, -150, 120, -120, 150, -150, 120]
    values = [1000.0 - 10 * i + n for i, n in enumerate(noise)]
    values[8:] = [v + 900 for v in values[8:]]
    assert len(clean(daily(values), max_jump=500.0).refills) == 1


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(min_value=0.0, max_value=20.0), min_size=3, max_size=60),
    st.integers(min_value=1, max_value=40),
)
def test_steady_use_never_yields_refills(uses: list[float], start_day: int) -> None:
    level, values = 2000.0, []
    for used in uses:
        level -= used
        values.append(level)
    series = clean(daily(values, T0 + timedelta(days=start_day)))
    assert not series.refills
    assert len(series.readings) + len(series.rejected) == len(values)
