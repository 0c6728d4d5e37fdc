"""The notification outbox: what a household is told, stored with one delivery per channel. Callers commit.

Order notifications come from the order timeline: every `OrderEvent` is turned into at most one
notification, once (`OrderEvent.notified`), whoever wrote it (device, user, scheduler, merchant). Device
notifications (offline after a missed check-in, low battery) come from a periodic check, low supply from the
replenishment engine through `low_supply`. A notification's `key` is unique per household, so a check that runs
twice, or two hub workers, never tell the same thing twice. Deliveries are retried with backoff per channel, so one
broken channel neither blocks nor delays another.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import update
from sqlmodel import Session, col

from hub.domain.lifecycle import OrderStatus
from hub.domain.money import display
from hub.domain.presence import CHECK_IN, Presence, presence
from hub.jobs import DeliveryPolicy
from hub.notify.channels import wants
from hub.store import repos, shared_state
from hub.store.models import (
    Device,
    Notification,
    NotificationDelivery,
    NotifyChannel,
    Order,
    OrderEvent,
    table_of,
)
from hub.store.rows import insert_rows

# Order timeline steps that the household hears about, and the notification kind of each.
ORDER_KINDS: dict[str, str] = {
    OrderStatus.AWAITING_APPROVAL: "order.awaiting_approval",
    OrderStatus.PENDING: "order.placed",
    OrderStatus.SUBMITTED: "order.submitted",
    OrderStatus.CONFIRMED: "order.confirmed",
    OrderStatus.SHIPPED: "order.shipped",
    OrderStatus.DELIVERED: "order.delivered",
    OrderStatus.CANCELLED: "order.cancelled",
    OrderStatus.FAILED: "order.failed",
    OrderStatus.RETURN_REQUESTED: "order.return_requested",
    OrderStatus.RETURNED: "order.returned",
}
# Why an order waits for approval (hub.domain.press.check_order's reasons), as the household reads it.
APPROVAL_REASONS = {
    "approval_mode": "every order needs your approval",
    "price_rise": "the price went up",
    "order_cap": "above your limit per order",
    "month_cap": "above your monthly limit",
}
LOW_SUPPLY = "supply.low"
DEVICE_OFFLINE = "device.offline"
LOW_BATTERY = "device.low_battery"
DEVICE_CHECK_LOCK = "device-checks"  # the cluster-wide lock of the periodic device checks
# The pump runs in a thread of the process that ingests, and building a payload never lets go of the interpreter
# lock: an ingest thread that wants it back would wait out the switch interval (20 ms, hub.ingest.mqtt). Every
# this many notifications (about a millisecond of work) the pump gives it up, so ingest waits that long at most.
YIELD_EVERY = 16
T = TypeVar("T")
# Payloads as stored: compact, dates as text. One encoder for all (json.dumps with options builds one per call).
_JSON = json.JSONEncoder(separators=(",", ":"), default=str)


@dataclass(frozen=True)
class DeliveryJob:
    """A claimed delivery with what the sender needs."""

    delivery_id: int
    attempt: int
    kind: str
    target: str
    secret: str | None
    payload: dict[str, Any]


# Steps after which the shop's promised delivery date is worth repeating to the household.
PROMISE_KINDS = frozenset({"order.placed", "order.substituted", "order.submitted", "order.confirmed",
                           "order.shipped"})


def delivery_date(at: datetime) -> str:
    """A promised delivery as a household reads it: the day, and the hour unless it is "by the end of the day"."""
    if (at.hour, at.minute) == (23, 59):
        return at.strftime("%a %d %b %Y")
    return at.strftime("%a %d %b %Y, %H:%M UTC")


def _text(kind: str, order: Order, product: str, event: OrderEvent) -> str:
    text = _step_text(kind, order, product, event)
    promise: datetime | None = getattr(order, "expected_delivery", None)
    if promise is not None and kind in PROMISE_KINDS:
        text += f"; expected delivery {delivery_date(promise)}"
    return text


def _step_text(kind: str, order: Order, product: str, event: OrderEvent) -> str:
    total = display(order.total, order.currency)
    head = f"Order {order.id} ({product}, {total})"
    if kind == "order.placed":
        if event.note and event.note.startswith("substitute"):
            return f"{head}: {event.note}; it goes to the shop now"
        until = order.cancel_until.strftime("%Y-%m-%d %H:%M UTC") if order.cancel_until else "now"
        why = f" ({event.note})" if event.note else ""  # a replenishment says why it ordered
        return f"{head} placed{why}; you can cancel it until {until}"
    if kind == "order.awaiting_approval":
        why = order.reason or event.note or "approval"
        return f"{head} waits for your approval ({APPROVAL_REASONS.get(why, why)}): approve or reject it"
    if kind == "order.shipped":
        carrier = f"{order.carrier} " if order.carrier else ""
        return f"{head} shipped: tracking {carrier}{order.tracking or '?'}"
    if kind == "order.failed":
        return f"{head} failed: {order.reason or event.note or 'unknown reason'}"
    return f"{head} {kind.removeprefix('order.').replace('_', ' ')}" + (f": {event.note}" if event.note else "")


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _order_payload(order: Any, lines: Sequence[Any], event: Any, kind: str) -> dict[str, Any]:
    # `order`, `lines` and `event` are rows or objects with the columns of Order, OrderLine and OrderEvent.
    product = lines[0].name if len(lines) == 1 else f"{len(lines)} products"
    return {
        "kind": kind,
        "at": event.at.isoformat(),
        "text": _text(kind, order, product, event),
        "actor": event.actor,
        "order": {
            "id": order.id,
            "status": event.status,
            "product": product,
            "lines": [{"name": line.name, "qty": line.qty, "unit_price": line.unit_price} for line in lines],
            "total": order.total,
            "currency": order.currency,
            "cancel_until": order.cancel_until.isoformat() if order.cancel_until and kind == "order.placed" else None,
            "tracking": order.tracking,
            "carrier": order.carrier,
            "expected_delivery": _iso(getattr(order, "expected_delivery", None)),
            "reason": order.reason,
            "note": event.note,
            "device_id": order.device_id,
        },
    }


def add(
    session: Session, household_id: int, kind: str, key: str, payload: dict[str, Any], now: datetime
) -> Notification | None:
    """Store a notification and a delivery for each of the household's channels; None if told before."""
    if repos.notification_by_key(session, household_id, key) is not None:
        return None
    payload = {**payload, "kind": kind, "household_id": household_id}
    note = Notification(household_id=household_id, kind=kind, key=key[:120],
                        payload=_JSON.encode(payload), created_at=now)
    session.add(note)
    session.flush()
    assert note.id is not None
    for channel in repos.active_channels(session, household_id):
        assert channel.id is not None
        if not wants(channel.events, kind):
            continue
        session.add(NotificationDelivery(notification_id=note.id, channel_id=channel.id, next_at=now))
    return note


