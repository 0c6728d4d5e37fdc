"""What the dashboard pages show, built from store rows through repositories (never SQL)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from hub.domain import battery
from hub.domain.devices import KINDS, DeviceKind
from hub.domain.lifecycle import CANCELLABLE_STATUSES, OrderStatus
from hub.domain.presence import CHECK_IN, Presence, presence
from hub.domain.replenish import Decision
from hub.services import replenish as replenish_service
from hub.store import repos, web_queries
from hub.store.models import CartLine, Device, InboxEntry, Order, OrderLine, ProcessedEvent, Product, Reading, Slot
from hub.web import charts
from hub.web.render import money, status_label

VERBS = {"press": "pressed", "scan": "scanned", "level": "reported a level", "invalid": "sent an invalid message"}


PRESENCE_LABELS = {
    Presence.ONLINE: "Online",
    Presence.ASLEEP: "Asleep",
    Presence.OFFLINE: "Offline",
    Presence.NEVER: "Not connected yet",
}
# Battery history the forecast looks at: long enough for a slow LiFePO4 button, short enough to stay cheap.
BATTERY_HISTORY = timedelta(days=180)


@dataclass(frozen=True)
class BatteryView:
    """A battery's charge in words: percentage, whether it is low, and how long it has left."""

    percent: int
    low: bool
    forecast: str | None  # "about 8 months left"; None while too early to tell


@dataclass(frozen=True)
class DeviceView:
    """A device with its bound product, its newest event, its presence and its battery."""

    device: Device
    product: Product | None
    last_event: str | None
    last_event_at: datetime | None
    presence: Presence = Presence.NEVER
    battery: BatteryView | None = None  # None on mains power or before the first report

    @property
    def kind_label(self) -> str:
        """Readable device kind."""
        return DeviceKind(self.device.kind).label if self.device.kind in KINDS else self.device.kind

    @property
    def presence_label(self) -> str:
        """"Online", "Asleep", "Offline" or "Not connected yet"."""
        return PRESENCE_LABELS[self.presence]

    @property
    def presence_hint(self) -> str:
        """Why the device is not connected, in the household's words."""
        if self.presence == Presence.ASLEEP:
            if CHECK_IN.get(self.device.kind) is None:
                return "sleeps to save its battery, wakes when used"
            return "sleeps to save its battery, wakes to report"
        if self.presence == Presence.OFFLINE:
            return "missed its check-in: is it in Wi-Fi range, with a charged battery?"
        if self.presence == Presence.NEVER:
            return "switch it on and let it join your Wi-Fi"
        return ""


@dataclass(frozen=True)
class Activity:
    """One line of the activity feed."""

    key: str
    at: datetime
    who: str
    text: str
    order_id: str | None


@dataclass(frozen=True)
class OrderView:
    """An order with its lines and what the household may still do with it."""

    order: Order
    lines: list[OrderLine]

    @property
    def summary(self) -> str:
        """Products of the order in one line."""
        return ", ".join(f"{line.name} × {line.qty}" for line in self.lines) or "(no lines)"

    @property
    def cancellable(self) -> bool:
        """Whether a cancel button makes sense."""
        return self.order.status in CANCELLABLE_STATUSES

    @property
    def awaiting_approval(self) -> bool:
        """Whether approve / reject buttons make sense."""
        return self.order.status == OrderStatus.AWAITING_APPROVAL


@dataclass(frozen=True)
class CartLineView:
    """A cart line with its product."""

    line: CartLine
    product: Product

    @property
    def total(self) -> int:
        """Line total in minor units."""
        return self.product.price * self.line.qty


def _feedback(event: ProcessedEvent) -> dict[str, Any]:
    try:
        data = json.loads(event.feedback)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _amount(value: float, unit: str) -> str:
    """A level as people say it: "412 g", "1.5 l", "12", "40 %"."""
    if unit == "fraction":
        return f"{value * 100:.0f} %"
    if unit == "ml" and value >= 1000:
        return f"{value / 1000:.3g} l"
    if unit == "g" and value >= 1000:
        return f"{value / 1000:.3g} kg"
    number = f"{value:.1f}".rstrip("0").rstrip(".")
    return number if unit == "count" else f"{number} {unit}"


