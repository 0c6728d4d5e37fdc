"""Turns MQTT messages into effects: one transaction per batch; one message costs only itself.

Ingest decodes and validates a message, answers a replay from its stored feedback, looks up the device and
its household, and hands the event to its use case (`services.press`, `scan`, `level`), which returns the
feedback and the effect. It stores the event's key with that feedback, dead-letters what it refuses, and
returns the replies to publish after the commit.

Each event's key `(device_id, seq)` is inserted with its effect and its feedback, so a replay finds the
key and gets the stored feedback again, byte for byte, and nothing happens twice.

A batch is applied in one go (the fast path). If it fails, while applying or at its commit, it is applied
again message by message, each in its own savepoint: a message that still fails is rolled back alone and
dead-lettered with the name of its error, and every other message of the batch is applied and answered. So
no bug in a handler, and no value the validation missed, can cost more than its own message.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from hub import metrics
from hub.domain.events import SEQ_SCAN_LIMIT as SEQ_SCAN_LIMIT  # the brokers' message size is set against it
from hub.domain.events import (
    PressEvent,
    ProtocolError,
    ScanEvent,
    cmd_topic,
    decode_event,
    device_of,
    parse_topic,
    scan_seq,
)
from hub.domain.feedback import Feedback, rejected
from hub.ingest.answered import Answered
from hub.ingest.context import DeviceContexts
from hub.ingest.isolation import (
    HUB_ERROR,
    Suspects,
    Undo,
    database_answers,
    is_outage,
    savepoints_in_transaction,
)
from hub.ingest.messages import Message, Reply, Shed, event_keys
from hub.ingest.records import DEAD_LETTERS, dead_letter, dead_letter_shed, record_status
from hub.services import level as level_service
from hub.services import press as press_service
from hub.services import scan as scan_service
from hub.services.answer import Handled
from hub.store import repos
from hub.store.batch import Batch, SessionWriter, Writer
from hub.store.models import Device, Household, ProcessedEvent, Product
from hub.store.types import utcnow

log = logging.getLogger(__name__)
K = TypeVar("K")
V = TypeVar("V")
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


@dataclass
class _Applied:
    """What a committed batch answers and announces, and what it counts."""

    replies: list[Reply]
    unknown: list[str]
    events: list[tuple[str, str]]  # (type, outcome) of each message
    dead_letters: list[str]  # the reason of each
    answers: list[tuple[str, int, str, str]]  # (device, seq, type, feedback) of each event answered


class _Mark:
    """How far a savepoint's message got in the batch's tallies, so a rollback takes its counts back too."""

    def __init__(self, events: list[tuple[str, str]], session: Session) -> None:
        self.events = len(events)
        self.dead = len(session.info.get(DEAD_LETTERS, ()))

    def restore(self, events: list[tuple[str, str]], session: Session) -> None:
        del events[self.events:]
        del session.info.get(DEAD_LETTERS, [])[self.dead:]


class Processor:
    """Applies batches of device messages to the database."""

    def __init__(
        self,
        engine: Engine,
        on_unknown: Callable[[str], None] | None = None,
        answered: Answered | None = None,
    ) -> None:
        self.engine = engine
        # Feedback of the events this processor's batches committed lately: `replay` answers from it.
        self.answered = answered if answered is not None else Answered()
        # Name lookup of unknown GTIN-14s (Open Food Facts); None = lookups are off.
        self.on_unknown = on_unknown
        # Rows read once per batch: a dictionary hit is a fraction of the cost of the session's own lookup.
        # Devices with their household and product, kept across batches while none of those rows changes.
        self.contexts = DeviceContexts()
        self._devices: dict[str, Device] = {}
        self._households: dict[int, Household] = {}
        self._products: dict[int, Product] = {}
        self._unknown: list[str] = []
        self.fallbacks = 0  # batches redone message by message (a message failed on its own, or keys kept racing)
        self.raced = 0  # fast-path batches applied again because another worker stored one of their keys first
        self.suspects = Suspects()  # devices whose messages are isolated for now
        self._seen: dict[tuple[str, int], str] = {}
        self._kinds: dict[tuple[str, int], str] = {}  # the event type of each key in `_seen`
        # Replays of the batch answered with feedback committed before it: (device, seq, type, feedback).
        self._replayed: list[tuple[str, int, str, str]] = []
        # Fast path: the stored feedback of every (device, seq) in the batch, read with one query up front;
        # `_looked_up` says which keys that query covered (a key it did not find was never stored).
        self._known: dict[tuple[str, int], str] = {}
        self._looked_up: set[tuple[str, int]] = set()
        # (type, outcome) of each message of the batch being applied; counted once it has committed.
        self._events: list[tuple[str, str]] = []
        self._parsed: dict[int, dict[str, Any]] = {}  # the batch's event payloads, parsed once (`event_keys`)
        # Run by the apply thread after each batch's feedback is handed over, outside its transaction: the hub's
        # notifier pumps new order steps there, so its writes and ingest's take turns instead of waiting for
        # each other on SQLite's one write lock.
        self.after_batch: Callable[[], object] | None = None
        # Arrival of the oldest message of the batch last handled (feedback latency, measured by ingest).
        self.oldest: datetime | None = None

    def handle_batch(self, messages: Sequence[Message], shed: Sequence[Shed] = ()) -> list[Reply]:
        """Apply every message; commit once; return the feedback to publish (only after commit).

        Raises only when the database itself fails (nothing is committed then, and the devices replay).
        """
        started = time.perf_counter()
        self.oldest = min((m.received for m in messages), default=None)
        try:
            applied = self._apply_fast(messages, shed)
        except Exception as exc:
            if is_outage(exc):
                raise
            # One message is poison (or keys kept racing): redo the batch message by message, each in a savepoint.
            level = logging.INFO if isinstance(exc, IntegrityError) else logging.WARNING
            log.log(level, "batch failed; applying it message by message",
                    extra={"size": len(messages), "error": type(exc).__name__})
            self.fallbacks += 1
            metrics.current().fallbacks.inc()
            applied = self._apply(messages, shed, fast=False)
        # Only after the commit, and never able to undo it: metrics, notifications, and name lookups (which write
        # to the inbox entry and must never delay feedback).
        try:
            self._count(applied, len(messages), time.perf_counter() - started)
        except Exception:
            log.exception("counting a committed batch failed")
        try:
            if self.on_unknown is not None:
                for gtin in dict.fromkeys(applied.unknown):
                    self.on_unknown(gtin)
        except Exception:
            log.exception("announcing a committed batch failed")
        try:
            self.answered.remember(applied.answers)
        except Exception:
            log.exception("remembering a committed batch's feedback failed")
        return applied.replies

    def replay(self, message: Message) -> Reply | None:
        """The feedback of an event this processor committed lately, answered without a batch; None when the
        message must go the full way (`handle_batch`), which answers from the database."""
        try:
            found = self.answered.replay(message)
        except Exception:
            log.exception("looking a replay up failed; applying it in a batch")
            return None
        if found is None:
            return None
        kind, reply = found
        metrics.current().events.labels(kind, "replay").inc()
        return reply

    @staticmethod
    def _count(applied: _Applied, size: int, seconds: float) -> None:
        """A committed batch's figures: a few increments per batch, whatever its size."""
        m = metrics.current()
        m.batch_messages.observe(size)
        m.apply_seconds.observe(seconds)
        for (kind, outcome), n in Counter(applied.events).items():
            m.events.labels(kind, outcome).inc(n)
        for reason, n in Counter(applied.dead_letters).items():
            m.dead_letters.labels(reason).inc(n)

    def _apply_fast(self, messages: Sequence[Message], shed: Sequence[Shed]) -> _Applied:
        """The fast path; once more when its one INSERT of event keys met a key stored since its lookup.

        Under load a device replays an event while the first copy is still in another ingest process's batch;
        when that batch commits first, this one's INSERT fails on the unique key. Applied again, the lookup
        finds the key and the replay is answered with the stored feedback: the batch stays one transaction
        instead of a savepoint per message, which costs several times as much.
        """
        try:
            return self._apply(messages, shed, fast=True)
        except IntegrityError:
            self.raced += 1
            return self._apply(messages, shed, fast=True)

    def _apply(self, messages: Sequence[Message], shed: Sequence[Shed], fast: bool) -> _Applied:
        replies: list[Reply] = []
        self._devices, self._households, self._products = {}, {}, {}
        self._unknown = []
        self._seen = {}
        self._kinds = {}
        self._replayed = []
        self._known = {}
        self._looked_up = set()
        self._events = []
        self._parsed = {}
        dead: list[str] = []
        if not fast:
            self.contexts.forget()  # the failed attempt's rollback expired what it had attached
        committed = whole = False
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                session.info[DEAD_LETTERS] = dead
                if fast:
                    # Fast path: no flush per message. The batch collects the new rows and writes them at the
                    # end, one INSERT per table; the reads that must see them go through it, and reads of event
                    # keys through `_seen`.
                    batch = Batch(session)
                    suspects = self.suspects.current()
                    trusted = [m for m in messages if device_of(m.topic) not in suspects] if suspects else messages
                    self._prefetch(session, messages)
                    for message in trusted:
                        reply = self._one(batch, message)
                        if reply is not None:
                            replies.append(reply)
                    dead_letter_shed(session, shed)
                    batch.write()
                    whole = len(trusted) == len(messages)
                    if not whole:
                        # A device whose message failed on its own lately gets each message applied in a
                        # savepoint of its own, after the others: its next bad one costs only itself, not a
                        # redo of the whole batch.
                        session.autoflush = True
                        savepoints_in_transaction(session)
                        writer = SessionWriter(session)
                        for message in messages:
                            if device_of(message.topic) in suspects:
                                reply = self._isolated(writer, message)
                                if reply is not None:
                                    replies.append(reply)
                else:
                    savepoints_in_transaction(session)
                    writer = SessionWriter(session)
                    for message in messages:
                        reply = self._isolated(writer, message)
                        if reply is not None:
                            replies.append(reply)
                    self._isolated_shed(session, shed)
                session.commit()
                committed = whole
        finally:
            self._devices, self._households, self._products = {}, {}, {}
            self._parsed = {}  # keyed by the messages' ids, which the next batch's messages may take
            if not committed:
                # Rolled back, or applied in savepoints, some of which may have been rolled back: either
                # expires objects the session held, kept contexts among them.
                self.contexts.forget()
        answers = [(device_id, seq, self._kinds.get((device_id, seq), "invalid"), payload)
                   for (device_id, seq), payload in self._seen.items()]
        return _Applied(replies, self._unknown, self._events, dead, answers + self._replayed)

    def _isolated(self, to: Writer, message: Message) -> Reply | None:
        """Apply one message in a savepoint; if it fails, roll it back alone and dead-letter it."""
        session = to.session
        for attempt in range(2):
            undo = Undo.mark(self._seen, self._unknown)
            mark = _Mark(self._events, session)
            savepoint = session.begin_nested()
            try:
                reply = self._one(to, message)
                savepoint.commit()
                return reply
            except Exception as exc:
                savepoint.rollback()
                undo.restore(self._seen, self._unknown)
                mark.restore(self._events, session)
                if is_outage(exc):
                    raise
                if isinstance(exc, IntegrityError) and attempt == 0:
                    continue  # another worker stored the same (device, seq) first: the retry answers with its feedback
                if isinstance(exc, OperationalError) and not database_answers(session):
                    raise  # the database went away meanwhile: nothing is committed, the devices replay
                return self._poisoned(to, message, exc)
        return None

    def _poisoned(self, to: Writer, message: Message, exc: Exception) -> Reply | None:
        """Dead-letter a message that failed on its own, with its error's name; answer `rejected` when its seq
        is readable, so the device stops replaying it."""
        log.error("message failed; dead-lettered", exc_info=exc, extra={"topic": message.topic[:120]})
        self.suspects.add(device_of(message.topic))
        try:
            topic = parse_topic(message.topic)
        except ProtocolError:
            device_id, seq = None, None
        else:
            device_id = topic.device_id
            seq = scan_seq(message.payload) if topic.channel == "event" else None
        reason, detail = type(exc).__name__, str(exc)
        # The rejection's key may be what fails (a bad row can fail the key's INSERT too): then the dead letter
        # alone is kept, and the device, unanswered, replays the event later.
        session = to.session
        for answer in (True, False) if seq is not None and device_id is not None else (False,):
            mark = _Mark(self._events, session)
            savepoint = session.begin_nested()
            try:
                dead_letter(session, message, device_id, seq, reason, detail)
                self._events.append(("invalid", "dead_letter"))
                reply = None
                if answer and device_id is not None and seq is not None:
                    feedback = rejected(seq, HUB_ERROR, f"the hub could not apply this event ({reason})")
                    reply = self._store(to, device_id, seq, "invalid", feedback, None)
                savepoint.commit()
                return reply
            except Exception as again:
                savepoint.rollback()
                mark.restore(self._events, session)
                self._seen.pop((device_id or "", seq or 0), None)
                if is_outage(again):
                    raise
                log.error("dead letter not written", exc_info=again, extra={"topic": message.topic[:120]})
        return None

    def _isolated_shed(self, session: Session, shed: Sequence[Shed]) -> None:
        if not shed:
            return
        mark = _Mark(self._events, session)
        savepoint = session.begin_nested()
        try:
            dead_letter_shed(session, shed)
            savepoint.commit()
        except Exception as exc:
            savepoint.rollback()
            mark.restore(self._events, session)
            if is_outage(exc):
                raise
            log.error("rate_limited dead letters not written", exc_info=exc)

    def _prefetch(self, session: Session, messages: Sequence[Message]) -> None:
        """The batch's devices with their households and bound products (kept across batches, see
        `hub.ingest.context`), and its stored event keys with one query, instead of a look-up per message."""
        wanted = event_keys(messages, self._parsed)
        if not wanted:
            return
        for device, household, product in self.contexts.load(session, wanted):
            self._devices[device.id] = device
            if household is not None and household.id is not None:
                self._households[household.id] = household
            if product is not None and product.id is not None:
                self._products[product.id] = product
        self._looked_up = {(device_id, seq) for device_id, seqs in wanted.items() for seq in seqs}
        self._known = repos.processed_feedback(session, self._looked_up)

    def _stored(self, to: Writer, device_id: str, seq: int) -> str | None:
        """The feedback already given to (device, seq), in this batch or before."""
        seen = self._seen.get((device_id, seq))
        if seen is not None:
            return seen
        if isinstance(to, Batch) and (device_id, seq) in self._looked_up:
            # A key a racing worker stored since then makes the batch's INSERT fail; applied again, it asks again.
            return self._known.get((device_id, seq))
        row = repos.processed_event(to.session, device_id, seq)
        return row.feedback if row is not None else None

    def _one(self, to: Writer, message: Message) -> Reply | None:
        try:
            topic = parse_topic(message.topic)
        except ProtocolError as exc:
            dead_letter(to.session, message, None, None, exc.reason, exc.detail)
            self._events.append(("invalid", "dead_letter"))
            return None
        if topic.channel == "status":
            self._status(to.session, message, topic.device_id)
            self._events.append(("status", "recorded"))
            return None
        if topic.channel != "event":
            return None
        return self._event(to, message, topic.device_id)

    def _event(self, to: Writer, message: Message, device_id: str) -> Reply | None:
        session = to.session
        device = self._device(session, device_id)
        if device is None:
            dead_letter(session, message, device_id, None, "unknown_device", "no such device")
            self._events.append(("invalid", "dead_letter"))
            return None
        try:
            event = decode_event(message.payload, message.received, self._parsed.get(id(message)))
        except ProtocolError as exc:
            # Broken and oversize payloads are scanned for a seq too, so the device can drop them.
            seq = exc.seq if exc.seq is not None else scan_seq(message.payload)
            if seq is not None:
                stored = self._stored(to, device_id, seq)
                if stored is not None:
                    self._events.append(("invalid", "replay"))
                    self._replayed.append((device_id, seq, "invalid", stored))
                    return Reply(cmd_topic(device_id), stored)
            dead_letter(session, message, device_id, seq, exc.reason, exc.detail)
            self._events.append(("invalid", "dead_letter" if seq is None else "rejected"))
            if seq is None:
                return None
            return self._store(to, device_id, seq, "invalid", rejected(seq, exc.reason, exc.detail), None)
        kind = type(event).__name__.removesuffix("Event").lower()
        stored = self._stored(to, device_id, event.seq)
        if stored is not None:
            log.info("replay answered", extra={"device": device_id, "seq": event.seq})
            self._events.append((kind, "replay"))
            self._replayed.append((device_id, event.seq, kind, stored))
            return Reply(cmd_topic(device_id), stored)
        household = self._household(session, device.household_id) if device.household_id else None
        if not device.active:
            handled = Handled(rejected(event.seq, "revoked", "this device was revoked"))
        elif household is None:
            handled = Handled(rejected(event.seq, "unclaimed", "pair the device with a household first"))
        elif isinstance(event, PressEvent):
            product = self._product(session, device.binding_product_id) if device.binding_product_id else None
            handled = press_service.press(to, device, household, product, event)
        elif isinstance(event, ScanEvent):
            handled = scan_service.scan(to, device, household, event, lookups=self.on_unknown is not None)
        else:
            handled = level_service.level(to, device, household, event)
        feedback, order = handled.feedback, handled.order
        if handled.lookup is not None:
            self._unknown.append(handled.lookup)
        if feedback.code == "rejected":
            dead_letter(session, message, device_id, event.seq, feedback.reason or "", feedback.detail or "")
        self._events.append((kind, feedback.code))
        if device.last_seen is None or not timedelta(0) <= message.received - device.last_seen < LAST_SEEN_STEP:
            to.seen(device, message.received)
        return self._store(to, device_id, event.seq, kind, feedback, order.id if order else None)

    def _store(
        self, to: Writer, device_id: str, seq: int, kind: str, feedback: Feedback, order_id: str | None
    ) -> Reply:
        payload = feedback.to_json()
        if isinstance(to, Batch):
            # Event keys are write-only within a batch (reads go through `_seen`), so they go in with the batch's
            # one multi-row INSERT; the unique key still stops a racing worker.
            to.add_row(ProcessedEvent, {"device_id": device_id, "seq": seq, "type": kind, "feedback": payload,
                                        "order_id": order_id, "received_at": utcnow()})
        else:
            to.add(ProcessedEvent(device_id=device_id, seq=seq, type=kind, feedback=payload, order_id=order_id))
            to.session.flush()  # inside the savepoint, so a duplicate key surfaces here
        self._seen[(device_id, seq)] = payload
        self._kinds[(device_id, seq)] = kind
        return Reply(cmd_topic(device_id), payload)

    def _device(self, session: Session, device_id: str) -> Device | None:
        return _memo(self._devices, device_id, lambda: repos.device(session, device_id))

    def _household(self, session: Session, household_id: int) -> Household | None:
        return _memo(self._households, household_id, lambda: repos.household(session, household_id))

    def _product(self, session: Session, product_id: int) -> Product | None:
        return _memo(self._products, product_id, lambda: session.get(Product, product_id))

    def _status(self, session: Session, message: Message, device_id: str) -> None:
        device = self._device(session, device_id)
        if device is None:
            dead_letter(session, message, device_id, None, "unknown_device", "status of an unknown device")
            return
        record_status(session, device, message)
