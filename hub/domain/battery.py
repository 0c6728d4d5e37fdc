"""Battery state of charge from a voltage, and how long a battery has left from its voltage history.

A cell's voltage is not linear in its charge: a LiFePO4 cell sits on a plateau around 3.2-3.3 V for most of its
life, a Li-ion cell falls from 4.2 V to about 3.6 V and then drops fast. So the voltage is first turned into a
percentage with the chemistry's discharge curve (docs/hardware.md, "Battery percentage"), and the forecast
extrapolates the percentage, which falls roughly linearly with the charge used, not the voltage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from hub.domain.devices import DeviceKind


class Chemistry(StrEnum):
    """The cell a device kind is built with (docs/hardware.md)."""

    LIFEPO4 = "lifepo4"  # dash button: one LiFePO4 18650 straight on 3V3
    LI_ION = "li-ion"  # barcode wand and appliance sensor: a Li-ion 18650 behind an LDO


# (millivolts, percent) at rest under the device's light load, ascending; linear between points.
CURVES: dict[Chemistry, tuple[tuple[int, int], ...]] = {
    Chemistry.LIFEPO4: ((2800, 0), (3000, 8), (3150, 20), (3220, 40), (3260, 60), (3300, 80), (3350, 95),
                        (3400, 100)),
    Chemistry.LI_ION: ((3300, 0), (3500, 8), (3600, 20), (3700, 40), (3800, 58), (3900, 72), (4000, 84),
                       (4100, 93), (4180, 100)),
}
KIND_CHEMISTRY: dict[str, Chemistry] = {
    DeviceKind.DASH_BUTTON: Chemistry.LIFEPO4,
    DeviceKind.BARCODE_WAND: Chemistry.LI_ION,
    DeviceKind.APPLIANCE_SENSOR: Chemistry.LI_ION,
}
LOW_PERCENT = 15  # below this the household is told to charge or replace the battery
# A rise of this many points between two readings is a new or recharged battery: the history starts over.
RECHARGE_POINTS = 15
# The forecast needs this much history since the last recharge, and a fall of this many points, before it
# says anything: two readings an hour apart differ by ADC noise, not by use.
MIN_SPAN = timedelta(days=3)
MIN_FALL_POINTS = 2.0


def chemistry_of(kind: str) -> Chemistry:
    """The cell of a device kind; an unknown kind is taken for Li-ion, the most common cell."""
    return KIND_CHEMISTRY.get(kind, Chemistry.LI_ION)


def percent(millivolts: float, chemistry: Chemistry) -> float:
    """State of charge 0 … 100 for a voltage, by the chemistry's curve (clamped at both ends)."""
    curve = CURVES[chemistry]
    if millivolts <= curve[0][0]:
        return float(curve[0][1])
    for (mv_lo, pct_lo), (mv_hi, pct_hi) in zip(curve, curve[1:], strict=False):
        if millivolts <= mv_hi:
            return pct_lo + (pct_hi - pct_lo) * (millivolts - mv_lo) / (mv_hi - mv_lo)
    return float(curve[-1][1])


def is_low(pct: float) -> bool:
    """Whether a state of charge deserves a warning."""
    return pct < LOW_PERCENT


@dataclass(frozen=True)
class Sample:
    """One battery voltage the device reported."""

    at: datetime
    millivolts: int


def since_recharge(samples: Sequence[Sample], chemistry: Chemistry) -> list[Sample]:
    """The samples after the last recharge or battery change (a jump up), oldest first."""
    ordered = sorted(samples, key=lambda s: s.at)
    start = 0
    for i in range(1, len(ordered)):
        if percent(ordered[i].millivolts, chemistry) - percent(ordered[i - 1].millivolts, chemistry) >= RECHARGE_POINTS:
            start = i
    return ordered[start:]


def time_left(samples: Sequence[Sample], chemistry: Chemistry, now: datetime) -> timedelta | None:
    """How long until the battery is empty, from the percentage's least-squares trend since the last recharge;
    None while the history is too short or shows no fall (too early to tell)."""
    recent = since_recharge(samples, chemistry)
    if len(recent) < 2 or recent[-1].at - recent[0].at < MIN_SPAN:
        return None
    origin = recent[0].at
    xs = [(s.at - origin).total_seconds() for s in recent]
    ys = [percent(s.millivolts, chemistry) for s in recent]
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx  # percent per second; sxx > 0 since the span is at least MIN_SPAN
    if slope >= 0 or -slope * (xs[-1] - xs[0]) < MIN_FALL_POINTS:
        return None
    # The trend's value now, not the last reading: one noisy reading does not move the forecast much.
    level_now = mean_y + slope * ((now - origin).total_seconds() - mean_x)
    if level_now <= 0:
        return timedelta(0)
    return timedelta(seconds=level_now / -slope)


def describe_time_left(left: timedelta) -> str:
    """"about 8 months left", "about 3 weeks left", "a few days left" (rounded, never falsely precise)."""
    days = left.total_seconds() / 86400
    if days < 1:
        return "empty within a day"
    if days < 10:
        return f"about {round(days)} {'day' if round(days) == 1 else 'days'} left"
    if days < 60:
        weeks = round(days / 7)
        return f"about {weeks} weeks left"
    if days < 730:
        months = round(days / 30.44)
        return f"about {months} months left"
    return f"about {round(days / 365.25)} years left"