def describe_level(level: web_queries.Level | None) -> str:
    """"reported 412 g left of detergent" (the slot's product, else the slot's name)."""
    if level is None:
        return VERBS["level"]
    what = level.product or level.slot.replace("_", " ")
    return f"reported {_amount(level.value, level.unit)} left of {what}"


def describe_event(event: ProcessedEvent, session: Session | None = None) -> str:
    """What a device event became, in words: "pressed → ordered Coffee beans 1 kg (12.99 EUR)"; with a session,
    a level says its value."""
    fb = _feedback(event)
    code = str(fb.get("code", "?"))
    verb = VERBS.get(event.type, event.type)
    if event.type == "level" and session is not None:
        verb = describe_level(web_queries.level_at(session, event.device_id, event.received_at))
    product = fb.get("product")
    amount = fb.get("total")
    price = f" ({money(amount, str(fb.get('currency', '')))})" if isinstance(amount, int) else ""
    if code in ("ordered", "awaiting_approval"):
        return f"{verb} → {code.replace('_', ' ')}: {product}{price}"
    if code == "in_cart":
        return f"{verb} → in the cart: {product} × {fb.get('qty')}"
    if code == "inbox":
        return f"{verb} an unknown barcode → inbox"
    if code == "rejected":
        return f"{verb} → rejected ({fb.get('reason') or 'invalid'})"
    if code == "recorded":
        return verb
    return f"{verb} → {code.replace('_', ' ')}"


def battery_view(device: Device, history: list[tuple[datetime, int]], now: datetime) -> BatteryView | None:
    """The device's battery from its last voltage and its voltage history."""
    if device.battery_mv is None:
        return None
    cell = battery.chemistry_of(device.kind)
    pct = battery.percent(device.battery_mv, cell)
    samples = [battery.Sample(at, mv) for at, mv in history]
    left = battery.time_left(samples, cell, now)
    return BatteryView(round(pct), battery.is_low(pct), battery.describe_time_left(left) if left is not None else None)


def device_views(session: Session, household_id: int, now: datetime) -> list[DeviceView]:
    """The household's devices with bindings, newest events, presence and battery."""
    devices = list(repos.household_devices(session, household_id))
    ids = [d.id for d in devices]
    last = web_queries.last_device_events(session, ids)
    history = web_queries.battery_history(session, ids, now - BATTERY_HISTORY)
    views = []
    for device in devices:
        product = session.get(Product, device.binding_product_id) if device.binding_product_id else None
        event = last.get(device.id)
        views.append(
            DeviceView(
                device=device,
                product=product,
                last_event=describe_event(event, session) if event else None,
                last_event_at=event.received_at if event else None,
                presence=presence(device.kind, device.online, device.last_seen, now),
                battery=battery_view(device, history.get(device.id, []), now),
            )
        )
    return views


def activity(session: Session, household_id: int, limit: int = 15) -> list[Activity]:
    """Recent device events and order steps of the household, newest first."""
    names = {d.id: d.name or d.id for d in repos.household_devices(session, household_id)}
    items = [
        Activity(f"e{e.id}", e.received_at, names.get(e.device_id, e.device_id), describe_event(e, session), e.order_id)
        for e in web_queries.recent_device_events(session, household_id, limit)
    ]
    for step in web_queries.recent_order_steps(session, household_id, limit):
        who = step.actor.split(":", 1)[-1] if step.actor.startswith("user:") else step.actor.split(":", 1)[0]
        text = f"order {step.order_id} → {status_label(step.status)}" + (f" ({step.note})" if step.note else "")
        items.append(Activity(f"s{step.id}", step.at, who, text, step.order_id))
    items.sort(key=lambda item: item.at, reverse=True)
    return items[:limit]


def order_views(session: Session, orders: list[Order]) -> list[OrderView]:
    """Orders with their lines (one query for all lines)."""
    lines = web_queries.lines_of_orders(session, [o.id for o in orders])
    return [OrderView(order, lines.get(order.id, [])) for order in orders]


def cart_views(session: Session, household_id: int) -> list[CartLineView]:
    """The cart's lines with products the household can see."""
    views = []
    for line in repos.cart(session, household_id):
        product = repos.visible_product(session, household_id, line.product_id)
        if product is not None:
            views.append(CartLineView(line, product))
    return views


