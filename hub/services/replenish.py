"""Consumption-based replenishment: every reading of a slot is evaluated by the domain policy. Callers commit."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from hub.domain.credit import Delivery
from hub.domain.lifecycle import OPEN_STATUSES, OrderStatus
from hub.domain.press import Mode
from hub.domain.readings import Reading as DomainReading
from hub.domain.replenish import Evaluation, SlotPolicy, evaluate
from hub.notify import outbox
from hub.services import orders as order_service
from hub.services.transaction import committed
from hub.store import repos, shared_state
from hub.store.batch import Writer, writer_of
from hub.store.models import Device, Household, Order, Product, Reading, Slot

log = logging.getLogger(__name__)
# A notify-only slot says "running low" at most this often, not on every reading.
NOTIFY_EVERY = timedelta(hours=24)
# With no cap set, the cupboard holds this many days of the target horizon beyond the target.
DEFAULT_CAP_PACKS = 3
MODES = ("auto", "notify", "paused")
SLOT_REVIEW_LOCK = "slot-review"  # the cluster-wide lock of the periodic review


class SlotError(ValueError):
    """A slot setting that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Outcome:
    """What a reading led to: an order (auto mode), a low-supply warning, or nothing."""

    action: str
    order: Order | None = None
    reason: str = ""
    product: str | None = None


def slot_for(session: Session | Writer, device: Device, name: str, unit: str) -> Slot:
    """The slot a reading belongs to, created on first sight (notify mode until the household chooses)."""
    to = writer_of(session)
    slot = to.slot(device.id, name)
    if slot is None:
        assert device.household_id is not None
        slot = Slot(household_id=device.household_id, device_id=device.id, name=name, unit=unit)
        to.add(slot)
        to.session.flush()  # its id links the readings' evaluation and any order to it
    return slot


def policy_of(slot: Slot, product: Product | None) -> SlotPolicy | None:
    """The domain policy for a slot, or None while it lacks a pack size."""
    pack = slot.pack_size or (product.pack_size if product is not None else None)
    if not pack:
        return None
    cap = slot.max_stock if slot.max_stock and slot.max_stock >= pack else DEFAULT_CAP_PACKS * pack
    mode = slot.mode if product is not None or slot.mode != "auto" else "notify"
    return SlotPolicy(
        pack_size=pack,
        max_stock=cap,
        mode=mode,  # type: ignore[arg-type]
        lead_time_days=slot.lead_time_days,
        safety_days=slot.safety_days,
        target_days=slot.target_days,
        tradeoff=slot.order_tradeoff,
        learning_low=slot.learning_low,
    )


def _history(to: Writer, slot: Slot, pending: Reading | None) -> list[DomainReading]:
    rows = list(to.readings(slot.device_id, slot.name))
    if pending is not None and all(r is not pending for r in rows):
        rows.append(pending)
    return [DomainReading(at=r.at, value=r.value) for r in sorted(rows, key=lambda r: r.at)]


def _deliveries_and_on_order(to: Writer, slot: Slot, pack: float) -> tuple[list[Delivery], float]:
    deliveries: list[Delivery] = []
    on_order = 0.0
    open_names = {str(s) for s in OPEN_STATUSES}
    for order in to.slot_orders(slot.id or 0):
        qty = sum(line.qty for line in to.order_lines(order.id)) * pack
        if order.status in open_names:
            on_order += qty
        elif order.status == OrderStatus.DELIVERED:
            # The shop and its promised date let the policy learn each shop's real lead time.
            deliveries.append(Delivery(at=order.updated_at, quantity=qty, ordered_at=order.created_at,
                                       shop=order.merchant, promised=order.expected_delivery))
    return deliveries, on_order


def evaluate_slot(
    session: Session | Writer, slot: Slot, now: datetime, pending: Reading | None = None
) -> Evaluation | None:
    """Run the policy on a slot's history (including a reading not flushed yet)."""
    to = writer_of(session)
    product = to.session.get(Product, slot.product_id) if slot.product_id else None
    policy = policy_of(slot, product)
    if policy is None:
        return None
    deliveries, on_order = _deliveries_and_on_order(to, slot, policy.pack_size)
    # Lead times are learnt per shop: the one the slot's product is ordered from.
    shop = product.merchant if product is not None else None
    return evaluate(_history(to, slot, pending), policy, now, deliveries=deliveries, on_order=on_order,
                    shop=shop)


