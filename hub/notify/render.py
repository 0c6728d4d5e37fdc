"""What a notification says: its payload (text, order, lines, one-tap links), built when it is read.

An order step's notification stores only its step; the payload is built here when the notification is listed,
streamed to a dashboard or sent on a channel, from the step, its order and its lines as they are then. Building
it for every order as the order was taken cost a quarter of the hub's CPU under load, for notifications that
most households never open. Reading them later also tells the truth of the moment: the one-tap links of a
step come only while the order is still at that step and the link can still do something.

Device and supply notifications store their payload as it was (what a sensor or a battery read then).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from hub.domain.money import display
from hub.notify.actions import ActionLinks
from hub.store import repos
from hub.store.models import Notification

# Why an order waits for approval (hub.domain.press.check_order's reasons), as the household reads it.
APPROVAL_REASONS = {
    "approval_mode": "every order needs your approval",
    "price_rise": "the price went up",
    "order_cap": "above your limit per order",
    "month_cap": "above your monthly limit",
}
# Steps after which the shop's promised delivery date is worth repeating to the household.
PROMISE_KINDS = frozenset({"order.placed", "order.substituted", "order.submitted", "order.confirmed",
                           "order.shipped"})


def delivery_date(at: datetime) -> str:
    """A promised delivery as a household reads it: the day, and the hour unless it is "by the end of the day"."""
    if (at.hour, at.minute) == (23, 59):
        return at.strftime("%a %d %b %Y")
    return at.strftime("%a %d %b %Y, %H:%M UTC")


def payloads(
    session: Session, notes: Sequence[Notification], now: datetime, links: ActionLinks | None
) -> dict[int, dict[str, Any]]:
    """Each notification's payload by id: as stored, or built now from its order step (one query each for the
    steps, their orders and their lines, however many notifications)."""
    pending = {note.order_event_id for note in notes if note.payload is None and note.order_event_id is not None}
    steps = repos.order_steps(session, pending)
    orders = repos.order_rows(session, {step.order_id for step in steps.values()})
    lines = repos.line_rows(session, list(orders))
    found: dict[int, dict[str, Any]] = {}
    for note in notes:
        assert note.id is not None
        head = {"kind": note.kind, "household_id": note.household_id}
        if note.payload is not None:
            found[note.id] = {**json.loads(note.payload), **head}
            continue
        step = steps.get(note.order_event_id or 0)
        order = orders.get(step.order_id) if step is not None else None
        if step is None or order is None or order.household_id != note.household_id:
            found[note.id] = {"text": note.kind, **head}  # its order is gone: say at least what it was
            continue
        payload = order_payload(order, lines.get(order.id, []), step, note.kind)
        # Links only for a step that is still current: a cancel link for an order that moved on is useless.
        if links is not None and order.status == step.status:
            actions = links.for_order(note.household_id, order.id, note.kind, order.cancel_until,
                                      note.created_at, now=now, seed=f"notification:{note.id}")
            if actions:
                payload["actions"] = actions
        found[note.id] = {**payload, **head}
    return found


def one(engine: Engine, household_id: int, note_id: int, now: datetime, links: ActionLinks | None
        ) -> dict[str, Any] | None:
    """One notification of the household with its id, as a live listener receives it; None if there is none."""
    with Session(engine) as session:
        note = session.get(Notification, note_id)
        if note is None or note.household_id != household_id:
            return None
        return {"id": note_id, **payloads(session, [note], now, links)[note_id]}


def order_payload(order: Any, lines: Sequence[Any], step: Any, kind: str) -> dict[str, Any]:
    """`order`, `lines` and `step` are rows or objects with the columns of Order, OrderLine and OrderEvent."""
    product = lines[0].name if len(lines) == 1 else f"{len(lines)} products"
    return {
        "kind": kind,
        "at": step.at.isoformat(),
        "text": _text(kind, order, product, step),
        "actor": step.actor,
        "order": {
            "id": order.id,
            "status": step.status,
            "product": product,
            "lines": [{"name": line.name, "qty": line.qty, "unit_price": line.unit_price} for line in lines],
            "total": order.total,
            "currency": order.currency,
            "cancel_until": order.cancel_until.isoformat() if order.cancel_until and kind == "order.placed" else None,
            "tracking": order.tracking,
            "carrier": order.carrier,
            "expected_delivery": _iso(order.expected_delivery),
            "reason": order.reason,
            "note": step.note,
            "device_id": order.device_id,
        },
    }


def _text(kind: str, order: Any, product: str, step: Any) -> str:
    text = _step_text(kind, order, product, step)
    promise: datetime | None = order.expected_delivery
    if promise is not None and kind in PROMISE_KINDS:
        text += f"; expected delivery {delivery_date(promise)}"
    return text


def _step_text(kind: str, order: Any, product: str, step: Any) -> str:
    total = display(order.total, order.currency)
    head = f"Order {order.id} ({product}, {total})"
    if kind == "order.placed":
        until = order.cancel_until.strftime("%Y-%m-%d %H:%M UTC") if order.cancel_until else "now"
        why = f" ({step.note})" if step.note else ""  # a replenishment says why it ordered
        return f"{head} placed{why}; you can cancel it until {until}"
    if kind == "order.substituted":
        return f"{head}: {step.note}; it goes to the shop now"
    if kind == "order.awaiting_approval":
        why = order.reason or step.note or "approval"
        return f"{head} waits for your approval ({APPROVAL_REASONS.get(why, why)}): approve or reject it"
    if kind == "order.shipped":
        carrier = f"{order.carrier} " if order.carrier else ""
        return f"{head} shipped: tracking {carrier}{order.tracking or '?'}"
    if kind == "order.failed":
        return f"{head} failed: {order.reason or step.note or 'unknown reason'}"
    return f"{head} {kind.removeprefix('order.').replace('_', ' ')}" + (f": {step.note}" if step.note else "")


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None