def inbox_entries(session: Session, household_id: int) -> list[InboxEntry]:
    """Unresolved unknown barcodes, newest first."""
    return list(repos.inbox(session, household_id))


def device_names(session: Session, household_id: int) -> dict[str, str]:
    """Device id → display name."""
    return {d.id: d.name or d.id for d in repos.household_devices(session, household_id)}


@dataclass(frozen=True)
class SupplyView:
    """A sensor slot on the supplies page: its policy row, chosen product, outlook and current decision."""

    device_id: str
    name: str
    unit: str
    device_name: str
    count: int
    slot: Slot | None  # None only for readings stored before slots were (they get one on the next reading)
    product: Product | None
    outlook: charts.SlotOutlook
    decision: Decision | None  # None while the slot has no pack size (no product, no pack size of its own)

    @property
    def chart_src(self) -> str:
        """The chart's URL; it changes with new readings and with the policy, so no stale chart is cached."""
        src = f"/web/supplies/{self.device_id}/{self.name}.png?n={self.count}"
        if self.slot is not None:
            s = self.slot
            src += f"&p={s.lead_time_days:g}-{s.safety_days:g}-{s.pack_size or 0:g}-{s.product_id or 0}"
        return src

    @property
    def needs_pack_size(self) -> bool:
        """The product is sold in another unit than the sensor measures, and the slot has no pack size."""
        return (
            self.slot is not None and self.slot.pack_size is None
            and self.product is not None and self.product.unit != self.unit
        )


def supply_outlook(
    session: Session, slot: Slot | None, readings: list[Reading], now: datetime
) -> tuple[charts.SlotOutlook, Decision | None]:
    """The outlook the page and the chart both show: the policy's forecast and reorder timing of the slot."""
    if slot is None:
        return charts.outlook(readings, now), None
    evaluation = replenish_service.evaluate_slot(session, slot, now)
    timing = charts.Timing(slot.lead_time_days, slot.safety_days)
    forecast = evaluation.forecast if evaluation is not None else None
    return charts.outlook(readings, now, timing, forecast), evaluation.decision if evaluation else None


def supply_views(session: Session, household_id: int, now: datetime) -> list[SupplyView]:
    """Every slot of the household that has readings, with its policy and forecast."""
    names = device_names(session, household_id)
    slots = {(s.device_id, s.name): s for s in repos.household_slots(session, household_id)}
    views = []
    for found in web_queries.reading_slots(session, household_id):
        slot = slots.get((found.device_id, found.slot))
        readings = list(repos.readings(session, found.device_id, found.slot))
        view, decision = supply_outlook(session, slot, readings, now)
        product = session.get(Product, slot.product_id) if slot is not None and slot.product_id else None
        views.append(SupplyView(
            device_id=found.device_id, name=found.slot, unit=slot.unit if slot else view.unit,
            device_name=names.get(found.device_id, found.device_id), count=found.count, slot=slot,
            product=product, outlook=view, decision=decision,
        ))
    return views


@dataclass(frozen=True)
class Step:
    """One step of an order's timeline with who caused it, by name."""

    status: str
    at: datetime
    note: str | None
    who: str


def actor_label(actor: str, devices: dict[str, str], people: dict[str, str]) -> str:
    """A timeline actor as the household knows it: the device's name, the shop's, the person's."""
    kind, _, ref = actor.partition(":")
    if kind == "device":
        return devices.get(ref, ref)
    if kind == "merchant":
        return "Demo shop" if ref == "demo" else ref
    if kind == "user":
        return people.get(ref, ref)
    return {"scheduler": "the hub", "replenish": "auto-reorder"}.get(actor, actor)


def timeline(session: Session, household_id: int, order_id: str) -> list[Step]:
    """An order's steps, oldest first, with named actors."""
    devices = device_names(session, household_id)
    steps = list(repos.order_timeline(session, order_id))
    people: dict[str, str] = {}
    for email in {s.actor.partition(":")[2] for s in steps if s.actor.startswith("user:")}:
        user = repos.user_by_email(session, email)
        if user is not None and user.household_id == household_id:
            people[email] = user.name or email
    return [Step(s.status, s.at, s.note, actor_label(s.actor, devices, people)) for s in steps]