def on_reading(
    session: Session | Writer, device: Device, household: Household, reading: Reading, now: datetime
) -> Outcome:
    """Evaluate the slot after a new reading; place the replenishment order when the policy says so."""
    to = writer_of(session)
    slot = slot_for(to, device, reading.slot, reading.unit)
    return review(to, slot, household, now, reading, actor=f"device:{device.id}")


def review(
    session: Session | Writer,
    slot: Slot,
    household: Household,
    now: datetime,
    reading: Reading | None = None,
    actor: str = "scheduler",
) -> Outcome:
    """Run the policy on a slot now and act on it: order (auto), warn (notify only) or nothing."""
    to = writer_of(session)
    result = evaluate_slot(to, slot, now, reading)
    if result is None:
        return Outcome("none", reason="no pack size: choose a product for this slot")
    decision = result.decision
    slot.last_action, slot.last_reason = decision.action, decision.reason[:120]
    slot.run_out_at = result.forecast.run_out_at
    to.add(slot)
    if decision.action == "order" and slot.product_id is not None:
        product = to.session.get(Product, slot.product_id)
        assert product is not None
        order = order_service.create_order(
            to,
            household,
            [order_service.LineRequest(product, decision.packs)],
            source="replenish",
            actor=actor,
            now=now,
            device_id=slot.device_id,
            mode=Mode.ORDER,
            note=decision.reason,
            slot_id=slot.id,
        )
        log.info("replenishment ordered", extra={"slot": slot.id, "packs": decision.packs, "order": order.id})
        return Outcome("order", order, decision.reason, product.name)
    if decision.action == "notify":
        if slot.notified_at is None or now - slot.notified_at >= NOTIFY_EVERY:
            slot.notified_at = now
            product = to.session.get(Product, slot.product_id) if slot.product_id else None
            level = result.forecast.level_now
            if level is None:
                level = reading.value if reading is not None else 0.0
            outbox.low_supply(
                to.session, household.id or 0, slot.device_id, slot.name, round(level, 1), slot.unit, now,
                run_out=result.forecast.run_out_at, product=product.name if product else None,
                reason=decision.reason,
            )
            return Outcome("notify", reason=decision.reason)
        return Outcome("none", reason="already told the household")
    return Outcome("none", reason=decision.reason)


def review_all(session: Session, now: datetime) -> list[Outcome]:
    """Review every active slot of an active device, and commit: a sensor that went quiet must not mean a
    stock-out. Once per cluster: while another hub node is reviewing, nothing (that node's review covers it)."""
    outcomes = []
    with committed(session):
        if not shared_state.try_cluster_lock(session, SLOT_REVIEW_LOCK):
            return []
        for slot in repos.active_slots(session):
            household = repos.household(session, slot.household_id)
            device = repos.device(session, slot.device_id)
            if household is None or device is None or not device.active:
                continue
            outcomes.append(review(session, slot, household, now))
    return outcomes


def update_slot(session: Session, slot: Slot, product: Product | None, **changes: object) -> Slot:
    """Change a slot's product and policy; refuses settings the policy cannot use."""
    if "mode" in changes and changes["mode"] not in MODES:
        raise SlotError(f"mode must be one of {', '.join(MODES)}")
    for share in ("order_tradeoff", "learning_low"):
        value = changes.get(share, 0.0)
        if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
            raise SlotError(f"{share} must be between 0 and 1")
    if product is not None:
        slot.product_id = product.id
    for key, value in changes.items():
        setattr(slot, key, value)
    chosen = session.get(Product, slot.product_id) if slot.product_id else None
    if slot.mode == "auto" and chosen is None:
        raise SlotError("choose a product before switching the slot to auto")
    pack = slot.pack_size or (chosen.pack_size if chosen else None)
    if slot.max_stock is not None and pack and slot.max_stock < pack:
        raise SlotError(f"max_stock must hold at least one pack ({pack:g} {slot.unit})")
    session.add(slot)
    return slot


def pause_device_slots(session: Session, device_id: str) -> int:
    """Stop replenishment for every slot of a device (revoke); returns how many were active."""
    changed = 0
    for slot in repos.slots_of_device(session, device_id):
        if slot.mode != "paused":
            slot.mode = "paused"
            session.add(slot)
            changed += 1
    return changed
