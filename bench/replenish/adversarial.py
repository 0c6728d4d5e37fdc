"""Consumption traces shaped unlike the generated scenarios, written as a --traces CSV (trace,day,used).

The generated set is what the policy was tuned on; these check it does not only work there: parties every
weekend, a six-week absence, use that doubles over the year or halves, a season, a lumpy household that uses
a lot on a few days, a baby arriving, months that alternate busy and quiet. Same seed, same file.

    python -m bench.replenish.adversarial bench/replenish/adversarial.csv
    python -m bench.replenish --traces bench/replenish/adversarial.csv
"""

from __future__ import annotations

import argparse
import csv
import math
import random
from collections.abc import Callable
from pathlib import Path

DAYS = 365
BASE = 30.0  # units a day on average before the shape is applied (a pack of ~900 lasts a month)

Shape = Callable[[int, random.Random], float]


def _weekend_parties(day: int, rng: random.Random) -> float:
    return 4.0 if day % 7 == 5 else 0.6


def _long_vacation(day: int, rng: random.Random) -> float:
    return 0.0 if 150 <= day < 192 else 1.0


def _growing(day: int, rng: random.Random) -> float:
    return 0.5 + 1.5 * day / (DAYS - 1)


def _shrinking(day: int, rng: random.Random) -> float:
    return 1.6 - 1.2 * day / (DAYS - 1)


def _seasonal(day: int, rng: random.Random) -> float:
    return 1.0 + 0.5 * math.sin(2 * math.pi * day / DAYS)


def _lumpy(day: int, rng: random.Random) -> float:
    return 4.0 if rng.random() < 0.25 else 0.0


def _new_baby(day: int, rng: random.Random) -> float:
    return 1.0 if day < 150 else 2.5


def _busy_and_quiet_months(day: int, rng: random.Random) -> float:
    return 1.8 if (day // 30) % 2 else 0.4


SHAPES: dict[str, Shape] = {
    "weekend-parties": _weekend_parties,
    "long-vacation": _long_vacation,
    "growing": _growing,
    "shrinking": _shrinking,
    "seasonal": _seasonal,
    "lumpy": _lumpy,
    "new-baby": _new_baby,
    "busy-and-quiet-months": _busy_and_quiet_months,
}


def rows(seed: int, households: int = 2) -> list[tuple[str, int, float]]:
    """(trace, day, used) for `households` households of every shape, fully determined by `seed`."""
    out = []
    for name, shape in SHAPES.items():
        for i in range(households):
            rng = random.Random(f"restock-adversarial:{seed}:{name}:{i}")
            base = BASE * rng.uniform(0.6, 1.6)
            for day in range(DAYS):
                mean = base * shape(day, rng)
                used = mean * rng.gammavariate(9.0, 1 / 9.0) if mean > 0 else 0.0  # day-to-day spread, CV 1/3
                out.append((f"{name}-{i}", day, round(used, 1)))
    return out


def write(path: Path, seed: int = 7) -> Path:
    """Write the traces as CSV trace,day,used."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("trace", "day", "used"))
        writer.writerows(rows(seed))
    return path


def main(argv: list[str] | None = None) -> int:
    """Write the adversarial traces to the given CSV file."""
    parser = argparse.ArgumentParser(prog="python -m bench.replenish.adversarial", description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    print(write(args.out, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
