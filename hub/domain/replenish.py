"""Reorder policy of a sensor slot: when to order, how many packs, within the household's caps (pure).

Order when the *earliest plausible* run-out falls inside the shop's lead time (learnt from its deliveries) plus
the safety margin: stock-outs cost more than an early order. The size trades deliveries against stock on hand
(hub.domain.order_size) at the *expected* rate, so uncertainty moves the date, not the size; it never takes the
stock expected when the order arrives above the max-stock cap, never orders while an order is open, and
credits delivered stock until the sensor sees it loaded. While there are too few readings for a rate, a slot
that is already low against its pack orders (or warns) at once instead of waiting for a forecast. Every
decision says why in the household's words.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from hub.domain import lead as leads
from hub.domain import order_size
from hub.domain import packs as whole_packs
from hub.domain.balance import unseen_packs
from hub.domain.credit import (
    BURST,
    HIDDEN_PACKS,
    LOAD_LOW,
    LOAD_NOISE,
    Delivery,
    credited,
    hidden_refills,
    loaded_packs,
    looks_empty,
    shelf_stock,
)
from hub.domain.forecast import (
    LONG_DAYS,
    RECENT_DAYS,
    Forecast,
    Z,
    estimate_rate,
    forecast,
    from_balance,
    largest_burst,
)
from hub.domain.readings import CleanSeries, Reading, Refill, clean

Mode = Literal["auto", "notify", "paused"]
Action = Literal["none", "order", "notify"]

# A rise smaller than this share of a pack is not taken for a refill whatever the sensor's step size, and
# one larger than the other share always is (a refill is about a pack; a noisy sensor must not hide it).
MIN_JUMP_PACKS = 0.1
MAX_JUMP_PACKS = 0.5
# A slot at or below this share of a pack is empty: it shows no use, so no run-out date, and must still be
# ordered for. Small, because households run a container nearly dry before opening the next pack.
EMPTY_PACKS = 0.03
# While learning, a slot at or below this share of a pack orders at once (the household can change it).
LEARNING_LOW = 0.25
# Deliveries (since the first reading) before their throughput can say a slot's packs last only days.
DELIVERED_ARRIVALS = 3
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class SlotPolicy:
    """The household's settings for a slot; quantities in the slot's unit, a pack holds `pack_size`."""

    pack_size: float
    max_stock: float
    mode: Mode = "auto"
    lead_time_days: float = 5.0  # what the shop promises; real lead times are learnt from its deliveries
    safety_days: float = 3.0
    target_days: float = 30.0  # one order lasts at least this long
    tradeoff: float = order_size.DEFAULT_TRADEOFF  # 0 = less in the cupboard .. 1 = fewer deliveries
    learning_low: float = LEARNING_LOW  # share of a pack that is "low" before there is a forecast

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "notify", "paused"):
            raise ValueError(f"unknown mode {self.mode!r}")
        if not self.pack_size > 0:
            raise ValueError("pack_size must be positive")
        if not self.max_stock >= self.pack_size:
            raise ValueError("max_stock must hold at least one pack")
        if self.lead_time_days < 0 or self.safety_days < 0 or not self.target_days > 0:
            raise ValueError("lead and safety must be >= 0, target > 0")
        if not 0.0 <= self.tradeoff <= 1.0 or not 0.0 <= self.learning_low <= 1.0:
            raise ValueError("tradeoff and learning_low are shares between 0 and 1")


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do now: nothing, place an order of `packs`, or tell the household; and why, in words."""

    action: Action
    packs: int
    quantity: float
    reason: str
    lead: leads.LeadTime | None = None  # the lead time the timing used
    plan: order_size.OrderPlan | None = None  # what an order brings at the expected rate


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Everything one evaluation saw and decided, for the dashboard and the log."""

    series: CleanSeries
    forecast: Forecast
    decision: Decision


def day_text(at: datetime) -> str:
    """A date as a household reads it in a sentence: 'Tue 12 Dec'."""
    return f"{at:%a} {at.day} {at:%b}"


def _packs(n: int) -> str:
    return f"{n} pack{'s' if n != 1 else ''}"


class _Say:
    """Builds the decisions of one evaluation with the lead time and plan attached."""

    def __init__(self, policy: SlotPolicy, lead: leads.LeadTime, plan: order_size.OrderPlan | None = None) -> None:
        self.policy, self.lead, self.plan = policy, lead, plan

    def none(self, reason: str) -> Decision:
        return Decision("none", 0, 0.0, reason, self.lead, self.plan)

    def act(self, packs: int, why: str) -> Decision:
        auto = self.policy.mode == "auto"
        verb = "ordering" if auto else "order"
        reason = f"{why}; {self.lead.text}; {verb} {_packs(packs)} now"
        action: Action = "order" if auto else "notify"
        return Decision(action, packs, packs * self.policy.pack_size, reason, self.lead, self.plan)

    def full(self, why: str) -> Decision:
        reason = f"{why}; {self.lead.text}; the max-stock cap leaves no room for a pack"
        return Decision("notify", 0, 0.0, reason, self.lead, self.plan)


def _learning(say: _Say, stock: float | None, policy: SlotPolicy) -> Decision:
    """Too few readings for a rate: order at once if the slot is already low against its pack."""
    if stock is None:
        return say.none("learning: no reading yet")
    low = policy.learning_low * policy.pack_size
    if stock <= max(low, EMPTY_PACKS * policy.pack_size):
        # A day of readings is too long to wait with 150 g of a 2 kg pack left: nothing is known about the
        # rate, but little stock against a whole pack is enough to act (the open order stops any repeat).
        share = stock / policy.pack_size
        return say.act(1, f"learning how fast it is used, and only {share:.0%} of a pack is left")
    return say.none("learning how fast it is used: a forecast needs readings over at least a day")


def decide(
    fc: Forecast,
    policy: SlotPolicy,
    *,
    on_order: float = 0.0,
    lead: leads.LeadTime | None = None,
    burst: float = 0.0,
) -> Decision:
    """Decide at `fc.at` whether to order (and how many packs) given the forecast and stock on order.

    `burst`: the most use beyond the usual the slot has seen over a lead time lately (units); the slot also
    orders when a burst like it, landing now, would empty it before a delivery could arrive."""
    lead = lead or leads.promised_only(policy.lead_time_days)
    say = _Say(policy, lead)
    if policy.mode == "paused":
        return say.none("paused")
    if on_order > 0:
        # At most one open replenishment order per slot: its stock is coming, ordering again would double it.
        return say.none("an order is already open")
    stock = fc.stock_now
    if stock is None or fc.rate_per_day is None:
        return _learning(say, stock, policy)
    # The size follows the expected rate (the lower of the recent and four-week ones): a party must not fill
    # the cupboard for months; a real new habit only brings the next order sooner.
    expected = min(fc.rate_per_day, fc.rate_long) if fc.rate_long is not None else fc.rate_per_day
    packs = order_size.economic_packs(expected, policy.pack_size, policy.tradeoff, min_days=policy.target_days)
    # No order can bring more than the max-stock cap holds (below, the stock at arrival trims it further), so the
    # plan the household reads between orders is never larger than any order will be.
    packs = min(packs, max(1, math.floor(policy.max_stock / policy.pack_size + 1e-9)))
    say.plan = order_size.plan(packs, expected, policy.pack_size)
    horizon = lead.plan + policy.safety_days
    empty = stock <= EMPTY_PACKS * policy.pack_size  # an empty slot shows no use, so no run-out: order anyway
    early = fc.run_out_earliest
    # Once an order is open nothing more can be done, so a burst that may come while it is on its way is
    # covered before it is placed: the usual use over the lead time plus the largest burst lately.
    bursty = burst > 0 and stock - burst <= fc.rate_per_day * lead.plan
    later = early is None or early > fc.at + timedelta(days=horizon)  # the forecast alone would wait
    if not empty and not bursty and later:
        if fc.run_out_at is None or early is None:
            return say.none("lasts more than a year at the current use")
        due = early - timedelta(days=horizon)
        return say.none(f"runs out around {day_text(fc.run_out_at)}; {lead.text}; next order around {day_text(due)}")
    # The cap holds for the stock expected when the order arrives: what is used meanwhile frees its room, and
    # a slot that would run dry before the delivery always has room for a pack (the cap holds at least one).
    at_arrival = max(stock - expected * lead.plan, 0.0)
    room = math.floor((policy.max_stock - at_arrival) / policy.pack_size + 1e-9)
    if empty or fc.run_out_at is None:
        why = "empty now" if empty else f"may run out from {day_text(early or fc.at)}"
    else:
        why = f"runs out around {day_text(fc.run_out_at)}"
    if bursty and not empty and later:
        why += ", sooner if a burst of use like a recent one comes before the delivery"
    if room < 1:
        return say.full(why)
    if room < packs:
        # The plan shown with the order is the order as placed, not the size the cap trimmed away.
        packs = room
        say.plan = order_size.plan(packs, expected, policy.pack_size)
    return say.act(packs, why)


def evaluate(
    readings: Sequence[Reading],
    policy: SlotPolicy,
    now: datetime,
    *,
    deliveries: Iterable[Delivery] = (),
    on_order: float = 0.0,
    shop: str | None = None,
) -> Evaluation:
    """Clean the slot's readings, credit delivered stock, forecast, learn the shop's lead time and decide."""
    pack = policy.pack_size
    series = clean(readings, min_jump=MIN_JUMP_PACKS * pack, max_jump=MAX_JUMP_PACKS * pack)
    accepted = series.readings
    since = accepted[0].at if accepted else now
    deliveries = tuple(deliveries)
    # The rate does not depend on shelf stock; it tells which rises can have been packs from the shelf.
    bare = forecast(series, now)
    # A container that sits empty shows no use, so its readings drag the rate towards zero; at that rate a
    # pack loaded meanwhile no longer looks like one and the cupboard seems to fill while the slot starves.
    # The rates that judge the shelf credit are the ones seen before the container ran dry.
    usual = _before_empty(series, EMPTY_PACKS * pack, bare)
    lead = leads.learn(deliveries, policy.lead_time_days, shop)
    short = _short_packs(series, deliveries, policy, usual, lead, now)
    if short is not None:
        return Evaluation(series, short, decide(short, policy, on_order=on_order, lead=lead))
    rate_high = usual.rate_high
    # A rise that the next reading takes back, or that only climbs back from a fall, each faster than any use,
    # is a glitch and not a pack loaded: left in, a glitch up just before the real load (the spike test
    # compares it with the loaded level after it) counts the one pack twice, and a glitch down next to a
    # glitch up leaves a rise back from the dip; either way the slot reorders a pack early. The balance leaves
    # out the glitch reading too.
    taken = {r.at: glitch for r in series.refills if (glitch := _glitch(r, accepted, rate_high, pack)) is not None}
    loads = tuple(r for r in series.refills if r.at not in taken)
    # A rise of over half a pack rejected as a spike may have been a pack loaded just before a very busy day,
    # if the drop after it is a use the household can have had.
    loads += tuple(r for r in series.suspects if _busy_day(r, series, rate_high, pack))
    shelf = shelf_stock(deliveries, loads, pack_size=pack, since=since, now=now, rate_high=rate_high)
    if shelf > 0:
        # A delivered pack loaded without a visible jump is no longer on the shelf. The rate's lower bound: a
        # busy week must not make a quiet month look like it hid a refill.
        window = accepted[-1].at - timedelta(days=LONG_DAYS) if accepted else None
        hidden = hidden_refills(series, usual.rate_low, pack, window)
        if hidden:
            shelf = shelf_stock(deliveries, loads + hidden, pack_size=pack, since=since, now=now, rate_high=rate_high)
        glitches = set(taken.values())
        level = [r for r in accepted if r.at not in glitches]
        shelf = _balanced(shelf, level, deliveries, loads + hidden, pack, since, now, rate_high)
    arrived = max((d.at for d in deliveries if d.at <= now), default=None)
    doubted = 0.0
    if shelf > 0 and looks_empty(series, EMPTY_PACKS * pack, usual.rate_long, since=arrived):
        # A household with a pack in the cupboard loads it when the container runs dry: one left empty for
        # longer than its usual use says the credit is wrong (a refill went unseen), and keeping it would
        # starve the slot.
        doubted, shelf = shelf, 0.0
    fc = forecast(series, now, shelf=shelf) if shelf > 0 else bare
    # The largest burst of use lately, over a lead time (it matters only while no order is open; on a glitchy
    # sensor the glitches that survive cleaning would read as bursts and bring every order forward).
    burst = 0.0
    if accepted and fc.rate_per_day is not None and not on_order and not series.glitchy:
        burst = largest_burst(series, accepted[-1].at, lead.plan)
    decision = decide(fc, policy, on_order=on_order, lead=lead, burst=burst)
    if doubted and decision.action != "none" and decision.packs > 1:
        decision = _hedged(decision, policy, doubted)
    return Evaluation(series, fc, decision)


def _hedged(decision: Decision, policy: SlotPolicy, doubted: float) -> Decision:
    """One pack instead of `decision`'s several when the order rests on the guess that credited packs are gone:
    if they are, one pack bridges to the next order; if the household only has not needed them yet, one pack
    too many waits in the cupboard instead of a whole order."""
    n = max(1, round(doubted / policy.pack_size))
    reason = decision.reason.replace(f"{_packs(decision.packs)} now", "1 pack now")
    packs = "the pack in the cupboard is" if n == 1 else f"the {n} packs in the cupboard are"
    reason = f"{reason}, in case {packs} gone"
    plan = decision.plan
    if plan is not None:
        plan = order_size.plan(1, plan.packs * policy.pack_size / plan.days, policy.pack_size)
    return replace(decision, packs=1, quantity=policy.pack_size, reason=reason, plan=plan)


def _short_packs(
    series: CleanSeries,
    deliveries: Sequence[Delivery],
    policy: SlotPolicy,
    usual: Forecast,
    lead: leads.LeadTime,
    now: datetime,
) -> Forecast | None:
    """The forecast from whole packs loaded (hub.domain.packs) when a pack lasts less than the lead time plus the
    safety margin; None for longer packs, whose jumps and slopes the level-based forecast reads well."""
    start = usual.rate_long or 0.0
    # Whether packs are short is judged strictly: a lone reading that needs a day of more than three times the
    # usual use is left out (on a noisy sensor a reading a third of a pack low, then back, would otherwise read
    # as a pack emptied and one loaded, and a slot whose pack lasts weeks would count packs that never were).
    counted = whole_packs.count(series.readings, deliveries, policy.pack_size, start, burst=whole_packs.BUSY)
    horizon = lead.plan + policy.safety_days
    # Short packs show as several packs loaded over at least a week of readings; a glitch or two on a sensor
    # read for a few days must not switch a slot whose pack lasts weeks to counting packs.
    if counted is None or counted.days < RECENT_DAYS:
        return None
    # Or in the deliveries: the packs delivered before the newest one, over the time until it arrived, were
    # (about) used, as orders come when stock runs low. It holds while a stock-out or a week of packs used
    # faster than they are read hides the loads from the count, which would switch back to the levels and
    # their credit of every delivered pack.
    # Only once DELIVERED_ARRIVALS deliveries came over at least four weeks of readings: a new slot's big first
    # order arrives long before it is used, and with the next one would make a slot whose pack lasts weeks look
    # short. (Not gated on the packs counted: where a pack or more goes between two readings the count sees
    # few loads, and the slot fell back to the levels, whose rate was a tenth of the real one.)
    delivered = whole_packs.delivered_rate(deliveries, series.readings[0].at)
    arrivals = [d.at for d in deliveries if d.at >= series.readings[0].at]
    if len(arrivals) < DELIVERED_ARRIVALS or (max(arrivals) - series.readings[0].at) / _DAY < whole_packs.WINDOW_DAYS:
        delivered = None
    pack_days = min(counted.pack_days(policy.pack_size), policy.pack_size / delivered if delivered else math.inf)
    if pack_days >= horizon:
        return None
    # Once the accepted readings say packs are short, readings the cleaning took for spikes count too: a pack
    # loaded and mostly used by the next reading reads as a spike up, and it is a load. (Deciding with them
    # would let one glitch up and back down make a pack lasting weeks look like one lasting days.)
    spikes = [r.reading for r in series.rejected if r.reason in ("spike", "transient")]
    readings = sorted((*series.readings, *spikes), key=lambda r: r.at)
    recount = whole_packs.count(readings, deliveries, policy.pack_size, start)
    if recount is not None:
        counted = recount
    # Several packs go between two orders: the level says little, the packs loaded say how much is left.
    # The count misses a load where a whole pack went between two readings; where the ledger (the rate over
    # the days since the shelf was last empty) leaves less, the order comes that much earlier, but the stock
    # the cap is judged on stays the count's.
    doubt = counted.shelf - counted.ledger
    return from_balance(now, readings[-1], counted.shelf, counted.rate, counted.recent, counted.wobble, doubt=doubt)


def _balanced(
    shelf: float,
    accepted: Sequence[Reading],
    deliveries: Sequence[Delivery],
    loads: tuple[Refill, ...],
    pack: float,
    since: datetime,
    now: datetime,
    rate_high: float | None,
) -> float:
    """The shelf credit less the packs the level's mass balance saw loaded since the oldest credited delivery
    arrived, beyond the loads the jumps explain."""
    held = [
        d
        for d, left in credited(deliveries, loads, pack_size=pack, since=since, now=now, rate_high=rate_high)
        if left > 0
    ]
    if not held:
        return shelf
    start = next((r for r in reversed(accepted) if r.at <= held[0].at), None)
    if start is None:
        return shelf
    gone = unseen_packs(accepted, start.at, loads, pack)
    return max(shelf - gone * pack, 0.0)


def _before_empty(series: CleanSeries, level: float, bare: Forecast) -> Forecast:
    """The forecast as it stood before the trailing run of readings at or below `level`, if there is a run of
    at least two and rates could be measured before it; otherwise `bare`."""
    if not series.segments:
        return bare
    tail = series.segments[-1]
    run = 0
    for reading in reversed(tail):
        if reading.value > level:
            break
        run += 1
    if run < 2 or run >= len(tail):
        return bare
    kept = tail[: len(tail) - run + 1]  # up to the first empty reading: the use that emptied it counts
    earlier = forecast(replace(series, segments=(*series.segments[:-1], kept)), kept[-1].at)
    if earlier.rate_long is None or bare.rate_long is None or earlier.rate_long <= bare.rate_long:
        return bare
    return earlier


def _glitch(refill: Refill, accepted: Sequence[Reading], rate_high: float | None, pack: float) -> datetime | None:
    """When a refill only undoes a glitch or is undone by the next reading, the time of the glitch reading:
    the level rose back to no more than it was before a fall no use explains (a glitch down, then the real
    level), or the next reading left it again for where it was before by more than a burst of use (a glitch
    up). None for a refill that can be a pack loaded; the newest reading has no next one, and its rise counts."""
    if rate_high is None:
        return None
    noise = LOAD_NOISE * pack
    if refill.since is not None:
        earlier = next((r for r in reversed(accepted) if r.at < refill.since), None)
        if earlier is not None:
            days = (refill.since - earlier.at).total_seconds() / 86400.0
            dropped = earlier.value - refill.before > BURST * rate_high * days + noise
            if dropped and refill.after <= earlier.value + noise:
                return refill.since
    after = next((r for r in accepted if r.at > refill.at), None)
    if after is None:
        return None
    days = (after.at - refill.at).total_seconds() / 86400.0
    fell = refill.after - after.value > BURST * rate_high * days + noise
    return refill.at if fell and after.value <= refill.before + noise else None


def _busy_day(suspect: Refill, series: CleanSeries, rate_high: float | None, pack: float) -> bool:
    """A rejected reading that a pack loaded next to a burst of use explains: a rise of over half a pack, and
    the drop after it (a pack loaded, then a busy day) or before it (a busy day, then a pack loaded: the dip
    the rise starts from) no more than a burst of use. A smaller rise up and back down counts when the pack
    went into a nearly empty container in the middle of a burst: whole packs less a burst of use explain the
    rise, and the use over both intervals, a pack having gone in, is no more than a burst."""
    small = suspect.amount <= HIDDEN_PACKS * pack
    if rate_high is None:
        return not small
    accepted = series.readings
    before = next((r for r in reversed(accepted) if suspect.since is not None and r.at < suspect.since), None)
    if before is not None and suspect.at in {r.at for r in accepted}:
        # A dip before the rise: the drop into it must be use the household can have had in that time.
        if small:
            return False
        days = (suspect.since - before.at).total_seconds() / 86400.0 if suspect.since is not None else 1.0
        return before.value - suspect.before <= BURST * rate_high * days
    after = next((r for r in accepted if r.at > suspect.at), None)
    if after is None:
        return not small
    days = (after.at - suspect.at).total_seconds() / 86400.0
    if suspect.after - after.value > BURST * rate_high * days:
        return False
    if not small:
        return True
    # A pack opened on a busy day and mostly used by the next reading shows only what is left of it: a glitch
    # up and back needs far more use over the two intervals than any burst once a whole pack is counted in.
    # Judged by the use of the four weeks before it, not today's: after a rise in use, an old glitch must not
    # pass for a burst of the new use.
    if suspect.since is None or suspect.before > (LOAD_LOW + LOAD_NOISE) * pack:
        return False
    then = estimate_rate(series.segments, suspect.since - timedelta(days=LONG_DAYS), suspect.since)
    high = then.per_day + Z * then.se if then is not None else rate_high
    packs = loaded_packs(suspect, pack, high)
    span = (after.at - suspect.since).total_seconds() / 86400.0
    return bool(packs) and suspect.before + packs * pack - after.value <= BURST * high * span + LOAD_NOISE * pack
