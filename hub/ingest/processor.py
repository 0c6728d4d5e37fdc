"""Turns MQTT messages into effects: one transaction per batch, a savepoint per message.

Each event's key `(device_id, seq)` is inserted with its effect and its feedback, so a replay finds the
key and gets the stored feedback again, byte for byte, and nothing happens twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from hub.domain.barcode import BarcodeError, normalise
from hub.domain.events import (
    LevelEvent,
    PressEvent,
    ProtocolError,
    ScanEvent,
    cmd_topic,
    decode_event,
    decode_status,
    parse_topic,
    readable_seq,
)
from hub.domain.feedback import Feedback, rejected
from hub.domain.press import Mode, OrderStatus, PressAction, decide_press
from hub.merchants.openfoodfacts import DISABLED_DETAIL, FINAL, LookupStatus
from hub.services import cart as cart_service
from hub.services import orders as order_service
from hub.services import replenish as replenish_service
from hub.store import repos
from hub.store.models import (
    DeadLetter,
    Device,
    Household,
    InboxEntry,
    Order,
    ProcessedEvent,
    Product,
    Reading,
    table_of,
)
from hub.store.types import utcnow

log = logging.getLogger(__name__)
K = TypeVar("K")
V = TypeVar("V")
# A payload over the limit is still read for its seq (so the device gets an answer) up to this size.
SEQ_SCAN_LIMIT = 16 * 1024
# `last_seen` tells a sleeping device from a dead one (hours of silence, protocol §4); moved on at most this
# often by events, it no longer costs a row UPDATE and a live event for every event a busy device sends.
LAST_SEEN_STEP = timedelta(seconds=5)


def _memo(cache: dict[K, V], key: K, load: Callable[[], V | None]) -> V | None:
    """cache[key], loaded (and kept when found) on a miss."""
    found = cache.get(key)
    if found is None:
        found = load()
        if found is not None:
            cache[key] = found
    return found


@dataclass(frozen=True)
class Message:
    """An MQTT message as received."""

    topic: str
    payload: bytes
    received: datetime


@dataclass(frozen=True)
class Reply:
    """Feedback to publish after the batch is committed."""

    topic: str
    payload: str


@dataclass(frozen=True)
class OrderChange:
    """An order created or changed by an event, for notifications."""

    order_id: str
    household_id: int
    status: str


class Processor:
    """Applies batches of device messages to the database."""

    def __init__(
        self,
        engine: Engine,
        on_order: Callable[[OrderChange], None] | None = None,
        on_unknown: Callable[[str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.on_order = on_order
        # Name lookup of unknown GTIN-14s (Open Food Facts); None = lookups are off.
        self.on_unknown = on_unknown
        # Rows read once per batch: a dictionary hit is a fraction of the cost of the session's own lookup.
        self._devices: dict[str, Device] = {}
        self._households: dict[int, Household] = {}
        self._products: dict[int, Product] = {}
        self._unknown: list[str] = []
        self._fast = True
        self.fallbacks = 0  # batches redone message by message after a key conflict
        self._seen: dict[tuple[str, int], str] = {}
        self._keys: list[dict[str, object]] = []
        # Fast path: the stored feedback of every (device, seq) in the batch, read with one query up front;
        # `_looked_up` says which keys that query covered (a key it did not find was never stored).
        self._known: dict[tuple[str, int], str] = {}
        self._looked_up: set[tuple[str, int]] = set()

    def handle_batch(self, messages: Sequence[Message]) -> list[Reply]:
        """Apply every message; commit once; return the feedback to publish (only after commit)."""
        try:
            return self._apply(messages, fast=True)
        except IntegrityError:
            # Another hub worker stored one of these (device, seq) keys first: redo the batch message by
            # message, each in a savepoint, so the loser answers with the winner's stored feedback.
            log.info("batch raced another worker; applying it message by message", extra={"size": len(messages)})
            self.fallbacks += 1
            return self._apply(messages, fast=False)

    def _apply(self, messages: Sequence[Message], fast: bool) -> list[Reply]:
        replies: list[Reply] = []
        changes: list[OrderChange] = []
        self._devices, self._households, self._products = {}, {}, {}
        self._unknown = []
        self._fast = fast
        self._seen = {}
        self._keys = []
        self._known = {}
        self._looked_up = set()
        # Fast path: no flush per message. The whole batch goes to the database in one flush at commit,
        # which batches the INSERTs; reads of rows written earlier in the batch go through the session's
        # pending objects (see repos) and through `_seen` for event keys.
        with Session(self.engine, expire_on_commit=False, autoflush=not fast) as session:
            if fast:
                self._prefetch(session, messages)
                # New order lines and timeline steps go in as rows after the orders' flush: building ORM
                # objects for them was most of the cost of an order.
                order_service.defer_rows(session)
            for message in messages:
                reply = self._one(session, message, changes)
                if reply is not None:
                    replies.append(reply)
            if fast:
                order_service.write_deferred(session)
            else:
                session.flush()
            if self._keys:
                # Event keys are write-only within a batch (reads go through `_seen`), so they skip the
                # ORM and go in as one multi-row INSERT; the unique key still stops a racing worker. The
                # table, not the class: given the class, SQLAlchemy's ORM bulk path redoes per row what the
                # INSERT's own parameter processing does again.
                session.execute(insert(table_of(ProcessedEvent)), self._keys)
            session.commit()
        self._devices, self._households, self._products = {}, {}, {}
        if self.on_order is not None:
            for change in changes:
                self.on_order(change)
        if self.on_unknown is not None:
            # Only after the commit: the lookup writes to the entry, and it must never delay feedback.
            for gtin in dict.fromkeys(self._unknown):
                self.on_unknown(gtin)
        return replies

    def _prefetch(self, session: Session, messages: Sequence[Message]) -> None:
        """Load the batch's devices and stored event keys with one query each, instead of one per message."""
        wanted: dict[str, set[int]] = {}
        for message in messages:
            try:
                topic = parse_topic(message.topic)
            except ProtocolError:
                continue
            seqs = wanted.setdefault(topic.device_id, set())
            if topic.channel != "event" or len(message.payload) > SEQ_SCAN_LIMIT:
                continue
            try:
                data = json.loads(message.payload)
            except ValueError:
                continue
            seq = readable_seq(data) if isinstance(data, dict) else None
            if seq is not None:
                seqs.add(seq)
        if not wanted:
            return
        # With their households and bound products: at a few events per batch, one query instead of three
        # is most of what a batch costs before its commit.
        for device, household, product in repos.devices_in_context(session, list(wanted)):
            self._devices[device.id] = device
            if household is not None and household.id is not None:
                self._households[household.id] = household
            if product is not None and product.id is not None:
                self._products[product.id] = product
        self._looked_up = {(device_id, seq) for device_id, seqs in wanted.items() for seq in seqs}
        self._known = repos.processed_feedback(session, self._looked_up)

    def _stored(self, session: Session, device_id: str, seq: int) -> str | None:
        """The feedback already given to (device, seq), in this batch or before."""
        seen = self._seen.get((device_id, seq))
        if seen is not None:
            return seen
        if self._fast and (device_id, seq) in self._looked_up:
            # A key stored by a racing worker since then makes the batch's INSERT fail: the fallback asks again.
            return self._known.get((device_id, seq))
        row = repos.processed_event(session, device_id, seq)
        return row.feedback if row is not None else None

    def _one(self, session: Session, message: Message, changes: list[OrderChange]) -> Reply | None:
        try:
            topic = parse_topic(message.topic)
        except ProtocolError as exc:
            self._dead_letter(session, message, None, None, exc.reason, exc.detail)
            return None
        if topic.channel == "status":
            self._status(session, message, topic.device_id)
            return None
        if topic.channel != "event":
            return None
        if self._fast:
            return self._event(session, message, topic.device_id, changes)
        for attempt in range(2):
            savepoint = session.begin_nested()
            try:
                reply = self._event(session, message, topic.device_id, changes)
                savepoint.commit()
                return reply
            except IntegrityError:
                # Another worker stored the same (device, seq) first: answer with its feedback.
                savepoint.rollback()
                if attempt == 1:
                    raise
        return None

    def _event(self, session: Session, message: Message, device_id: str, changes: list[OrderChange]) -> Reply | None:
        device = self._device(session, device_id)
        if device is None:
            self._dead_letter(session, message, device_id, None, "unknown_device", "no such device")
            return None
        try:
            event = decode_event(message.payload, message.received)
        except ProtocolError as exc:
            seq = exc.seq if exc.seq is not None else self._seq_of_oversize(exc, message.payload)
            if seq is not None:
                stored = self._stored(session, device_id, seq)
                if stored is not None:
                    return Reply(cmd_topic(device_id), stored)
            self._dead_letter(session, message, device_id, seq, exc.reason, exc.detail)
            if seq is None:
                return None
            return self._store(session, device_id, seq, "invalid", rejected(seq, exc.reason, exc.detail), None)
        stored = self._stored(session, device_id, event.seq)
        if stored is not None:
            log.info("replay answered", extra={"device": device_id, "seq": event.seq})
            return Reply(cmd_topic(device_id), stored)
        kind = type(event).__name__.removesuffix("Event").lower()
        household = self._household(session, device.household_id) if device.household_id else None
        if not device.active:
            feedback, order = rejected(event.seq, "revoked", "this device was revoked"), None
        elif household is None:
            feedback, order = rejected(event.seq, "unclaimed", "pair the device with a household first"), None
        elif isinstance(event, PressEvent):
            feedback, order = self._press(session, device, household, event)
        elif isinstance(event, ScanEvent):
            feedback, order = self._scan(session, device, household, event)
        else:
            feedback, order = self._level(session, device, household, event)
        if feedback.code == "rejected":
            self._dead_letter(session, message, device_id, event.seq, feedback.reason or "", feedback.detail or "")
        if device.last_seen is None or not timedelta(0) <= message.received - device.last_seen < LAST_SEEN_STEP:
            device.last_seen = message.received
            session.add(device)
        if order is not None:
            changes.append(OrderChange(order.id, order.household_id, order.status))
        return self._store(session, device_id, event.seq, kind, feedback, order.id if order else None)

    def _store(
        self, session: Session, device_id: str, seq: int, kind: str, feedback: Feedback, order_id: str | None
    ) -> Reply:
        payload = feedback.to_json()
        self._seen[(device_id, seq)] = payload
        if self._fast:
            self._keys.append(
                {"device_id": device_id, "seq": seq, "type": kind, "feedback": payload, "order_id": order_id,
                 "received_at": utcnow()}
            )
        else:
            session.add(ProcessedEvent(device_id=device_id, seq=seq, type=kind, feedback=payload, order_id=order_id))
            session.flush()  # inside the savepoint, so a duplicate key surfaces here
        return Reply(cmd_topic(device_id), payload)

    @staticmethod
    def _seq_of_oversize(exc: ProtocolError, payload: bytes) -> int | None:
        if exc.reason != "oversize" or len(payload) > SEQ_SCAN_LIMIT:
            return None
        try:
            data = json.loads(payload)
        except ValueError:
            return None
        return readable_seq(data) if isinstance(data, dict) else None

    def _press(
        self, session: Session, device: Device, household: Household, event: PressEvent
    ) -> tuple[Feedback, Order | None]:
        product = self._product(session, device.binding_product_id) if device.binding_product_id else None
        mode = Mode(device.binding_mode) if device.binding_mode else None
        # Only look up what the decision needs: these queries are the per-press cost under load.
        cancellable = repos.newest_open_order(session, device.id, True) if event.click == "long" else None
        needs_open = event.click != "long" and mode is not Mode.CART and not household.allow_multiple_orders
        open_order = repos.newest_open_order(session, device.id) if needs_open else None
        decision = decide_press(
            click=event.click,
            bound=product is not None,
            mode=mode,
            open_order_exists=open_order is not None,
            cancellable_order_exists=cancellable is not None,
            allow_multiple_orders=household.allow_multiple_orders,
        )
        actor = f"device:{device.id}"
        if decision.action is PressAction.REJECT:
            return rejected(event.seq, decision.reason or "unbound", "bind a product to this button"), None
        if decision.action is PressAction.NOTHING_TO_CANCEL:
            return Feedback(seq=event.seq, code="nothing_to_cancel"), None
        if decision.action is PressAction.CANCEL:
            assert cancellable is not None
            order_service.cancel(session, cancellable, actor, event.at)
            return self._order_feedback(session, event.seq, "cancelled", cancellable), cancellable
        if decision.action is PressAction.DUPLICATE:
            assert open_order is not None
            return self._order_feedback(session, event.seq, "duplicate", open_order, "protected"), None
        assert product is not None and mode is not None
        if decision.action is PressAction.ADD_TO_CART:
            return self._add_to_cart(session, household.id or 0, product, device.binding_qty, event), None
        order = order_service.create_order(
            session,
            household,
            [order_service.LineRequest(product, device.binding_qty, device.binding_unit_price)],
            source="press",
            actor=actor,
            now=event.at,
            device_id=device.id,
            mode=mode,
        )
        feedback = self._order_feedback(session, event.seq, self._code_of(order), order, order.reason, product.name)
        return feedback, order

    @staticmethod
    def _add_to_cart(
        session: Session, household_id: int, product: Product, qty: int, event: PressEvent | ScanEvent
    ) -> Feedback:
        line = cart_service.add(session, household_id, product, qty, event.at)
        return Feedback(
            seq=event.seq,
            code="in_cart",
            product=product.name,
            qty=line.qty,
            total=line.qty * product.price,
            currency=product.currency,
        )

    @staticmethod
    def _code_of(order: Order) -> str:
        return "ordered" if order.status == OrderStatus.PENDING else "awaiting_approval"

    @staticmethod
    def _order_feedback(
        session: Session, seq: int, code: str, order: Order, reason: str | None = None, name: str | None = None
    ) -> Feedback:
        if name is None:
            lines = repos.order_lines(session, order.id)
            name = lines[0].name if len(lines) == 1 else f"{len(lines)} products"
        return Feedback(
            seq=seq,
            code=code,
            order=order.id,
            product=name,
            total=order.total,
            currency=order.currency,
            cancel_until=order.cancel_until if code == "ordered" else None,
            reason=reason,
        )

    def _scan(
        self, session: Session, device: Device, household: Household, event: ScanEvent
    ) -> tuple[Feedback, Order | None]:
        assert household.id is not None
        try:
            gtin = normalise(event.code).digits
        except BarcodeError as exc:
            return rejected(event.seq, exc.reason, exc.detail), None
        product = repos.product_by_gtin(session, household.id, gtin)
        if product is None:
            entry = repos.inbox_entry(session, household.id, gtin)
            if entry is None:
                entry = InboxEntry(household_id=household.id, gtin=gtin, count=0, first_seen=event.at)
            entry.count += event.qty
            entry.last_seen = event.at
            entry.device_id = device.id
            entry.resolved = False
            if self.on_unknown is None:
                if entry.lookup_status is None:
                    entry.lookup_status, entry.lookup_detail = LookupStatus.DISABLED, DISABLED_DETAIL
            elif entry.lookup_status not in FINAL:
                # New, or the last try failed (timeout, offline, rate limited, disabled then): ask again.
                self._unknown.append(gtin)
            session.add(entry)
            return Feedback(seq=event.seq, code="inbox", qty=entry.count), None
        if household.scan_mode == "order":
            order = order_service.create_order(
                session,
                household,
                [order_service.LineRequest(product, event.qty)],
                source="scan",
                actor=f"device:{device.id}",
                now=event.at,
                device_id=device.id,
            )
            feedback = self._order_feedback(
                session, event.seq, self._code_of(order), order, order.reason, product.name
            )
            return feedback, order
        return self._add_to_cart(session, household.id, product, event.qty, event), None

    def _level(
        self, session: Session, device: Device, household: Household, event: LevelEvent
    ) -> tuple[Feedback, Order | None]:
        reading = Reading(device_id=device.id, slot=event.slot, value=event.value, unit=event.unit, at=event.at)
        session.add(reading)
        outcome = replenish_service.on_reading(session, device, household, reading, event.at)
        if outcome.order is None:
            return Feedback(seq=event.seq, code="recorded"), None
        order = outcome.order
        code = "reordered" if order.status == OrderStatus.PENDING else "awaiting_approval"
        return self._order_feedback(session, event.seq, code, order, order.reason, outcome.product), order

    def _device(self, session: Session, device_id: str) -> Device | None:
        return _memo(self._devices, device_id, lambda: repos.device(session, device_id))

    def _household(self, session: Session, household_id: int) -> Household | None:
        return _memo(self._households, household_id, lambda: repos.household(session, household_id))

    def _product(self, session: Session, product_id: int) -> Product | None:
        return _memo(self._products, product_id, lambda: session.get(Product, product_id))

    def _status(self, session: Session, message: Message, device_id: str) -> None:
        device = self._device(session, device_id)
        if device is None:
            self._dead_letter(session, message, device_id, None, "unknown_device", "status of an unknown device")
            return
        try:
            status = decode_status(message.payload)
        except ProtocolError as exc:
            self._dead_letter(session, message, device_id, None, exc.reason, exc.detail)
            return
        device.online = status.online
        device.last_seen = message.received
        if status.online:
            device.battery_mv = status.battery_mv if status.battery_mv is not None else device.battery_mv
            device.rssi = status.rssi if status.rssi is not None else device.rssi
            device.firmware = status.fw or device.firmware
            device.outbox = status.outbox if status.outbox is not None else device.outbox
            if status.dropped:
                log.warning("device outbox dropped events", extra={"device": device_id, "dropped": status.dropped})
        session.add(device)

    @staticmethod
    def _dead_letter(
        session: Session, message: Message, device_id: str | None, seq: int | None, reason: str, detail: str
    ) -> None:
        log.warning(
            "dead letter",
            extra={"topic": message.topic[:120], "device": device_id, "seq": seq, "reason": reason, "detail": detail},
        )
        session.add(
            DeadLetter(
                topic=message.topic[:200],
                device_id=device_id[:64] if device_id else None,
                seq=seq,
                reason=reason,
                detail=detail[:200],
                payload=message.payload[:SEQ_SCAN_LIMIT].decode("utf-8", "backslashreplace"),
                received_at=message.received,
            )
        )
