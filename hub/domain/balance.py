"""Loads the single jumps miss, counted from the level's mass balance (pure, stdlib only).

Between two readings the level changes by what was loaded less what was used. Over most intervals nothing is
loaded and the fall is the use. An interval whose level rose by more than the sensor's noise may hold a load,
and that load is the rise plus the use the household usually has over that time. A pack that lasts four days,
opened and half used between two daily readings, rises by half a pack: too little to read as a refill, yet
the balance still counts a whole pack. Summed since a delivery, these loads show packs that have left the
shelf without a visible jump, so their credit can be dropped before the container sits empty.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from hub.domain.credit import BURST, LOAD_NOISE
from hub.domain.readings import Reading, Refill, median

# The usual use per day is measured over at least this many days of intervals that hold no load.
RATE_DAYS = 28.0
# A rise is a possible load once it exceeds this share of a pack (a load cell's noise is well under it)...
MIN_RISE_PACKS = 0.02
# ...and this many robust standard deviations of the changes between readings (a noisy sensor's rises).
NOISE_SDS = 4.0
MAD_TO_SIGMA = 1.4826
# A silence longer than this may hide a load whatever the levels on either side say.
GAP_DAYS = 2.5
# Unseen loads adding up to this share of a pack are taken as one pack gone from the shelf: the balance's
# error is the usual use over the few intervals that rose, a small share of a pack.
UNSEEN_PACKS = 0.6
_DAY = timedelta(days=1)


def _open(readings: Sequence[Reading], pack_size: float) -> list[bool]:
    """Which intervals between consecutive readings may hold a load: a rise beyond the noise, or a silence."""
    changes = [b.value - a.value for a, b in zip(readings, readings[1:], strict=False)]
    if not changes:
        return []
    centre = median(changes)
    spread = MAD_TO_SIGMA * median(abs(c - centre) for c in changes)
    rise = max(MIN_RISE_PACKS * pack_size, NOISE_SDS * spread)
    return [
        change > rise or (b.at - a.at) / _DAY > GAP_DAYS
        for change, a, b in zip(changes, readings, readings[1:], strict=False)
    ]


def unseen_packs(readings: Sequence[Reading], start: datetime, seen: Iterable[Refill], pack_size: float) -> int:
    """Whole packs loaded after the reading at `start` that none of the `seen` loads accounts for.

    `readings` are the accepted readings, oldest first; `seen` the loads already counted (refills, hidden
    refills, suspect spikes), each matched to the interval between readings in which it happened.
    """
    end = readings[-1].at if readings else start
    window = [r for r in readings if r.at >= min(start, end - timedelta(days=RATE_DAYS))]
    if len(window) < 3:
        return 0
    flags = _open(window, pack_size)
    pairs = list(zip(window, window[1:], strict=False))
    closed = [(a, b) for (a, b), flag in zip(pairs, flags, strict=True) if not flag]
    if sum((b.at - a.at) / _DAY for a, b in closed) < 1.0:
        return 0
    # A glitch up and the fall back from it (or a glitch down and the rise back) is neither a load nor use.
    # It is judged against the median day's use, which the glitches' own falls cannot inflate.
    usual = max(median((a.value - b.value) / max((b.at - a.at) / _DAY, 1e-9) for a, b in closed), 0.0)
    glitches: set[int] = set()
    falls: set[int] = set()
    for i, flag in enumerate(flags):
        back = _taken_back(window, i, usual, pack_size) if flag else None
        if back is not None:
            glitches.add(i)
            falls.add(back)
    kept = [(a, b) for i, ((a, b), flag) in enumerate(zip(pairs, flags, strict=True)) if not flag and i not in falls]
    closed_days = sum((b.at - a.at) / _DAY for a, b in kept)
    if closed_days < 1.0:
        return 0
    rate = max(sum(a.value - b.value for a, b in kept) / closed_days, 0.0)
    seen = sorted(seen, key=lambda r: r.at)
    times = [load.at for load in seen]
    matched: set[int] = set()
    unseen = 0.0
    for i, ((a, b), flag) in enumerate(zip(pairs, flags, strict=True)):
        if a.at < start:
            continue
        hits = range(bisect_right(times, a.at), bisect_right(times, b.at))
        if hits:
            matched.update(hits)
        elif flag and i not in glitches:
            unseen += b.value - a.value + rate * (b.at - a.at) / _DAY
    # A seen load that no rising interval holds (a pack found over a whole segment, a spike taken for a load)
    # is the balance's own load counted a second way: it is subtracted, not added again.
    unmatched = sum(
        _packs(load, pack_size) for i, load in enumerate(seen) if i not in matched and start < load.at <= end
    )
    return max(0, math.floor(unseen / pack_size - unmatched + 1.0 - UNSEEN_PACKS))


def _taken_back(window: Sequence[Reading], i: int, rate: float, pack_size: float) -> int | None:
    """When the rise from reading i to i + 1 is a glitch, not a load, the interval of the fall that undoes it:
    the next reading falls back to where the level was before (a glitch up), or the rise only climbs back to
    where the level was before a fall into reading i (a glitch down); either fall faster than a burst of use.
    None for a rise that can be a load; the newest reading's rise counts."""
    noise = LOAD_NOISE * pack_size
    a, b = window[i], window[i + 1]

    def burst(x: Reading, y: Reading) -> float:
        return BURST * rate * (y.at - x.at) / _DAY + noise

    if i + 2 < len(window):
        c = window[i + 2]
        if b.value - c.value > burst(b, c) and c.value <= a.value + noise:
            return i + 1
    if i >= 1:
        z = window[i - 1]
        if z.value - a.value > burst(z, a) and b.value <= z.value + noise:
            return i - 1
    return None


def _packs(load: Refill, pack_size: float) -> int:
    return max(1, math.ceil(load.amount / pack_size - 0.25))
