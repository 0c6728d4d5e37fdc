"""Battery percentage, forecast of the time left, and device presence, by property."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from hub.domain.battery import (
    CURVES,
    MIN_SPAN,
    Chemistry,
    Sample,
    chemistry_of,
    describe_time_left,
    is_low,
    percent,
    time_left,
)
from hub.domain.presence import Presence, presence

T0 = datetime(2025, 1, 1, tzinfo=UTC)
chemistries = st.sampled_from(list(Chemistry))
millivolts = st.integers(0, 6000)


def inverse(pct: float, chemistry: Chemistry) -> int:
    """The voltage at which the curve gives `pct` (bisection; the curve is monotone)."""
    lo, hi = 0, 6000
    while lo < hi:
        mid = (lo + hi) // 2
        if percent(mid, chemistry) < pct:
            lo = mid + 1
        else:
            hi = mid
    return lo


def discharge(chemistry: Chemistry, start_pct: float, points_per_day: float, days: int, every_h: int) -> list[Sample]:
    """Readings of a battery losing `points_per_day` percentage points a day, one every `every_h` hours."""
    out = []
    for hour in range(0, days * 24 + 1, every_h):
        pct = start_pct - points_per_day * hour / 24
        if pct <= 0:
            break
        out.append(Sample(T0 + timedelta(hours=hour), inverse(pct, chemistry)))
    return out


@given(chemistries, millivolts, millivolts)
def test_percent_stays_in_range_and_rises_with_the_voltage(chemistry: Chemistry, a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert 0 <= percent(low, chemistry) <= percent(high, chemistry) <= 100


def test_curves_end_at_empty_and_full_and_kinds_have_their_cells() -> None:
    for chemistry, curve in CURVES.items():
        assert curve[0][1] == 0 and curve[-1][1] == 100, chemistry
        assert [mv for mv, _ in curve] == sorted({mv for mv, _ in curve})
    assert chemistry_of("dash_button") is Chemistry.LIFEPO4
    assert chemistry_of("appliance_sensor") is Chemistry.LI_ION
    # A LiFePO4 cell at 3.0 V is nearly empty; a Li-ion cell at 4.1 V is nearly full.
    assert is_low(percent(3000, Chemistry.LIFEPO4))
    assert not is_low(percent(4100, Chemistry.LI_ION))


@given(chemistries, st.floats(60, 100), st.floats(0.1, 5), st.sampled_from([6, 12, 24]))
def test_a_steady_discharge_is_forecast_close_to_its_true_end(
    chemistry: Chemistry, start: float, rate: float, every_h: int
) -> None:
    days = 30
    samples = discharge(chemistry, start, rate, days, every_h)
    now = samples[-1].at
    left = time_left(samples, chemistry, now)
    assert left is not None
    truth_days = (start - rate * (now - T0).total_seconds() / 86400) / rate
    # Voltages are whole millivolts: on a flat curve one millivolt is a few tenths of a point.
    assert abs(left.total_seconds() / 86400 - truth_days) <= max(2.0, 0.1 * truth_days)


@given(chemistries, st.floats(60, 100), st.floats(0.1, 3), st.integers(-5000, 5000))
def test_the_forecast_does_not_depend_on_the_calendar(
    chemistry: Chemistry, start: float, rate: float, shift_d: int
) -> None:
    samples = discharge(chemistry, start, rate, 20, 12)
    shift = timedelta(days=shift_d)
    moved = [Sample(s.at + shift, s.millivolts) for s in samples]
    now = samples[-1].at
    assert time_left(samples, chemistry, now) == time_left(moved, chemistry, now + shift)


@given(chemistries, st.floats(70, 100), st.floats(0.2, 1), st.floats(1.5, 4))
def test_a_faster_discharge_leaves_less_time(chemistry: Chemistry, start: float, rate: float, factor: float) -> None:
    slow = discharge(chemistry, start, rate, 15, 12)
    fast = discharge(chemistry, start, rate * factor, 15, 12)
    now = T0 + timedelta(days=15)
    slow_left, fast_left = time_left(slow, chemistry, now), time_left(fast, chemistry, now)
    assert slow_left is not None and fast_left is not None
    assert fast_left < slow_left


@given(chemistries, st.floats(0.2, 2), st.integers(1, 40))
def test_history_before_a_recharge_is_ignored(chemistry: Chemistry, rate: float, old_days: int) -> None:
    # An old battery run down over `old_days`, then a fresh one: only the fresh one's trend counts.
    run_down = discharge(chemistry, 60, 1.0, old_days, 24)
    old = [Sample(s.at - timedelta(days=old_days + 1), s.millivolts) for s in run_down]
    fresh = discharge(chemistry, 100, rate, 10, 12)
    now = fresh[-1].at
    assert time_left(old + fresh, chemistry, now) == time_left(fresh, chemistry, now)


@given(chemistries, millivolts, st.integers(2, 50), st.integers(1, 72))
def test_no_forecast_without_a_fall_or_before_enough_history(
    chemistry: Chemistry, mv: int, n: int, every_h: int
) -> None:
    steady = [Sample(T0 + timedelta(hours=i * every_h), mv) for i in range(n)]
    assert time_left(steady, chemistry, steady[-1].at) is None
    short = [s for s in discharge(chemistry, 90, 5, 10, 6) if s.at - T0 < MIN_SPAN]
    assert time_left(short, chemistry, short[-1].at) is None


def test_time_left_is_said_roughly() -> None:
    assert describe_time_left(timedelta(days=245)) == "about 8 months left"
    assert describe_time_left(timedelta(days=21)) == "about 3 weeks left"
    assert describe_time_left(timedelta(days=3)) == "about 3 days left"
    assert describe_time_left(timedelta(days=1000)) == "about 3 years left"
    assert describe_time_left(timedelta(hours=5)) == "empty within a day"


@given(st.sampled_from(["dash_button", "barcode_wand"]), st.integers(0, 10**8))
def test_buttons_and_wands_sleep_until_used(kind: str, silent_s: int) -> None:
    now = T0 + timedelta(seconds=silent_s)
    assert presence(kind, False, T0, now) is Presence.ASLEEP
    assert presence(kind, True, T0, now) is Presence.ONLINE
    assert presence(kind, False, None, now) is Presence.NEVER


@given(st.integers(0, 10**7))
def test_a_sensor_is_offline_only_after_missing_its_check_in(silent_s: int) -> None:
    now = T0 + timedelta(seconds=silent_s)
    expected = Presence.ASLEEP if silent_s <= 9 * 3600 else Presence.OFFLINE
    assert presence("appliance_sensor", False, T0, now) is expected
    # A kind that does not sleep by design is offline as soon as it is disconnected.
    assert presence("mains_gadget", False, T0, now) is Presence.OFFLINE