# What the notifier announces on the live bus: (household, the notification's payload with its id).
Announcement = tuple[int, dict[str, Any]]
# The one-tap links of an order step: (household, order id, notification kind, cancel_until, step time) →
# [{"action", "label", "url", "expires"}] (hub.notify.actions.ActionLinks.for_order).
Links = Callable[[int, str, str, datetime | None, datetime], list[dict[str, Any]]]


def pump_order_events(
    session: Session, now: datetime, limit: int = 500, links: Links | None = None
) -> tuple[list[Announcement], bool]:
    """Turn order steps not yet notified into notifications; returns the new ones, and whether `limit` steps
    were taken (more may be waiting: a backlog, to be worked off at once).

    Under load this runs next to ingest in the same process, so it works per batch of steps and on plain
    rows: one query each for the steps, their orders, their lines, the keys told before and the channels,
    one INSERT of the notifications and one of their deliveries, one UPDATE marking the steps. The writes
    come last: on SQLite the first write takes the database's only write lock until the commit, and ingest
    must not wait for this function's reads and payloads to get it.
    """
    events = repos.unnotified_order_steps(session, limit)
    if not events:
        return [], False
    told = _notify_steps(session, events, now, links)
    session.execute(update(OrderEvent).where(col(OrderEvent.id).in_([event.id for event in events]))
                    .values(notified=True), execution_options={"synchronize_session": False})
    return told, len(events) >= limit


