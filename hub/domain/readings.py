"""Cleaning a slot's reading series: refills recognised, spikes rejected, gaps tolerated (pure, stdlib only).

A slot's level only goes down while the household uses it, and jumps up when stock is added. So a reading
that sits *above* both its neighbourhoods, or *below* both, cannot be real (nothing makes the level dip and
come back, or rise and fall back, between two readings): it is a spike and is rejected. A rise that
persists is a refill and splits the series into segments; the forecast only compares readings within one
segment. Gaps (sensor offline) need no special care: nothing here assumes regular spacing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

# A move must exceed this many "typical steps" between readings to count as a jump (spike or refill).
# The typical step is an upper quartile of |difference| (see _typical_step), so it already includes a busy
# day's use and the sensor noise; three of them is far outside what either produces between two readings.
JUMP_STEPS = 3.0
# Neighbourhood on each side used to judge a reading: the median of three survives one bad neighbour.
NEIGHBOURS = 3
# A silence longer than this many median spacings (and at least a day) is reported as a gap.
GAP_SPACINGS = 3.0
# A sensor with at least this share of its readings (and this many) rejected as spikes is "glitchy".
GLITCHY_SHARE, GLITCHY_MIN = 0.02, 3


def median(values: Iterable[float]) -> float:
    """Median of a non-empty collection (the statistics module's, without its overhead on tiny inputs)."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def _require_utc(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("reading times must be timezone-aware (UTC)")


@dataclass(frozen=True, slots=True)
class Reading:
    """One sensor reading: how much is left in the slot at a moment (aware UTC datetime)."""

    at: datetime
    value: float

    def __post_init__(self) -> None:
        _require_utc(self.at)


@dataclass(frozen=True, slots=True)
class Refill:
    """A recognised jump up: stock put on the sensor between two readings (`since`: the one before, if known)."""

    at: datetime
    before: float
    after: float
    since: datetime | None = None

    @property
    def amount(self) -> float:
        """Units added (the size of the jump)."""
        return self.after - self.before


@dataclass(frozen=True, slots=True)
class Rejected:
    """A reading left out of the series, with why (`invalid`, `duplicate`, `spike`, `transient`)."""

    reading: Reading
    reason: str


@dataclass(frozen=True, slots=True)
class Gap:
    """A silence of the sensor between two consecutive readings, with the levels on either side."""

    start: datetime
    end: datetime
    before: float
    after: float

    @property
    def days(self) -> float:
        """Length of the silence in days."""
        return (self.end - self.start) / timedelta(days=1)


@dataclass(frozen=True, slots=True)
class CleanSeries:
    """The outcome of cleaning: accepted readings split at refills and long gaps, plus what was set aside."""

    segments: tuple[tuple[Reading, ...], ...]
    refills: tuple[Refill, ...]
    rejected: tuple[Rejected, ...]
    gaps: tuple[Gap, ...]
    jump: float
    # Rises rejected as spikes that a refill followed by a very busy day would also explain: whoever credits
    # delivered stock should count them as loaded, since forgetting stock is the cheaper mistake.
    suspects: tuple[Refill, ...] = ()
    step: float = 0.0  # the typical step between readings (use, noise): what one use usually looks like

    @property
    def glitchy(self) -> bool:
        """True when enough readings were rejected as spikes to doubt any single unconfirmed one."""
        spikes = sum(1 for r in self.rejected if r.reason == "spike")
        return spikes >= max(GLITCHY_MIN, GLITCHY_SHARE * (sum(len(s) for s in self.segments) + spikes))

    @property
    def readings(self) -> tuple[Reading, ...]:
        """All accepted readings, oldest first."""
        return tuple(r for segment in self.segments for r in segment)

    @property
    def last(self) -> Reading | None:
        """The most recent accepted reading, if any."""
        return self.segments[-1][-1] if self.segments else None


def _typical_step(values: list[float]) -> float:
    """Upper quartile of |difference| between consecutive readings: a normal step, noise and use included."""
    diffs = sorted(abs(b - a) for a, b in zip(values, values[1:], strict=False))
    if not diffs:
        return 0.0
    # The upper quartile, not the median: with a weekly habit most steps are ~0 and the real use sits in
    # the few big ones; refills and spikes are rarer than one step in four, so they do not move it.
    return diffs[min(len(diffs) - 1, (3 * len(diffs)) // 4)]


def _valid(readings: Iterable[Reading]) -> tuple[list[Reading], list[Rejected]]:
    ordered = sorted(readings, key=lambda r: r.at)
    kept: list[Reading] = []
    rejected: list[Rejected] = []
    for reading in ordered:
        if not math.isfinite(reading.value) or reading.value < 0:
            rejected.append(Rejected(reading, "invalid"))
        elif kept and kept[-1].at == reading.at:
            rejected.append(Rejected(reading, "duplicate"))
        else:
            kept.append(reading)
    return kept, rejected


def _spikes(values: list[float], jump: float, step: float) -> set[int]:
    """Indices of readings that stick out of both neighbourhoods by more than `jump` and are no refill."""
    spikes: set[int] = set()
    for i, value in enumerate(values):
        left = values[max(0, i - NEIGHBOURS) : i]
        right = values[i + 1 : i + 1 + NEIGHBOURS]
        if not left or not right:
            # One-sided evidence cannot tell a spike from a refill or a busy day, so the newest reading is
            # kept: a rise reads as a refill until the next reading says otherwise, and a drop counts at once
            # (a burst of use must bring the order forward; the level takes a median of the last three).
            continue
        before, after = median(left), median(right)
        if value > max(before, after) + jump:
            # Only a spike if the level is back where it was, by the next reading and by the median of
            # the next three. A rise that holds even briefly (a refill, then a busy day) stays a refill:
            # taking a refill for a spike would leave delivered stock credited on the shelf.
            if after <= before + step and right[0] <= before + step:
                spikes.add(i)
        elif value < min(before, after) - jump and after <= before + step and right[0] <= before + step:
            # A dip that comes back to no more than the old level. If the level afterwards is higher than
            # before, stock was added, so the dip was real use (a busy day) followed by a refill.
            spikes.add(i)
    return spikes


def clean(readings: Iterable[Reading], *, min_jump: float = 0.0, max_jump: float = math.inf) -> CleanSeries:
    """Split a slot's readings into segments at refills and gaps, rejecting invalid values and spikes."""
    kept, rejected = _valid(readings)
    values = [r.value for r in kept]
    # A jump must beat both the series' own step size and the caller's floor (e.g. a fraction of a pack),
    # so a sensor that drifts by a gram is not "refilled" and an exact counter still sees real refills;
    # and stay under the caller's ceiling (half a pack), or a very noisy sensor would hide every refill.
    step = _typical_step(values)
    jump = min(max(JUMP_STEPS * step, min_jump, 1e-9), max_jump)
    spikes = _spikes(values, jump, step)
    accepted: list[Reading] = []
    suspects: list[Refill] = []
    dip: Reading | None = None
    for i, reading in enumerate(kept):
        if i in spikes:
            rejected.append(Rejected(reading, "spike"))
            if accepted and reading.value > accepted[-1].value:
                suspects.append(Refill(reading.at, accepted[-1].value, reading.value, accepted[-1].at))
            dip = reading if accepted and reading.value < accepted[-1].value else None
        else:
            if dip is not None and reading.value > dip.value:
                # A dip and a rise back: a glitch, or a very busy day and then a pack loaded. Seen from the
                # dip it is a rise like any refill; whoever credits stock judges whether the dip was use.
                suspects.append(Refill(reading.at, dip.value, reading.value, dip.at))
            dip = None
            accepted.append(reading)

    gaps = _gaps(accepted)
    gap_ends = {gap.end for gap in gaps}
    segments: list[tuple[Reading, ...]] = []
    refills: list[Refill] = []
    current: list[Reading] = []
    for reading in accepted:
        rise = bool(current) and reading.value - current[-1].value > jump
        if rise and len(current) == 1 and refills and refills[-1].at == current[0].at:
            # Two rises in a row are one refill seen half-way (a bag being poured, a glitch between two
            # levels): counting two would credit two packs as loaded.
            rejected.append(Rejected(current[0], "transient"))
            refills[-1] = Refill(reading.at, refills[-1].before, reading.value, refills[-1].since)
            current = [reading]
            continue
        if rise:
            refills.append(Refill(reading.at, current[-1].value, reading.value, current[-1].at))
        # A long gap also ends a segment: a refill the sensor missed while offline would otherwise show
        # up as a slow stretch and drag the rate down (the forecast never pairs readings across segments).
        if current and (rise or reading.at in gap_ends):
            segments.append(tuple(current))
            current = []
        current.append(reading)
    if current:
        segments.append(tuple(current))
    series = CleanSeries(
        segments=tuple(segments),
        refills=tuple(refills),
        rejected=tuple(sorted(rejected, key=lambda rej: rej.reading.at)),
        gaps=gaps,
        jump=jump,
        suspects=tuple(suspects),
        step=step,
    )
    return replace(series, refills=_settled(refills, segments, series.glitchy))


def _settled(refills: list[Refill], segments: list[tuple[Reading, ...]], glitchy: bool) -> tuple[Refill, ...]:
    """Refills measured to where the level settled: the lower of the first reading after the jump and the
    median of the first three, so an upward glitch on that reading does not make one pack look like two.
    On a glitchy sensor the level before is the higher of the last reading and the median of the last three,
    so a glitch to zero just before does not make a rise from the real level look like a pack."""
    starts = {segment[0].at: i for i, segment in enumerate(segments)}
    settled = []
    for refill in refills:
        i = starts.get(refill.at)
        before, after = refill.before, refill.after
        if i is not None and len(segments[i]) >= 3:
            after = min(segments[i][0].value, median(r.value for r in segments[i][:3]))
        if glitchy and i is not None and i > 0 and len(segments[i - 1]) >= 3:
            before = max(before, median(r.value for r in segments[i - 1][-3:]))
        settled.append(Refill(refill.at, before, after, refill.since))
    return tuple(settled)


def _gaps(readings: list[Reading]) -> tuple[Gap, ...]:
    """Silences much longer than the usual spacing: reported so the household can check the sensor."""
    if len(readings) < 3:
        return ()
    pairs = list(zip(readings, readings[1:], strict=False))
    spacings = [(b.at - a.at).total_seconds() for a, b in pairs]
    limit = max(median(spacings) * GAP_SPACINGS, 86400.0)
    return tuple(Gap(a.at, b.at, a.value, b.value) for (a, b), s in zip(pairs, spacings, strict=True) if s > limit)
