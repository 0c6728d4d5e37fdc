"""Live events: an in-process publish/subscribe bus per household, and the change feed that fills it.

Producer API (the whole of it)::

    bus.publish(household_id, kind, data)   # from any thread; never blocks, never raises

Consumers (the dashboard's SSE stream today; webhook and e-mail channels later) subscribe on the event
loop, per household or to every household with ``household_id=None``::

    with bus.subscribe(household_id) as sub:
        event = await sub.get(within=15)       # None after 15 s without one

Events are *hints that something changed*, delivered at most once per subscriber and after the change is
committed: a page re-reads what it shows, a notifier re-reads the row before it acts. A consumer reads its
state once right after subscribing (events before that moment are not replayed). A change made inside a
savepoint that is later rolled back may still be announced; re-reading makes that harmless. Each subscriber has a
bounded queue; when a slow consumer falls behind, its oldest events are dropped and counted (`dropped`),
so publishing never waits for anyone and ingest is never held up by a browser.

The change feed (`watch`) turns committed writes to orders, devices, cart lines, inbox entries and readings
into events, whoever made them: ingest and scheduler worker threads, REST API and dashboard requests. It
hooks SQLAlchemy's flush/commit events instead of each caller, so a new write path cannot forget to notify.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Mapper, Session, object_session
from sqlalchemy.orm.util import identity_key

from hub.store import batch
from hub.store.models import CartLine, Device, InboxEntry, Order, Reading

log = logging.getLogger(__name__)

# Event kinds. `data` is a small JSON-able dict; its keys are listed next to each kind.
ORDER = "order"  # id, status, device_id, total, currency
DEVICE = "device"  # id, name, online, battery_mv, last_seen, active, firmware
CART = "cart"  # product_id, qty (0 = removed)
INBOX = "inbox"  # gtin, count, resolved
READING = "reading"  # device_id, slot, value, unit, at
QUEUE_SIZE = 256


@dataclass(frozen=True)
class LiveEvent:
    """One thing that changed in a household."""

    household_id: int
    kind: str
    data: dict[str, Any]
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


class Subscription:
    """A consumer's bounded queue; only touched on the event loop thread."""

    def __init__(self, household_id: int | None, size: int, kinds: frozenset[str] | None = None) -> None:
        self.household_id = household_id
        self.kinds = kinds
        self.dropped = 0
        self._queue: deque[LiveEvent] = deque(maxlen=size)
        self._ready = asyncio.Event()

    def put(self, item: LiveEvent) -> None:
        """Queue an event, dropping (and counting) the oldest when full."""
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(item)
        self._ready.set()

    async def get(self, within: float | None = None) -> LiveEvent | None:
        """The next event, or None when `within` seconds pass without one."""
        if not self._queue:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), within)
            except TimeoutError:
                return None
        return self._queue.popleft()

    def take_dropped(self) -> int:
        """How many events were dropped since the last call."""
        dropped, self.dropped = self.dropped, 0
        return dropped