def _notify_steps(
    session: Session, events: Sequence[Any], now: datetime, links: Links | None = None
) -> list[Announcement]:
    steps: list[tuple[Any, str]] = []
    for event in events:
        kind = ORDER_KINDS.get(event.status)
        if kind is None:
            continue
        if kind == "order.placed" and event.note and event.note.startswith("substitute"):
            kind = "order.substituted"
        steps.append((event, kind))
    if not steps:
        return []
    orders = repos.order_rows(session, {event.order_id for event, _ in steps})
    lines = repos.line_rows(session, list(orders))
    rows: list[dict[str, Any]] = []
    for event, kind in _yielding(steps):
        order = orders.get(event.order_id)
        if order is None:
            continue
        payload = _order_payload(order, lines.get(order.id, []), event, kind)
        if links is not None:
            # Only a step that is still current gets links: a cancel link for an order that moved on is useless.
            actions = links(order.household_id, order.id, kind, order.cancel_until, now) \
                if order.status == event.status else []
            if actions:
                payload["actions"] = actions
        rows.append(_notification_row(order.household_id, kind, f"order-event:{event.id}", payload))
    return _add_many(session, rows, now)


def _yielding(items: Sequence[T]) -> Iterator[T]:
    """`items`, letting go of the interpreter lock every `YIELD_EVERY` of them (see there)."""
    for n, item in enumerate(items, 1):
        if n % YIELD_EVERY == 0:
            time.sleep(0)
        yield item


def _notification_row(household_id: int, kind: str, key: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"household_id": household_id, "kind": kind, "key": key[:120],
            "payload": {**payload, "kind": kind, "household_id": household_id}}


def _add_many(session: Session, rows: list[dict[str, Any]], now: datetime) -> list[Announcement]:
    """`add` for many notifications at once: those told before are skipped, the rest inserted in one go."""
    told = repos.notification_keys(session, {(row["household_id"], row["key"]) for row in rows})
    fresh: dict[tuple[int, str], dict[str, Any]] = {}
    for row in rows:
        fresh.setdefault((row["household_id"], row["key"]), row)
    new_rows = [row for key, row in fresh.items() if key not in told]
    if not new_rows:
        return []
    values = []
    for row in _yielding(new_rows):
        values.append({"household_id": row["household_id"], "kind": row["kind"], "key": row["key"],
                       "created_at": now, "payload": _JSON.encode(row["payload"])})
    channels = repos.active_channels_of(session, {row["household_id"] for row in new_rows})
    # One INSERT, then one query for the new ids by their unique keys: an INSERT ... RETURNING whose ids
    # must come back in the rows' order is a statement per row on SQLite.
    insert_rows(session, table_of(Notification), values)
    stored = repos.notification_ids(session, {(row["household_id"], row["key"]) for row in new_rows})
    ids = [stored[(row["household_id"], row["key"])] for row in new_rows]
    deliveries = [
        {"notification_id": note_id, "channel_id": channel.id, "next_at": now}
        for note_id, row in zip(ids, new_rows, strict=True)
        for channel in channels.get(row["household_id"], [])
        if wants(channel.events, row["kind"])
    ]
    if deliveries:
        insert_rows(session, table_of(NotificationDelivery), deliveries)
    # The announced payload is what was stored: order payloads hold JSON types only (dates already as text).
    return [(row["household_id"], {"id": note_id, **row["payload"]})
            for note_id, row in zip(ids, new_rows, strict=True)]


