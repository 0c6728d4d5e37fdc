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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from hub.domain.lifecycle import OrderStatus
from hub.domain.presence import CHECK_IN, Presence, presence
from hub.jobs import DeliveryPolicy
from hub.notify import render
from hub.notify.actions import ActionLinks
from hub.notify.channels import wants
from hub.store import repos, shared_state
from hub.store.models import (
    Device,
    Notification,
    NotificationDelivery,
    NotifyChannel,
    OrderEvent,
    table_of,
)
from hub.store.rows import insert_rows, update_column

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
LOW_SUPPLY = "supply.low"
DEVICE_OFFLINE = "device.offline"
LOW_BATTERY = "device.low_battery"
DEVICE_CHECK_LOCK = "device-checks"  # the cluster-wide lock of the periodic device checks
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


# What the notifier announces on the live bus: (household, {"id", "kind"} of the new notification). A listener
# builds the payload when it wants it (hub.notify.render.one): most notifications have nobody listening.
Announcement = tuple[int, dict[str, Any]]


def pump_order_events(session: Session, now: datetime, limit: int = 500) -> tuple[list[Announcement], bool]:
    """Turn order steps not yet notified into notifications; returns the new ones, and whether `limit` steps
    were taken (more may be waiting: a backlog, to be worked off at once).

    Under load this runs next to ingest in the same process, so it works per batch of steps and on plain
    rows, and stores only the step (its payload is built when read, hub/notify/render.py): one query for the
    steps with their households, one for the channels, one INSERT of the notifications (which skips keys told
    before), one query for the new ids, one INSERT of their deliveries, one UPDATE marking the steps. The steps and
    channels are read before the first write: on SQLite that write takes the database's only write lock until the
    commit, and ingest must not wait for those reads to get it.
    """
    steps = repos.unnotified_order_steps(session, limit)
    if not steps:
        return [], False
    rows: list[dict[str, Any]] = []
    for step in steps:
        kind = ORDER_KINDS.get(step.status)
        if kind is None:
            continue
        if kind == "order.placed" and step.note and step.note.startswith("substitute"):
            kind = "order.substituted"
        rows.append({"household_id": step.household_id, "kind": kind, "key": f"order-event:{step.id}",
                     "order_event_id": step.id, "payload": None})
    told = _add_many(session, rows, now) if rows else []
    update_column(session, table_of(OrderEvent), "notified", "id", dict.fromkeys([step.id for step in steps], True))
    return told, len(steps) >= limit


def _add_many(session: Session, rows: list[dict[str, Any]], now: datetime) -> list[Announcement]:
    """`add` for many notifications at once: those told before are left out, the rest inserted in one go."""
    channels = repos.active_channels_of(session, {row["household_id"] for row in rows})
    # The new ids are read back as those above the highest before the INSERT (ids only grow), not by their keys:
    # an IN list of hundreds of keys costs more to build than the INSERT. Keys told before are skipped by the
    # INSERT itself (the unique key), so they are not among them.
    before = repos.last_notification_id(session)
    insert_rows(session, table_of(Notification), [{**row, "created_at": now} for row in rows], skip_existing=True)
    wanted = {(row["household_id"], row["key"]): row for row in rows}
    new = [(stored.id, wanted[(stored.household_id, stored.key)])
           for stored in repos.notifications_after(session, before)
           if (stored.household_id, stored.key) in wanted]
    deliveries = [
        {"notification_id": note_id, "channel_id": channel.id, "next_at": now}
        for note_id, row in new
        for channel in channels.get(row["household_id"], [])
        if wants(channel.events, row["kind"])
    ]
    if deliveries:
        insert_rows(session, table_of(NotificationDelivery), deliveries)
    return [(row["household_id"], {"id": note_id, "kind": row["kind"]}) for note_id, row in new]


def announcement(note: Notification) -> Announcement:
    """What the live bus carries for a stored notification."""
    assert note.id is not None
    return note.household_id, {"id": note.id, "kind": note.kind}


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


def claim_deliveries(
    session: Session, now: datetime, policy: DeliveryPolicy, limit: int = 50, links: ActionLinks | None = None
) -> list[DeliveryJob]:
    """Lease the deliveries that are due, with their channel and payload (built now, links signed by `links`)."""
    claimed: list[tuple[NotificationDelivery, NotifyChannel, Notification]] = []
    for delivery in repos.due_deliveries(session, now, limit):
        channel = session.get(NotifyChannel, delivery.channel_id)
        note = session.get(Notification, delivery.notification_id)
        if channel is None or note is None or not channel.active:
            delivery.status = "dropped"
            session.add(delivery)
            continue
        delivery.attempts += 1
        delivery.next_at = policy.lease_until(now)
        session.add(delivery)
        claimed.append((delivery, channel, note))
    said = render.payloads(session, [note for _, _, note in claimed], now, links)
    jobs = []
    for delivery, channel, note in claimed:
        assert delivery.id is not None and note.id is not None
        jobs.append(DeliveryJob(delivery.id, delivery.attempts, channel.kind, channel.target, channel.secret,
                                said[note.id]))
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
