"""Reorder policy of a sensor slot: when to order, how many packs, within the household's caps (pure).

Order when the *earliest plausible* run-out falls inside lead time plus safety margin (stock-outs cost more
than an early order), for enough packs to last the target horizon at the *expected* rate (so uncertainty
moves the date, not the size), never above the max-stock cap, never while an order is open, and with
delivered stock credited until the sensor sees it loaded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from hub.domain.credit import HIDDEN_PACKS, Delivery, hidden_refills, lead_days, looks_empty, shelf_stock
from hub.domain.forecast import Forecast, forecast
from hub.domain.readings import CleanSeries, Reading, clean

Mode = Literal["auto", "notify", "paused"]
Action = Literal["none", "order", "notify"]

# A rise smaller than this share of a pack is not taken for a refill whatever the sensor's step size, and
# one larger than the other share always is (a refill is about a pack; a noisy sensor must not hide it).
MIN_JUMP_PACKS = 0.1
MAX_JUMP_PACKS = 0.5
# A slot at or below this share of a pack is empty: it shows no use, so no run-out date, and must still be
# ordered for. Small, because households run a container nearly dry before opening the next pack.
EMPTY_PACKS = 0.03


@dataclass(frozen=True, slots=True)
class SlotPolicy:
    """The household's settings for a slot; quantities in the slot's unit, a pack holds `pack_size`."""

    pack_size: float
    max_stock: float
    mode: Mode = "auto"
    lead_time_days: float = 5.0
    safety_days: float = 3.0
    target_days: float = 30.0

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "notify", "paused"):
            raise ValueError(f"unknown mode {self.mode!r}")
        if not self.pack_size > 0:
            raise ValueError("pack_size must be positive")
        if not self.max_stock >= self.pack_size:
            raise ValueError("max_stock must hold at least one pack")
        if self.lead_time_days < 0 or self.safety_days < 0 or not self.target_days > 0:
            raise ValueError("lead and safety must be >= 0, target > 0")


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do now: nothing, place an order of `packs`, or tell the household."""

    action: Action
    packs: int
    quantity: float
    reason: str


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Everything one evaluation saw and decided, for the dashboard and the log."""

    series: CleanSeries
    forecast: Forecast
    decision: Decision


def _none(reason: str) -> Decision:
    return Decision("none", 0, 0.0, reason)


def _act(policy: SlotPolicy, packs: int, reason: str) -> Decision:
    action: Action = "order" if policy.mode == "auto" else "notify"
    return Decision(action, packs, packs * policy.pack_size, reason)


def decide(fc: Forecast, policy: SlotPolicy, *, on_order: float = 0.0) -> Decision:
    """Decide at `fc.at` whether to order (and how many packs) given the forecast and stock on order."""
    if policy.mode == "paused":
        return _none("paused")
    if on_order > 0:
        # At most one open replenishment order per slot: its stock is coming, ordering again would double it.
        return _none("an order is already open")
    stock = fc.stock_now
    if stock is None or fc.rate_per_day is None:
        if stock is not None and stock <= EMPTY_PACKS * policy.pack_size:
            return _act(policy, 1, "slot is empty and there are too few readings for a forecast")
        return _none("learning: too few readings for a forecast")
    order_by = fc.at + timedelta(days=policy.lead_time_days + policy.safety_days)
    empty = stock <= EMPTY_PACKS * policy.pack_size  # an empty slot shows no use, so no run-out: order anyway
    if not empty and (fc.run_out_earliest is None or fc.run_out_earliest > order_by):
        return _none("enough stock for lead time and safety margin")
    # The date follows the pessimistic view, the size the expected one: uncertainty moves orders earlier,
    # it does not make them bigger.
    need = fc.rate_per_day * (policy.lead_time_days + policy.target_days) - stock
    packs = max(1, math.ceil(need / policy.pack_size - 1e-9))
    # Stock now + on order + the new packs stays within the cap (on order is 0 here, kept for clarity).
    room = math.floor((policy.max_stock - stock - on_order) / policy.pack_size + 1e-9)
    if room < 1:
        return Decision("notify", 0, 0.0, "running out soon but the max-stock cap leaves no room for a pack")
    if empty or fc.run_out_earliest is None:
        return _act(policy, min(packs, room), "the slot is empty")
    when = fc.run_out_earliest.date().isoformat()
    return _act(policy, min(packs, room), f"may run out from {when}, within lead time and safety margin")


def evaluate(
    readings: Sequence[Reading],
    policy: SlotPolicy,
    now: datetime,
    *,
    deliveries: Iterable[Delivery] = (),
    on_order: float = 0.0,
) -> Evaluation:
    """Clean the slot's readings, credit delivered stock, forecast, learn the lead time and decide."""
    series = clean(readings, min_jump=MIN_JUMP_PACKS * policy.pack_size, max_jump=MAX_JUMP_PACKS * policy.pack_size)
    accepted = series.readings
    since = accepted[0].at if accepted else now
    deliveries = tuple(deliveries)
    shelf = shelf_stock(deliveries, series.refills, pack_size=policy.pack_size, since=since, now=now)
    fc = forecast(series, now, shelf=shelf)
    # The rate's lower bound: a busy week must not make a quiet month look like it hid a refill.
    hidden = hidden_refills(series, fc.rate_low, policy.pack_size)
    # A rise of over half a pack rejected as a spike may have been a pack loaded just before a very busy day.
    hidden += tuple(r for r in series.suspects if r.amount > HIDDEN_PACKS * policy.pack_size)
    if hidden and shelf > 0:
        # A delivered pack loaded without a visible jump is no longer on the shelf: count it once.
        refills = series.refills + hidden
        shelf = shelf_stock(deliveries, refills, pack_size=policy.pack_size, since=since, now=now)
        fc = forecast(series, now, shelf=shelf)
    if shelf > 0 and looks_empty(series, EMPTY_PACKS * policy.pack_size):
        # A household with a pack in the cupboard does not leave the container empty for two readings: the
        # credit is wrong (a refill went unseen) and keeping it would starve the slot.
        fc = forecast(series, now)
    # The household's lead time is a promise; past deliveries show what it really is, and only a longer
    # one changes anything (a faster merchant just leaves a bit more margin).
    learnt = lead_days(deliveries)
    if learnt is not None and learnt > policy.lead_time_days:
        policy = replace(policy, lead_time_days=learnt)
    return Evaluation(series, fc, decide(fc, policy, on_order=on_order))
