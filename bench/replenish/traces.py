"""Consumption traces for the replenishment bench: generated households and CSV replays.

A trace holds everything that does not depend on the policy, drawn once so every policy meets the same
year: daily use, manual refills, the household's habit of loading the next pack, the sensor's noise, spikes
and offline days, and the delivery lead time an order placed on each day would get.
"""

from __future__ import annotations

import csv
import math
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

DAYS = 365
SCENARIOS = (
    "steady",
    "weekly",
    "trend_up",
    "trend_down",
    "step_up",
    "step_down",
    "guest_month",
    "bursts",
    "vacation",
    "noisy_sensor",
    "sensor_offline",
    "manual_refills",
)
LEAD_MIN, LEAD_MAX = 2, 7  # days from order to delivery, uniform; policies are only told a nominal value
BASE_NOISE = 0.004  # load cell noise, share of a pack (standard deviation)
BASE_SPIKES = 0.005  # share of readings that are glitches (someone leans on the scale, a bad contact)
BASE_OFFLINE = 0.02  # share of days without a reading (Wi-Fi, battery)


@dataclass(frozen=True)
class Trace:
    """One slot's year: consumption, the household's habits, the sensor's errors and the lead times."""

    name: str
    scenario: str
    unit: str
    pack_size: float
    used: tuple[float, ...]
    refill: tuple[float, ...]
    start_level: float
    load_below: float  # the household loads the next pack from the shelf when the sensor's level is below
    lead: tuple[int, ...]
    noise: tuple[float, ...]  # additive sensor error per day, units
    spike: tuple[float, ...]  # additive glitch per day, units (0: none)
    online: tuple[bool, ...]
    step: float  # sensor resolution (0: continuous)

    @property
    def days(self) -> int:
        """Length of the trace in days."""
        return len(self.used)

    @property
    def avg_use(self) -> float:
        """Mean daily use over the whole trace (what competitors are told)."""
        return max(sum(self.used) / len(self.used), 1e-9)


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method; the means here stay small enough."""
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _sensor(
    rng: random.Random, days: int, pack: float, noise: float, spikes: float, offline: float
) -> tuple[tuple[float, ...], tuple[float, ...], list[bool]]:
    errors = tuple(rng.gauss(0.0, noise * pack) for _ in range(days))
    glitches = []
    for _ in range(days):
        if rng.random() < spikes:
            glitches.append(rng.choice((-1.0, 1.0)) * rng.uniform(0.3, 1.0) * pack)
        else:
            glitches.append(0.0)
    online = [rng.random() >= offline for _ in range(days)]
    return errors, tuple(glitches), online


def _profile(rng: random.Random, scenario: str, days: int) -> list[float]:
    """Multiplier of the household's base rate per day."""
    mult = [1.0] * days
    if scenario in ("trend_up", "trend_down"):
        low, high = rng.uniform(0.5, 0.8), rng.uniform(1.3, 1.8)
        a, b = (low, high) if scenario == "trend_up" else (high, low)
        mult = [a + (b - a) * d / (days - 1) for d in range(days)]
    elif scenario in ("step_up", "step_down"):
        change = rng.randint(45, days - 60)
        factor = rng.uniform(1.5, 2.5) if scenario == "step_up" else rng.uniform(0.4, 0.7)
        mult = [1.0 if d < change else factor for d in range(days)]
    elif scenario == "guest_month":
        start, factor = rng.randint(20, days - 40), rng.uniform(1.5, 2.5)
        mult = [factor if start <= d < start + 30 else 1.0 for d in range(days)]
    elif scenario == "vacation":
        for _ in range(rng.randint(1, 2)):
            start, length = rng.randint(20, days - 30), rng.randint(7, 21)
            for d in range(start, min(days, start + length)):
                mult[d] = 0.0
    elif scenario == "bursts":
        d = rng.randint(3, 30)
        while d < days:
            factor = rng.uniform(3.0, 6.0)
            for k in range(rng.randint(1, 3)):
                if d + k < days:
                    mult[d + k] = factor
            d += rng.randint(14, 42)
    return mult


def generate(seed: int, per_scenario: int, days: int = DAYS) -> list[Trace]:
    """`per_scenario` households for each scenario, fully determined by `seed`."""
    return [make_trace(seed, scenario, i, days) for scenario in SCENARIOS for i in range(per_scenario)]


