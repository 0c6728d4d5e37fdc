"""Held-out trace families: households shaped unlike the generated scenarios, to check the policy generalises.

The generated set (traces.py) is what the policy is developed on. These families are drawn from their own
random streams with a different model of use (log-normal days, days without use, absences, lasting habit
changes, weekday habits) and different sensors, and cover what the generated set lacks: packs that last only
a few days (several packs used between two orders), noisy and often offline sensors. No constant of the
policy is to be set from them alone.

    python -m bench.replenish --family short_packs
"""

from __future__ import annotations

import math
import random

from bench.replenish.traces import BASE_NOISE, BASE_OFFLINE, BASE_SPIKES, DAYS, LEAD_MAX, LEAD_MIN, Trace, _sensor

# Days one pack lasts, drawn log-uniform between the two ends, per family.
PACK_DAYS = {
    "short_packs": (2.0, 5.0),  # a pack lasts a few days: shorter than the lead time
    "week_packs": (5.0, 12.0),  # about a week: one or two packs between orders
    "habits": (15.0, 60.0),  # the usual pack sizes, with households and sensors unlike the generated ones
}
FAMILIES = tuple(PACK_DAYS)


def _multipliers(rng: random.Random, days: int) -> list[float]:
    """A household's year: weekday habit, absences, a lasting change of habit, a busy season."""
    mult = [1.0] * days
    if rng.random() < 0.4:  # used on some weekdays only (a laundry day, office coffee)
        on = set(rng.sample(range(7), rng.randint(2, 5)))
        mult = [m * (7.0 / len(on) if d % 7 in on else 0.0) for d, m in enumerate(mult)]
    if rng.random() < 0.5:  # a lasting change: a new baby, a child leaving, a new machine
        change, factor = rng.randint(30, days - 30), rng.choice((0.5, 0.6, 1.6, 2.0))
        mult = [m * (factor if d >= change else 1.0) for d, m in enumerate(mult)]
    for _ in range(rng.randint(0, 3)):  # holidays: nothing used for 4-20 days
        start, length = rng.randint(10, days - 25), rng.randint(4, 20)
        for d in range(start, min(days, start + length)):
            mult[d] = 0.0
    if rng.random() < 0.3:  # a busy season of a few weeks
        start, length, factor = rng.randint(0, days - 45), rng.randint(14, 42), rng.uniform(1.3, 2.0)
        for d in range(start, start + length):
            mult[d] *= factor
    return mult


def make_trace(seed: int, family: str, index: int, days: int = DAYS) -> Trace:
    """One held-out household of `family`, fully determined by (seed, family, index)."""
    rng = random.Random(f"restock-heldout:{seed}:{family}:{index}")
    low, high = PACK_DAYS[family]
    pack = rng.choice((200.0, 500.0, 1000.0))
    rate = pack / math.exp(rng.uniform(math.log(low), math.log(high)))
    noise, spikes, offline, step = BASE_NOISE, BASE_SPIKES, BASE_OFFLINE, 0.0
    sensor = rng.choice(("load cell", "level", "noisy", "flaky"))
    if sensor == "level":
        noise, step = 0.01, 0.02 * pack
    elif sensor == "noisy":
        noise, spikes = rng.uniform(0.01, 0.03), rng.uniform(0.02, 0.06)
    elif sensor == "flaky":  # often offline: a weak Wi-Fi, a battery that runs down
        offline = rng.uniform(0.05, 0.15)
    errors, glitches, online = _sensor(rng, days, pack, noise, spikes, offline)
    if sensor == "flaky":
        for _ in range(rng.randint(2, 5)):  # outages of a few days
            start, length = rng.randrange(days), rng.randint(2, 10)
            for d in range(start, min(days, start + length)):
                online[d] = False
    mult = _multipliers(rng, days)
    # Log-normal day to day (sigma 0.5), and a day without use now and then.
    used = [
        0.0 if m == 0 or rng.random() < 0.1 else rate * m * rng.lognormvariate(-0.125, 0.5) for m in mult
    ]
    return Trace(
        name=f"{family}-{index:02d}",
        scenario=family,
        unit=sensor,
        pack_size=pack,
        used=tuple(used),
        refill=(0.0,) * days,
        start_level=pack * rng.uniform(0.5, 1.0),
        load_below=pack * rng.choice((0.0, 0.0, 0.1)),
        lead=tuple(rng.randint(LEAD_MIN, LEAD_MAX) for _ in range(days)),
        noise=errors,
        spike=glitches,
        online=tuple(online),
        step=step,
    )


def generate(seed: int, family: str, count: int = 24) -> list[Trace]:
    """`count` households of one held-out family."""
    if family not in PACK_DAYS:
        raise ValueError(f"unknown family {family!r}; one of {', '.join(FAMILIES)}")
    return [make_trace(seed, family, i) for i in range(count)]
