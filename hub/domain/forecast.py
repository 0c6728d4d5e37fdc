"""Consumption rate and run-out date with its uncertainty, from a cleaned reading series (pure, stdlib only).

The rate is a median of pairwise slopes (Theil-Sen) taken within refill-free segments: unlike a least-squares
line it ignores a minority of bad readings and a busy day without any tuning, and it needs no regular
spacing, so sensor gaps cost nothing but precision. A short recent window is compared with the long one to
notice when the household's habits change; the uncertainty of the rate and of the level gives the run-out
interval.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from hub.domain.readings import CleanSeries, Reading, median

# Two standard errors: about 95% two-sided if errors were normal; the bounds are meant as "plausible", not
# exact probabilities, and 2 keeps them from collapsing when the data are clean.
Z = 2.0
LONG_DAYS = 28.0  # four weeks: whole weekly cycles, yet a habit change leaves the window within a month
RECENT_DAYS = 7.0  # one week: a new habit is visible after a few readings
MIN_POINTS = 3  # fewer readings than this give no rate at all
MIN_SPAN_DAYS = 1.0  # nor do readings spanning less than a day (one wash says nothing about a week)
MIN_PAIR_DAYS = 1.0 / 24.0  # pairs closer than an hour only carry sensor noise
HORIZON_DAYS = 365.0  # a run-out further away than this is reported as None ("not foreseeable")
# Use between two readings may exceed the rate this many times (a wash day, a party); a drop beyond that
# on an unconfirmed reading is more likely a glitch.
BURST = 8.0
# A fall over one interval faster than this many times the pessimistic rate is use going on, not a quiet day.
FALLING = 2.0
WOBBLE_DAYS = 7.0  # irregularity of use is measured over a week (a weekly habit is regular at that scale)
MAD_TO_SIGMA = 1.4826  # median absolute deviation of a normal sample times this is its standard deviation
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Rate:
    """A robust consumption rate (units/day, positive = used) with its standard error and scatter."""

    per_day: float
    se: float
    sigma: float  # scatter of the readings around the fitted line (noise and irregular use), units
    wobble: float  # irregularity of use from one reading to the next, units per sqrt(day)
    points: int
    span_days: float


@dataclass(frozen=True, slots=True)
class Forecast:
    """The slot at `at`: level, rate and run-out with bounds; None where the data cannot tell."""

    at: datetime
    status: str  # 'ok' | 'sparse' (too few readings) | 'idle' (no run-out within the horizon)
    level_now: float | None  # on the sensor, projected to `at`
    shelf: float  # credited stock that the sensor does not see (delivered, not yet loaded)
    rate_per_day: float | None
    rate_low: float | None
    rate_high: float | None
    run_out_at: datetime | None
    run_out_earliest: datetime | None
    run_out_latest: datetime | None
    habit_change: str | None = None  # 'up' | 'down' when the recent week departs from the last four
    rate_long: float | None = None  # the four-week rate, whatever the recent week says

    @property
    def stock_now(self) -> float | None:
        """Everything on hand: sensor level plus credited shelf stock."""
        return None if self.level_now is None else self.level_now + self.shelf


def _days(since: datetime, until: datetime) -> float:
    return (until - since) / _DAY


def _weighted_median(items: list[tuple[float, float]]) -> float:
    items.sort()
    half = sum(w for _, w in items) / 2.0
    acc = 0.0
    for value, weight in items:
        acc += weight
        if acc >= half:
            return value
    return items[-1][0]


def estimate_rate(
    segments: Sequence[Sequence[Reading]],
    since: datetime,
    until: datetime,
    *,
    glitchy: bool = False,
    min_wobble: float = 0.0,
) -> Rate | None:
    """Theil-Sen consumption rate over readings in [since, until], pairs taken only within a segment."""
    chosen = [[r for r in seg if since <= r.at <= until] for seg in segments]
    chosen = [seg for seg in chosen if len(seg) >= 2]
    points = sum(len(seg) for seg in chosen)
    slopes: list[tuple[float, float]] = []
    times = [[_days(until, r.at) for r in seg] for seg in chosen]
    for seg, ts in zip(chosen, times, strict=True):
        vs = [r.value for r in seg]
        for i in range(len(seg)):
            ti, vi = ts[i], vs[i]
            # Weighted by the time apart: a slope over a week averages a weekly habit and the noise out,
            # a slope over one evening does not (Jaeckel's weighting of Theil-Sen).
            slopes.extend(
                ((vi - v) / (t - ti), t - ti)
                for t, v in zip(ts[i + 1 :], vs[i + 1 :], strict=True)
                if t - ti >= MIN_PAIR_DAYS
            )
    span = max((w for _, w in slopes), default=0.0)
    if points < MIN_POINTS or span < MIN_SPAN_DAYS:
        return None
    rate = _weighted_median(slopes)
    residuals: list[float] = []
    sxx = 0.0
    for seg, ts in zip(chosen, times, strict=True):
        # Each segment has its own level (refills), so its own robust intercept; the slope is shared.
        shifted = [r.value + rate * t for r, t in zip(seg, ts, strict=True)]
        intercept = median(shifted)
        residuals.extend(v - intercept for v in shifted)
        mean_t = sum(ts) / len(ts)
        sxx += sum((t - mean_t) ** 2 for t in ts)
    sigma = max(MAD_TO_SIGMA * median(abs(r) for r in residuals), 1e-9)
    # The least-squares standard error with a robust scatter: cheap, grows with noise and shrinks with
    # more and longer-spaced readings, which is all the run-out bounds need.
    se = sigma / math.sqrt(sxx) if sxx > 0 else math.inf
    # The week-scale irregularity needs pairs a week apart; a short window looks at half of its span.
    scale = min(WOBBLE_DAYS, max(_days(since, until) / 2.0, MIN_PAIR_DAYS))
    wobble = _wobble(chosen, times, rate, scale, trim=glitchy)
    # Lumpy use (a wash every few days, a cycle counter's whole counts) barely scatters the readings around
    # a line, yet the use seen over T days varies by wobble * sqrt(T): the rate is no surer than that. A
    # quiet week says little about that irregularity, so the caller can pass what a longer window saw.
    covered = sum(ts[-1] - ts[0] for ts in times)
    if covered > 0:
        se = math.hypot(se, max(wobble, min_wobble) / math.sqrt(covered))
    return Rate(per_day=rate, se=se, sigma=sigma, wobble=wobble, points=points, span_days=span)


def _wobble(
    segments: list[list[Reading]], times: list[list[float]], rate: float, scale: float, trim: bool
) -> float:
    """Irregularity of use over about `scale` days, per sqrt(day) (sensor noise included)."""
    # Use between a reading and the first one at least `scale` days later, minus what the rate predicts,
    # scaled to one day: if use varies independently from day to day its spread grows like sqrt(t). Measured
    # over about a week rather than from one reading to the next, a weekly habit (nothing for six days, a
    # big wash on the seventh) counts as the regular use it is, while a burst or a lumpy month still shows.
    # Sensor noise is counted in too, which only errs towards ordering a little early on a noisy sensor.
    steps = []
    for seg, ts in zip(segments, times, strict=True):
        j = 0
        for i in range(len(seg)):
            j = max(j, i + 1)
            while j < len(seg) and ts[j] - ts[i] < scale:
                j += 1
            if j == len(seg):
                break
            span = ts[j] - ts[i]
            steps.append((seg[i].value - seg[j].value - rate * span) / math.sqrt(span))
    if not steps:
        return 0.0
    # Root mean square, not a median-based scale: with lumpy use most steps are "nothing unusual" and the
    # median would call the use perfectly regular. The largest tenth is left out only on a glitchy sensor,
    # where it is mostly glitches that survived cleaning; elsewhere it is the bursts of use that matter.
    squares = sorted(x * x for x in steps)
    kept = squares[: max(1, math.ceil(0.9 * len(steps)))] if trim else squares
    return math.sqrt(sum(kept) / len(kept))


def _run_out(stock: float, rate: float, spread: float) -> float | None:
    """Days t at which rate*t + spread*sqrt(t) reaches `stock` (None if never): use plus its irregularity."""
    if rate <= 0:
        return None
    # A quadratic in x = sqrt(t): rate*x^2 + spread*x - stock = 0, positive root.
    root = (-spread + math.sqrt(spread * spread + 4.0 * rate * stock)) / (2.0 * rate)
    return max(root, 0.0) ** 2


def _earliest(stock: float, rate: float, se: float, wobble: float, level_sd: float) -> float | None:
    """Days until use plausibly reaches `stock`: expected use plus Z standard deviations of its error.

    The three errors (the rate's, the irregularity of use growing like sqrt(t), the level's) are independent,
    so their variances add: (se*t)^2 + wobble^2*t + level_sd^2. Adding three separate Z-bounds instead would
    plan for all of them going wrong at once and keep far more stock than the stated margin needs.
    """
    if rate <= 0:
        return None

    def used(t: float) -> float:
        return rate * t + Z * math.sqrt((se * t) ** 2 + wobble * wobble * t + level_sd * level_sd)

    if used(0.0) >= stock:
        return 0.0
    # used() grows with t; bracket the answer, then halve the bracket.
    high = max(stock / rate, 1.0)
    while used(high) < stock:
        high *= 2.0
        if high > 16.0 * HORIZON_DAYS:
            return None
    low = 0.0
    for _ in range(40):
        mid = (low + high) / 2.0
        if used(mid) < stock:
            low = mid
        else:
            high = mid
    return high


def _within(now: datetime, days: float | None, horizon: float) -> datetime | None:
    if days is None or days > horizon:
        return None
    return now + timedelta(days=max(days, 0.0))


def forecast(
    series: CleanSeries,
    now: datetime,
    *,
    shelf: float = 0.0,
    long_days: float = LONG_DAYS,
    recent_days: float = RECENT_DAYS,
    horizon_days: float = HORIZON_DAYS,
) -> Forecast:
    """Estimate rate, level now and run-out (expected, earliest, latest) of a cleaned slot series."""
    segments = [tuple(r for r in seg if r.at <= now) for seg in series.segments]
    segments = [seg for seg in segments if seg]
    if not segments:
        return Forecast(now, "sparse", None, shelf, None, None, None, None, None, None)
    last = segments[-1][-1]
    rated = segments
    tail = segments[-1]
    drop = tail[-2].value - tail[-1].value if len(tail) >= 3 else 0.0
    going = False  # the newest drop continues a fast fall, so the level takes it before the rate does
    if drop > series.jump:
        # A drop of more than a jump on the newest reading has no second opinion yet. On a sensor that
        # glitches, or if it is more than a burst of use could explain, a glitch to zero would otherwise set
        # the rate of a whole week: it waits for the next reading (the level below still counts it). Any
        # other such drop is a burst of use and must bring the order forward at once.
        before = [*segments[:-1], tail[:-1]]
        prior = estimate_rate(before, tail[-2].at - timedelta(days=long_days), tail[-2].at, glitchy=series.glitchy)
        burst = BURST * (prior.per_day + Z * prior.se) * _days(tail[-2].at, tail[-1].at) if prior else math.inf
        if series.glitchy or drop > burst:
            rated = before
            # A glitch is one reading; use that was already falling fast over the interval before is a burst
            # going on (guests arriving), and the level believes it at once: waiting for the next reading
            # delays the order by a day, which is the day a delivery needs. The rate still waits. Fast needs a
            # usual use to compare with: after days of none, the first fall is use starting, not a burst.
            if prior is not None and prior.per_day > 0 and not series.glitchy:
                days = _days(tail[-3].at, tail[-2].at)
                fell = tail[-3].value - tail[-2].value
                going = fell > FALLING * (prior.per_day + Z * prior.se) * days + Z * prior.sigma
    # Windows end at the newest reading, not at `now`: a sensor offline for weeks still yields the rate it
    # last saw, and the projection to `now` widens the uncertainty instead of forgetting everything.
    end = rated[-1][-1].at
    long = estimate_rate(rated, end - timedelta(days=long_days), end, glitchy=series.glitchy)
    if long is None:
        return Forecast(now, "sparse", last.value, shelf, None, None, None, None, None, None)
    recent = estimate_rate(rated, end - timedelta(days=recent_days), end, glitchy=series.glitchy,
                           min_wobble=long.wobble)
    chosen, change = long, None
    # A week of a glitchy sensor holds too few trustworthy readings to call a change of habit.
    changed = recent is not None and abs(recent.per_day - long.per_day) > Z * math.hypot(recent.se, long.se)
    if recent is not None and changed and not series.glitchy:
        chosen, change = recent, ("up" if recent.per_day > long.per_day else "down")
    rate = max(chosen.per_day, 0.0)
    rate_high = rate + Z * chosen.se
    if change == "down":
        # Adapt up at once, down slowly: a missed increase is a stock-out, a missed decrease only an early
        # order. So the pessimistic bound keeps the four-week rate until the window forgets it.
        rate_high = max(rate_high, long.per_day)
    rate_low = max(rate - Z * chosen.se, 0.0)

    newest = tail[-3:] if going else rated[-1][-3:]
    if series.glitchy:
        # Median of the newest readings projected to now: one odd reading at the end cannot trigger an order.
        projected = median(r.value - rate * _days(r.at, now) for r in newest)
    else:
        # A sensor that does not glitch is believed at once: a burst of use brings the order forward the
        # day it shows, not two readings later (an implausible drop already waits for its second opinion).
        projected = newest[-1].value - rate * _days(newest[-1].at, now)
    age = max(_days(last.at, now), 0.0)
    # A sensor that went quiet: once the projected container is empty, the household opens the shelf stock,
    # so use goes on eating into it rather than stopping at an empty container.
    level = max(projected, 0.0)
    stock = max(projected + shelf, 0.0)
    shelf = stock - level
    expected = stock / rate if rate > 0 else None
    # Irregularity over four weeks or over the last one, whichever is larger: a burst of use last week is
    # the best warning of another one (a glitch costs an early order, a burst missed costs a stock-out).
    wobble = max(long.wobble, recent.wobble) if recent is not None else long.wobble
    # The level projected over the days since the last reading carries the rate's error over them and the
    # irregularity of the use nobody saw: ten days offline are ten days of use as uneven as any ten ahead.
    level_err = Z * math.sqrt(chosen.sigma**2 + (chosen.se * age) ** 2 + wobble * wobble * age)
    # The pessimistic centre is the four-week rate while a drop in use is still unconfirmed.
    centre = max(rate, long.per_day) if change == "down" else rate
    earliest = _earliest(stock, centre, chosen.se, wobble, level_err / Z)
    latest = _run_out(stock + level_err, rate_low, -Z * wobble)
    run_out = _within(now, expected, horizon_days)
    return Forecast(
        at=now,
        status="ok" if run_out is not None else "idle",
        level_now=level,
        shelf=shelf,
        rate_per_day=rate,
        rate_low=rate_low,
        rate_high=rate_high,
        run_out_at=run_out,
        run_out_earliest=_within(now, earliest, horizon_days),
        run_out_latest=_within(now, latest, horizon_days),
        habit_change=change,
        rate_long=max(long.per_day, 0.0),
    )


# Bursts of use come every few weeks (a party, guests for a weekend, the big spring clean): the four-week and
# one-week irregularity forget them between two, so the largest one is remembered over sixteen weeks (two or
# more bursts six weeks apart; twelve weeks held one, and a slot met the next burst bigger than it remembered).
BURST_MEMORY_DAYS = 112.0
BURST_LOCAL_DAYS = 14.0  # usual use is judged over four weeks around each stretch


def largest_burst(series: CleanSeries, until: datetime, span_days: float,
                  memory_days: float = BURST_MEMORY_DAYS, local_days: float = BURST_LOCAL_DAYS) -> float:
    """The most use beyond the usual seen over a stretch of `span_days` (a lead time) in the last `memory_days`.

    Usual is the median use over such stretches within `local_days` either side: a habit that changed since (a
    step down, a guest month, a trend) is no burst, and a burst of one to three days barely moves a median of
    four weeks. Both ends of a stretch need a second opinion: the stretch starts no higher than the reading
    next to it says and ends no lower than the reading after it says (a glitch, or a glitch taken for a refill,
    is no burst). Units, 0 when nothing beyond the usual was seen.
    """
    since = until - timedelta(days=memory_days + local_days)
    segments = [tuple(r for r in seg if since <= r.at <= until) for seg in series.segments]
    segments = [seg for seg in segments if len(seg) >= 2]
    starts: list[float] = []  # days before `until` (negative), oldest first
    used: list[float] = []
    spans: list[float] = []
    for seg in segments:
        ts = [_days(until, r.at) for r in seg]
        top = [min(seg[0].value, seg[1].value)] + [min(r.value, before.value) for before, r in pairwise(seg)]
        bottom = [max(r.value, after.value) for r, after in pairwise(seg)]
        j = 0
        for i in range(len(seg)):
            # The use over a whole lead time: a day next to quiet days (a weekly wash) is no more than the week.
            j = max(j, i + 1)
            while j + 1 < len(bottom) and ts[j + 1] - ts[i] <= span_days:
                j += 1
            if j >= len(bottom):
                break
            if ts[j] - ts[i] >= MIN_SPAN_DAYS:
                starts.append(ts[i])
                used.append(top[i] - bottom[j])
                spans.append(ts[j] - ts[i])
    per_day = [u / d for u, d in zip(used, spans, strict=True)]
    largest = 0.0
    for start, use, days in zip(starts, used, spans, strict=True):
        if start < -memory_days:
            continue
        usual = median(per_day[bisect_left(starts, start - local_days) : bisect_right(starts, start + local_days)])
        largest = max(largest, use - usual * days)
    return largest


def from_balance(
    now: datetime,
    last: Reading,
    shelf: float,
    rate: float,
    recent: float,
    wobble: float,
    *,
    doubt: float = 0.0,
    window_days: float = LONG_DAYS,
    horizon_days: float = HORIZON_DAYS,
) -> Forecast:
    """The forecast of a slot whose rate and shelf stock come from a mass balance (hub.domain.packs), not slopes.

    The same run-out bounds as `forecast`: the rate's error (the irregularity over the window it was measured
    on) and the irregularity of use growing like sqrt(t), and `doubt` about the stock (two standard errors'
    worth, units). A rise in use over the last week is followed at once; a fall only once the four weeks show it.
    """
    rate = max(rate, 0.0)
    se = wobble / math.sqrt(window_days) if window_days > 0 else 0.0
    change = "up" if recent > rate + Z * se else None
    centre = max(rate, recent) if change else rate
    age = max(_days(last.at, now), 0.0)
    # Use goes on while the sensor is quiet; past an empty container it eats into the shelf.
    stock = max(last.value + shelf - centre * age, 0.0)
    level = min(max(last.value - centre * age, 0.0), stock)
    expected = stock / centre if centre > 0 else None
    earliest = _earliest(stock, centre, se, wobble, math.hypot(se * age, doubt / Z))
    rate_low = max(rate - Z * se, 0.0)
    latest = _run_out(stock, rate_low, -Z * wobble)
    run_out = _within(now, expected, horizon_days)
    return Forecast(
        at=now,
        status="ok" if run_out is not None else "idle",
        level_now=level,
        shelf=stock - level,
        rate_per_day=centre,
        rate_low=rate_low,
        rate_high=centre + Z * se,
        run_out_at=run_out,
        run_out_earliest=_within(now, earliest, horizon_days),
        run_out_latest=_within(now, latest, horizon_days),
        habit_change=change,
        rate_long=rate,
    )