def make_trace(seed: int, scenario: str, index: int, days: int = DAYS) -> Trace:
    """One generated household of `scenario`, fully determined by (seed, scenario, index)."""
    if days < 120:
        raise ValueError("generated traces need at least 120 days (habit changes happen mid-trace)")
    rng = random.Random(f"restock-bench:{seed}:{scenario}:{index}")
    kinds = ("g", "ml") if scenario == "noisy_sensor" else ("g", "count", "ml")
    unit = rng.choice(kinds)
    noise, step = BASE_NOISE, 0.0
    if unit == "g":  # load cell under a bottle or a bag
        pack = rng.choice((750.0, 1000.0, 1500.0, 2500.0))
    elif unit == "count":  # cycle counter: doses or washes left, exact
        pack, noise = float(rng.choice((20, 30, 40, 60))), 0.0
    else:  # level sensor: coarse steps and more noise
        pack, noise = rng.choice((1000.0, 2000.0)), 0.01
        step = 0.02 * pack
    pack_days = math.exp(rng.uniform(math.log(12.0), math.log(90.0)))
    rate = pack / pack_days
    spikes, offline = BASE_SPIKES, BASE_OFFLINE
    if scenario == "noisy_sensor":
        noise, spikes = rng.uniform(0.02, 0.04), rng.uniform(0.05, 0.10)
    errors, glitches, online = _sensor(rng, days, pack, noise, spikes, offline)
    if scenario == "sensor_offline":
        for _ in range(rng.randint(3, 6)):
            start, length = rng.randrange(days), rng.randint(3, 14)
            for d in range(start, min(days, start + length)):
                online[d] = False

    mult = _profile(rng, scenario, days)
    use_days = set(range(7))
    if scenario == "weekly":  # laundry on one to three fixed days of the week
        use_days = set(rng.sample(range(7), rng.randint(1, 3)))
    used: list[float] = []
    for d in range(days):
        mean = rate * mult[d] * (7 / len(use_days) if d % 7 in use_days else 0.0)
        if unit == "count":
            used.append(float(_poisson(rng, mean)))
        else:
            used.append(mean * rng.gammavariate(16.0, 1 / 16.0) if mean > 0 else 0.0)  # CV 25%
    refill = [0.0] * days
    if scenario == "manual_refills":  # a pack bought in a shop now and then, put straight on the sensor
        d = rng.randint(20, 120)
        while d < days:
            refill[d] = pack
            d += rng.randint(30, 120)
    return Trace(
        name=f"{scenario}-{index:02d}",
        scenario=scenario,
        unit=unit,
        pack_size=pack,
        used=tuple(used),
        refill=tuple(refill),
        start_level=pack * rng.uniform(0.8, 1.0),
        load_below=pack * rng.choice((0.0, 0.05, 0.2)),
        lead=tuple(rng.randint(LEAD_MIN, LEAD_MAX) for _ in range(days)),
        noise=errors,
        spike=glitches,
        online=tuple(online),
        step=step,
    )


def load_csv(path: Path, seed: int, pack_size: float | None = None) -> list[Trace]:
    """Replay traces from CSV `trace,day,used[,refill]`; the sensor and lead times are drawn from `seed`."""
    used: dict[str, dict[int, float]] = defaultdict(dict)
    refills: dict[str, dict[int, float]] = defaultdict(dict)
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields = set(reader.fieldnames or ())
        if not {"trace", "day", "used"} <= fields:
            raise ValueError(f"{path}: need columns trace,day,used (optional refill), got {sorted(fields)}")
        for line, row in enumerate(reader, start=2):
            name, day = row["trace"].strip(), int(row["day"])
            amount = float(row["used"] or 0.0)
            extra = float(row.get("refill") or 0.0)
            if day < 0 or amount < 0 or extra < 0 or not (math.isfinite(amount) and math.isfinite(extra)):
                raise ValueError(f"{path}:{line}: day, used and refill must be >= 0")
            used[name][day] = used[name].get(day, 0.0) + amount
            refills[name][day] = refills[name].get(day, 0.0) + extra
    traces = []
    for name in used:
        days = max(used[name]) + 1
        series = tuple(used[name].get(d, 0.0) for d in range(days))
        rng = random.Random(f"restock-replay:{seed}:{name}")
        avg = max(sum(series) / days, 1e-9)
        # Without a pack size, assume a pack lasts about a month (rounded to two significant digits).
        pack = pack_size or float(f"{avg * 30:.2g}")
        errors, glitches, online = _sensor(rng, days, pack, BASE_NOISE, BASE_SPIKES, BASE_OFFLINE)
        traces.append(
            Trace(
                name=name,
                scenario="replay",
                unit="unit",
                pack_size=pack,
                used=series,
                refill=tuple(refills[name].get(d, 0.0) for d in range(days)),
                start_level=pack,
                load_below=0.0,
                lead=tuple(rng.randint(LEAD_MIN, LEAD_MAX) for _ in range(days)),
                noise=errors,
                spike=glitches,
                online=tuple(online),
                step=0.0,
            )
        )
    return traces