class LiveBus:
    """Per-household pub/sub inside one hub process."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribers: dict[int | None, set[Subscription]] = {}
        # Other hub nodes' subscribers (hub/notify/fanout.py): every event published here is handed to it too.
        self.relay: Callable[[list[tuple[int, str, dict[str, Any]]]], None] | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver on this loop (the hub's); until then, and after `detach`, events are discarded."""
        self._loop = loop

    def detach(self) -> None:
        """Stop delivering (hub shutdown)."""
        self._loop = None

    @property
    def listening(self) -> bool:
        """Whether anyone is subscribed, here or on another node; read from any thread (a stale answer only costs
        a resync)."""
        return bool(self._subscribers) or self.relay is not None

    def publish(self, household_id: int, kind: str, data: dict[str, Any]) -> None:
        """Announce a change to the household's subscribers; safe from any thread, never blocks."""
        if self.relay is not None:
            self.relay([(household_id, kind, data)])
        loop = self._loop
        # Without subscribers there is nothing to wake the loop for. A subscriber that arrives at this very
        # moment misses the event, which is why consumers re-read their state right after subscribing.
        if loop is None or not self._subscribers:
            return
        item = LiveEvent(household_id, kind, data)
        # Subscriber sets and queues belong to the loop thread; worker threads only hand the event over.
        with contextlib.suppress(RuntimeError):  # the loop closed during shutdown: nobody is listening
            loop.call_soon_threadsafe(self._deliver, item)

    def publish_many(self, events: list[tuple[int, str, dict[str, Any]]]) -> None:
        """`publish` for several changes at once: one wake-up of the loop for all of them."""
        if self.relay is not None and events:
            self.relay(events)
        self.receive(events)

    def receive(self, events: list[tuple[int, str, dict[str, Any]]]) -> None:
        """Deliver changes to this process's subscribers only (those another hub node relayed here)."""
        loop = self._loop
        if loop is None or not self._subscribers or not events:
            return
        items = [LiveEvent(household_id, kind, data) for household_id, kind, data in events]
        with contextlib.suppress(RuntimeError):  # the loop closed during shutdown: nobody is listening
            loop.call_soon_threadsafe(self._deliver_all, items)

    def _deliver(self, item: LiveEvent) -> None:
        for key in (item.household_id, None):
            for sub in self._subscribers.get(key, ()):
                if sub.kinds is None or item.kind in sub.kinds:
                    sub.put(item)

    def _deliver_all(self, items: list[LiveEvent]) -> None:
        for item in items:
            self._deliver(item)

    @contextlib.contextmanager
    def subscribe(self, household_id: int | None, kinds: frozenset[str] | None = None) -> Iterator[Subscription]:
        """Receive a household's events (None: every household's), only `kinds` if given, while the block runs.

        Call on the loop.
        """
        sub = Subscription(household_id, self.queue_size, kinds)
        self._subscribers.setdefault(household_id, set()).add(sub)
        try:
            yield sub
        finally:
            subs = self._subscribers.get(household_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subscribers[household_id]

    def subscriber_count(self) -> int:
        """Number of open subscriptions (for health checks and tests)."""
        return sum(len(s) for s in self._subscribers.values())


# ---------------------------------------------------------------------------------------------------------
# Change feed: committed writes on a watched engine become events on its bus.

_PENDING = "restock.live.pending"
_buses: weakref.WeakKeyDictionary[Engine, LiveBus] = weakref.WeakKeyDictionary()
_install_lock = threading.Lock()
_installed = False


def watch(engine: Engine, bus: LiveBus) -> None:
    """Publish changes committed through `engine` on `bus` (one bus per engine)."""
    _install()
    _buses[engine] = bus


def unwatch(engine: Engine) -> None:
    """Stop publishing the engine's changes."""
    _buses.pop(engine, None)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _describe(session: Session, target: object, deleted: bool) -> tuple[int, str, str, dict[str, Any]] | None:
    """(household, kind, dedupe key, data) of a changed row, or None when no household sees it."""
    data: dict[str, Any]
    if isinstance(target, Order):
        data = {"id": target.id, "status": target.status, "device_id": target.device_id,
                "total": target.total, "currency": target.currency}
        return target.household_id, ORDER, target.id, data
    if isinstance(target, Device):
        if target.household_id is None:
            return None
        data = {"id": target.id, "name": target.name, "online": target.online,
                "battery_mv": target.battery_mv, "last_seen": _iso(target.last_seen), "active": target.active,
                "firmware": target.firmware}
        return target.household_id, DEVICE, target.id, data
    if isinstance(target, CartLine):
        data = {"product_id": target.product_id, "qty": 0 if deleted else target.qty}
        return target.household_id, CART, str(target.product_id), data
    if isinstance(target, InboxEntry):
        data = {"gtin": target.gtin, "count": target.count, "resolved": target.resolved}
        return target.household_id, INBOX, target.gtin, data
    if isinstance(target, Reading):
        # Inside a flush no query may run; the writer (ingest) has the device loaded, so the identity map
        # answers. A reading written without its device in the session announces nothing.
        device = session.identity_map.get(identity_key(Device, target.device_id))
        if not isinstance(device, Device) or device.household_id is None:
            return None
        data = {"device_id": target.device_id, "slot": target.slot, "value": target.value,
                "unit": target.unit, "at": _iso(target.at)}
        return device.household_id, READING, f"{target.device_id}/{target.slot}", data
    return None


def _collect(deleted: bool) -> Any:
    def listener(_mapper: Mapper[Any], connection: Connection, target: object) -> None:
        bus = _buses.get(connection.engine)
        if bus is None or not bus.listening:
            return  # the common case under load: nobody watching, so no bookkeeping on the ingest path
        session = object_session(target)
        if session is not None:
            _queue(session, target, deleted)

    return listener


def _queue(session: Session, target: object, deleted: bool) -> None:
    """Hold a changed row's event until the session commits."""
    described = _describe(session, target, deleted)
    if described is None:
        return
    household_id, kind, key, data = described
    # Keyed per transaction so that 100 events of one device in a batch announce it once.
    session.info.setdefault(_PENDING, {})[(household_id, kind, key)] = data


def written(session: Session, targets: Sequence[Any]) -> None:
    """Announce rows a session wrote with Core INSERTs, which the ORM's events do not see, at its commit.

    Registered with the store's batch (`batch.on_bulk_insert`), which calls it for the rows it inserts in bulk.
    """
    bus = _buses.get(session.bind) if isinstance(session.bind, Engine) else None
    if bus is None or not bus.listening:
        return
    for target in targets:
        _queue(session, target, False)


def _after_commit(session: Session) -> None:
    pending: dict[tuple[int, str, str], dict[str, Any]] | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    bus = _buses.get(session.bind) if isinstance(session.bind, Engine) else None
    if bus is None:
        return
    # A batch of ingest commits hundreds of changes: they reach the loop in one hand-over, not one each.
    bus.publish_many([(household_id, kind, data) for (household_id, kind, _key), data in pending.items()])


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _install() -> None:
    """Register the SQLAlchemy listeners once per process; they do nothing for unwatched engines."""
    global _installed
    with _install_lock:
        if _installed:
            return
        for model in (Order, Device, CartLine, InboxEntry, Reading):
            event.listen(model, "after_insert", _collect(False))
            event.listen(model, "after_update", _collect(False))
            event.listen(model, "after_delete", _collect(True))
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_rollback", _after_rollback)
        batch.on_bulk_insert(written)
        _installed = True
