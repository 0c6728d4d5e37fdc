"""Live events across hub nodes: PostgreSQL LISTEN/NOTIFY between the buses of every node on one database.

Each node hands what its bus publishes (changes committed here, notifications made here) to `PgFanout.offer`,
from any thread and without waiting; a task on the hub's loop packs the waiting events into NOTIFY payloads on
one channel. Every node LISTENs on that channel on a second connection and delivers what the others sent to its
own subscribers (`LiveBus.receive`), skipping its own payloads, which PostgreSQL echoes back to it.

NOTIFY is sent on a connection of its own, outside the transactions that made the changes: a commit never waits
for the notification queue's lock, and events stay what they are on one node, hints sent after the commit. A
payload must stay under 8,000 bytes, so events are packed up to PAYLOAD_BYTES; a single event too large for
one payload (a long notification text) travels as just its household, kind and id, which still tells a page to
re-read. Events wait in a bounded queue while the database is away (the oldest go first) and the connections
are re-opened with a growing pause; what is missed meanwhile is missed, as on a dashboard that reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import deque
from typing import Any

import psycopg

from hub.notify.live import LiveBus
from hub.store import live_channel

log = logging.getLogger(__name__)

CHANNEL = "restock_live"
PAYLOAD_BYTES = 7_900  # PostgreSQL refuses a NOTIFY payload of 8,000 bytes or more
QUEUE_EVENTS = 10_000
RETRY_S = (0.5, 1.0, 2.0, 5.0, 10.0)

Event = tuple[int, str, dict[str, Any]]


def _dumps(value: object) -> str:
    # ASCII only, so that characters and bytes count alike against the payload limit.
    return json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=True)


def pack(node: str, events: list[Event], limit: int = PAYLOAD_BYTES) -> list[str]:
    """The events as NOTIFY payloads of at most `limit` bytes each, in order."""
    head, tail = f'{{"n":{_dumps(node)},"e":[', "]}"
    payloads: list[str] = []
    parts: list[str] = []
    size = len(head) + len(tail)
    for event in events:
        part = _dumps(list(event))
        if len(head) + len(part) + len(tail) > limit:
            household_id, kind, data = event
            part = _dumps([household_id, kind, {"id": data.get("id")}])
            if len(head) + len(part) + len(tail) > limit:
                continue  # an id this long is no event of ours
        if parts and size + len(part) + 1 > limit:
            payloads.append(head + ",".join(parts) + tail)
            parts, size = [], len(head) + len(tail)
        size += len(part) + (1 if parts else 0)
        parts.append(part)
    if parts:
        payloads.append(head + ",".join(parts) + tail)
    return payloads


def unpack(payload: str) -> tuple[str, list[Event]]:
    """(sending node, events) of a payload; ValueError for one that is not ours."""
    try:
        message = json.loads(payload)
    except RecursionError:  # nested deeper than the parser goes: not ours either
        raise ValueError("nested too deeply") from None
    if not isinstance(message, dict) or not isinstance(message.get("n"), str) or not isinstance(message.get("e"), list):
        raise ValueError("not a live-event payload")
    events: list[Event] = []
    for item in message["e"]:
        if (
            isinstance(item, list)
            and len(item) == 3
            and isinstance(item[0], int)
            and not isinstance(item[0], bool)
            and isinstance(item[1], str)
            and isinstance(item[2], dict)
        ):
            events.append((item[0], item[1], item[2]))
    return message["n"], events


def libpq_url(sqlalchemy_url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as psycopg takes it (without the driver suffix)."""
    scheme, rest = sqlalchemy_url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgres") else sqlalchemy_url


class PgFanout:
    """Relays a bus's events to the other hub nodes on the database at `url`, and theirs to it."""

    def __init__(self, url: str, bus: LiveBus, node: str | None = None, channel: str = CHANNEL) -> None:
        self.url = libpq_url(url)
        self.bus = bus
        self.node = node or secrets.token_hex(6)
        self.channel = channel
        self.sent = 0  # events sent to the other nodes
        self.received = 0  # events received from them
        self.dropped = 0  # events dropped because the queue was full
        self.listening = asyncio.Event()  # set while the LISTEN connection is up
        self._queue: deque[Event] = deque()
        self._ready = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def offer(self, events: list[Event]) -> None:
        """Queue events for the other nodes; from any thread, never blocks (the bus's `relay`)."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed during shutdown
            loop.call_soon_threadsafe(self._enqueue, events)

    def _enqueue(self, events: list[Event]) -> None:
        for event in events:
            if len(self._queue) >= QUEUE_EVENTS:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(event)
        self._ready.set()

    async def run(self) -> None:
        """Relay until cancelled, reconnecting after database failures."""
        self._loop = asyncio.get_running_loop()
        failures = 0
        while True:
            try:
                await self._session()
            except Exception as exc:  # the database went away, or worse: relaying must not end for good
                self.listening.clear()
                pause = RETRY_S[min(failures, len(RETRY_S) - 1)]
                failures += 1
                log.warning("live fan-out connection lost; retrying", extra={"error": str(exc), "in_s": pause})
                await asyncio.sleep(pause)

    async def _session(self) -> None:
        async with (
            await live_channel.connect(self.url) as listener,
            await live_channel.connect(self.url) as sender,
        ):
            await live_channel.listen(listener, self.channel)
            self.listening.set()
            async with asyncio.TaskGroup() as group:
                group.create_task(self._receive(listener))
                group.create_task(self._send(sender))

    async def _receive(self, conn: psycopg.AsyncConnection[Any]) -> None:
        async for note in conn.notifies():
            try:
                node, events = unpack(note.payload)
            except ValueError:
                log.warning("ignored a malformed live-event payload", extra={"bytes": len(note.payload)})
                continue
            if node == self.node or not events:
                continue  # our own NOTIFY, echoed to our LISTEN
            self.received += len(events)
            self.bus.receive(events)

    async def _send(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if self._queue:  # what waited while the connection was down
            self._ready.set()
        while True:
            await self._ready.wait()
            self._ready.clear()
            events = list(self._queue)
            self._queue.clear()
            for payload in pack(self.node, events):
                await live_channel.notify(conn, self.channel, payload)
            self.sent += len(events)