def device_checks(session: Session, now: datetime, offline_after: timedelta, low_battery_mv: int) -> list[Notification]:
    """Devices that missed their expected check-in and were silent for at least `offline_after`, and batteries
    below `low_battery_mv`: once each. Once per cluster: while another hub node is checking, nothing (two checks
    at once would both find a device unreported; one after the other, the second finds it told)."""
    created: list[Notification] = []
    if not shared_state.try_cluster_lock(session, DEVICE_CHECK_LOCK):
        return created
    for device in repos.silent_devices(session, now - offline_after):
        assert device.household_id is not None and device.last_seen is not None
        # A button or wand sleeps until it is used, so its silence says nothing; a sensor is missing only once
        # it owed a report. The same rule as the dashboard's asleep / offline.
        if presence(device.kind, device.online, device.last_seen, now) != Presence.OFFLINE:
            continue
        hours = (now - device.last_seen).total_seconds() / 3600
        text = f"{device.name or device.id} has not been heard from for {hours:.0f} h"
        interval = CHECK_IN.get(device.kind)
        if interval is not None:
            text += f" (it should report every {interval.total_seconds() / 3600:.0f} h)"
        payload = _device_payload(device, text)
        # Keyed by the last contact: one notification per silence, a new one after the device came back.
        note = add(session, device.household_id, DEVICE_OFFLINE, f"offline:{device.id}:{device.last_seen.isoformat()}",
                   payload, now)
        if note is not None:
            created.append(note)
    for device in repos.low_battery_devices(session, low_battery_mv):
        assert device.household_id is not None
        payload = _device_payload(device, f"{device.name or device.id}: battery low ({device.battery_mv} mV)")
        # At most one reminder a day while the battery stays low.
        note = add(session, device.household_id, LOW_BATTERY, f"battery:{device.id}:{now.date().isoformat()}",
                   payload, now)
        if note is not None:
            created.append(note)
    return created


def _device_payload(device: Device, text: str) -> dict[str, Any]:
    return {
        "text": text,
        "device": {"id": device.id, "name": device.name, "kind": device.kind, "battery_mv": device.battery_mv,
                   "last_seen": device.last_seen.isoformat() if device.last_seen else None},
    }


def low_supply(
    session: Session,
    household_id: int,
    device_id: str,
    slot: str,
    level: float,
    unit: str,
    now: datetime,
    run_out: datetime | None = None,
    product: str | None = None,
    reason: str | None = None,
) -> Notification | None:
    """Tell the household a notify-only slot runs low (for the replenishment engine); once a day per slot."""
    when = f", runs out around {run_out.strftime('%Y-%m-%d')}" if run_out else ""
    what = product or slot
    payload = {
        # The policy's reason already says when it runs out, how long a delivery takes and what to order.
        "text": f"{what} is running low: {level:g} {unit} left" + (f"; {reason}" if reason else when),
        "supply": {"device_id": device_id, "slot": slot, "level": level, "unit": unit, "product": product,
                   "run_out": run_out.isoformat() if run_out else None, "reason": reason},
    }
    return add(session, household_id, LOW_SUPPLY, f"supply:{device_id}:{slot}:{now.date().isoformat()}", payload, now)


def claim_deliveries(session: Session, now: datetime, policy: DeliveryPolicy, limit: int = 50) -> list[DeliveryJob]:
    """Lease the deliveries that are due, with their channel and payload."""
    jobs = []
    for delivery in repos.due_deliveries(session, now, limit):
        channel = session.get(NotifyChannel, delivery.channel_id)
        note = session.get(Notification, delivery.notification_id)
        if channel is None or note is None or not channel.active:
            delivery.status = "dropped"
            session.add(delivery)
            continue
        assert delivery.id is not None
        delivery.attempts += 1
        delivery.next_at = policy.lease_until(now)
        session.add(delivery)
        jobs.append(DeliveryJob(delivery.id, delivery.attempts, channel.kind, channel.target, channel.secret,
                                json.loads(note.payload)))
    return jobs


def finish_delivery(
    session: Session, job: DeliveryJob, error: str | None, now: datetime, policy: DeliveryPolicy
) -> None:
    """Record a send: sent, or retried later with backoff, or given up after the last attempt."""
    delivery = session.get(NotificationDelivery, job.delivery_id)
    if delivery is None or delivery.status != "pending" or delivery.attempts != job.attempt:
        return
    if error is None:
        delivery.status = "sent"
        delivery.sent_at = now
        delivery.last_error = None
    else:
        delivery.last_error = error[:200]
        retry_at = policy.retry_at(job.attempt, now)
        if retry_at is None:
            delivery.status = "dead"
        else:
            delivery.next_at = retry_at
    session.add(delivery)
