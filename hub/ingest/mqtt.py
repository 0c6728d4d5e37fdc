"""The MQTT side of ingest: subscribe, batch, apply, then publish feedback; reconnect with backoff."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

import aiomqtt
import paho.mqtt.client as mqtt

from hub import metrics
from hub.ingest.applier import Applier
from hub.ingest.messages import Message, Reply
from hub.ingest.processor import Processor

log = logging.getLogger(__name__)
EVENT_FILTER = "restock/v1/+/event"
STATUS_FILTER = "restock/v1/+/status"
SHARE_GROUP = "$share/restock/"
# Feedback publishes waiting for their PUBACK; past this the consumer waits, so memory stays bounded.
MAX_INFLIGHT_FEEDBACK = 2000
# Small packets (an event's PUBACK, a feedback) must leave at once: with Nagle's algorithm a packet waits
# for the ACK of the previous one, which the peer's delayed ACK holds back for up to 40 ms.
NO_DELAY = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
# An ingest process's two busy threads, the event loop (MQTT socket, API) and the thread applying batches, share
# one interpreter lock. At Python's default 5 ms switch interval they force it from each other hundreds of
# times a second under load; at 20 ms ingest completes about 10 % more events (bench/ingest, 1,000 devices)
# and the p99 at 500 events/s stays low, because the apply thread gives the lock up at every SQLite call.
# Set in the hub process and in each ingest worker.
GIL_SWITCH_S = 0.02

# Events are acknowledged (PUBACK) on arrival while the hub holds fewer than this many not yet applied, and fewer
# bytes of them than READ_AHEAD_BYTES; past either, only once applied, so the broker keeps the rest. A backlog
# held in mosquitto is costly to it: with 40,000 events queued for the hub, mosquitto 2.0 spent 92 % of its CPU
# finding each acknowledged message in its queue (perf, `db__message_delete_outgoing`), fed the hub at half its
# pace, and under twice the hub's capacity 44 % of events were replayed (16 % with the backlog held here).
READ_AHEAD = 50_000
READ_AHEAD_BYTES = 64 * 1024 * 1024
BACKOFF_START = 0.5
BACKOFF_MAX = 30.0


class _DropPendingPublishNotice(logging.Filter):
    """aiomqtt warns for every publish beyond ten in flight; for the hub that is normal under load."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pending publish calls" not in record.getMessage()


_client_log = logging.getLogger("hub.ingest.mqtt.client")
_client_log.addFilter(_DropPendingPublishNotice())


async def publish_on(client: aiomqtt.Client | None, topic: str, payload: str, qos: int, retain: bool) -> bool:
    """Publish through a live connection; False when there is none or it failed (the caller retries later)."""
    if client is None:
        return False
    try:
        await client.publish(topic, payload, qos=qos, retain=retain)
    except aiomqtt.MqttError:
        return False
    return True


@dataclass(frozen=True)
class BrokerTarget:
    """Where and as whom the hub connects."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> BrokerTarget:
        """Parse mqtt://user:password@host:port."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "tcp"):
            raise ValueError(f"unsupported MQTT URL scheme {parts.scheme!r}: use mqtt://user:password@host:port")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 1883,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


class Ingest:
    """Runs the subscribe → apply → feedback loop until cancelled."""

    def __init__(
        self,
        target: BrokerTarget,
        processor: Processor,
        *,
        shared: bool = False,
        client_id: str = "restock-hub",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        read_ahead: tuple[int, int] = (READ_AHEAD, READ_AHEAD_BYTES),
    ) -> None:
        self.target = target
        self.read_ahead, self.read_ahead_bytes = read_ahead
        self.processor = processor
        self.shared = shared
        self.client_id = client_id
        self.clock = clock
        self.connected = asyncio.Event()
        self.processed = 0
        self.received = 0  # messages taken from the broker
        self._client: aiomqtt.Client | None = None
        self._inflight: deque[mqtt.MQTTMessageInfo] = deque()
        self.held = 0  # events taken from the broker and not yet done with (applied or dropped)
        self.held_bytes = 0
        self.unacked = 0  # of those, the ones whose acknowledgement waits until they are done with

    def _client_for(self) -> aiomqtt.Client:
        # A shared-subscription worker must use a clean session (DESIGN §6); a single hub keeps its
        # session so the broker queues events for it while it restarts.
        client = aiomqtt.Client(
            self.target.host,
            self.target.port,
            username=self.target.username,
            password=self.target.password,
            identifier=self.client_id,
            clean_session=self.shared,
            keepalive=30,
            timeout=10,
            # unlimited: paho scans every message in flight on each PUBACK when there is a limit, and the
            # consumer already bounds what is in flight itself (MAX_INFLIGHT_FEEDBACK)
            max_inflight_messages=0,
            logger=_client_log,
            socket_options=[NO_DELAY],
        )
        # Events are acknowledged (PUBACK) once applied, not on arrival: the broker then sends at most its
        # in-flight limit of unacknowledged messages (mosquitto's `max_inflight_messages`), and under overload
        # the rest wait in the broker's queue instead of in this process, which reads no faster than it
        # applies. aiomqtt has no such option; its paho client (`_client`, see `_publish`) has.
        client._client.manual_ack_set(True)
        return client

    async def run(self) -> None:
        """Connect, consume and reconnect forever (until the task is cancelled)."""
        backoff = BACKOFF_START
        while True:
            started = time.monotonic()
            try:
                async with self._client_for() as client:
                    self._client = client
                    prefix = SHARE_GROUP if self.shared else ""
                    await client.subscribe([(prefix + EVENT_FILTER, 1), (prefix + STATUS_FILTER, 1)])
                    self.connected.set()
                    log.info("ingest connected", extra={"host": self.target.host, "port": self.target.port})
                    await self._consume(client)
            except aiomqtt.MqttError as exc:
                self.connected.clear()
                self._client = None
                if time.monotonic() - started > 10:
                    backoff = BACKOFF_START
                log.warning("broker unavailable, retrying", extra={"error": str(exc), "retry_in_s": backoff})
                await asyncio.sleep(backoff)
                backoff = min(BACKOFF_MAX, backoff * 2)
            finally:
                self.connected.clear()
                self._client = None

    async def _consume(self, client: aiomqtt.Client) -> None:
        self._inflight = deque()  # what was in flight on an earlier connection is never acknowledged now
        self.held = self.held_bytes = self.unacked = 0
        loop = asyncio.get_running_loop()
        ready: asyncio.Queue[tuple[list[Reply], int, datetime | None]] = asyncio.Queue()
        processor = self.processor

        def deliver(replies: list[Reply], size: int) -> None:
            # Called by the apply thread right after the batch, so `oldest` is still that batch's.
            loop.call_soon_threadsafe(ready.put_nowait, (replies, size, processor.oldest))

        paho = client._client

        def acknowledge(mids: list[int], count: int, size: int) -> None:
            self.held -= count
            self.held_bytes -= size
            self.unacked -= len(mids)
            for mid in mids:
                paho.ack(mid, 1)

        def release(messages: Sequence[Message]) -> None:
            mids = [m.mid for m in messages if m.mid is not None]
            loop.call_soon_threadsafe(acknowledge, mids, len(messages), sum(len(m.payload) for m in messages))

        applier = Applier(processor, deliver, done=release)
        applier.start()
        tasks = [
            asyncio.create_task(self._feed(client, applier)),
            asyncio.create_task(self._publish_ready(client, ready, applier)),
        ]
        try:
            ended, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in ended:
                task.result()  # the error that ended this connection
        finally:
            for task in tasks:
                task.cancel()
            # Whatever ends this connection, a batch still being applied finishes before another connection
            # applies more. Its feedback is not sent, and nor is anything queued behind it applied: the devices
            # replay those events and get the stored feedback.
            applier.stop()
            await asyncio.shield(asyncio.to_thread(applier.join))

    async def _feed(self, client: aiomqtt.Client, applier: Applier) -> None:
        clock = self.clock
        replay = self.processor.replay
        inflight = self._inflight
        paho = client._client
        async for m in client.messages:
            self.received += 1
            payload = m.payload if isinstance(m.payload, bytes) else str(m.payload).encode()
            mid = m.mid if m.qos == 1 else None
            # Read ahead (see READ_AHEAD): acknowledged now, so the message carries nothing to acknowledge later.
            # Should the hub die before applying it, the device replays it.
            ahead = mid is not None and self.held < self.read_ahead and self.held_bytes < self.read_ahead_bytes
            message = Message.read(m.topic.value, payload, clock(), None if ahead else mid)
            # A replay of an event committed lately is answered here, without a batch. While the broker is slow
            # to take feedback it goes the full way instead, whose publishing waits, so memory stays bounded.
            reply = replay(message) if len(inflight) < MAX_INFLIGHT_FEEDBACK else None
            if reply is None:
                if ahead and mid is not None:
                    paho.ack(mid, 1)
                elif mid is not None:
                    self.unacked += 1
                self.held += 1
                self.held_bytes += len(payload)
                applier.put(message)
                continue
            self.processed += 1
            if mid is not None:
                paho.ack(mid, 1)
            failed = self._hand_over(client, (reply,))
            metrics.current().feedback.labels("failed" if failed else "published").inc()

    async def _publish_ready(
        self, client: aiomqtt.Client, ready: asyncio.Queue[tuple[list[Reply], int, datetime | None]], applier: Applier
    ) -> None:
        # Feedback goes out while the next batch is applied: publishing is the event loop's work and applying
        # the apply thread's, so neither waits for the other.
        while True:
            replies, size, oldest = await ready.get()
            self.processed += size
            try:
                failed = await self._publish(client, replies)
            finally:
                applier.published()
            m = metrics.current()
            if oldest is not None:
                m.feedback_seconds.observe(max(0.0, (self.clock() - oldest).total_seconds()))
            if len(replies) > failed:
                m.feedback.labels("published").inc(len(replies) - failed)
            if failed:
                m.feedback.labels("failed").inc(failed)

    async def _publish(self, client: aiomqtt.Client, replies: Sequence[Reply]) -> int:
        # Feedback goes out without waiting for its PUBACK, so the next batch is applied meanwhile;
        # a lost feedback is harmless: the device replays and gets the stored one again. It is handed to
        # paho directly (aiomqtt's publish is the same call plus a task, a timeout and a scan of every pending
        # call per message, which under load cost more than applying the event); paho retransmits unacked
        # QoS 1 messages itself.
        # Returns how many were not handed over.
        paho = client._client
        inflight = self._inflight
        failed = self._hand_over(client, replies)
        # Past the bound, wait for PUBACKs, so memory stays bounded when the broker is slow to take feedback.
        while inflight and inflight[0].is_published():
            inflight.popleft()
        while len(inflight) > MAX_INFLIGHT_FEEDBACK:
            while inflight and inflight[0].is_published():
                inflight.popleft()
            if len(inflight) > MAX_INFLIGHT_FEEDBACK:
                if not paho.is_connected():
                    raise aiomqtt.MqttError("disconnected while feedback was in flight")
                await asyncio.sleep(0.005)
        return failed

    def _hand_over(self, client: aiomqtt.Client, replies: Sequence[Reply]) -> int:
        """Hand feedback to paho (see `_publish`); how many were not handed over."""
        paho = client._client
        inflight = self._inflight
        failed = 0
        for reply in replies:
            info = paho.publish(reply.topic, reply.payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                log.info("feedback not delivered; the device will replay",
                         extra={"topic": reply.topic, "error": mqtt.error_string(info.rc)})
                failed += 1
                continue
            inflight.append(info)
        while inflight and inflight[0].is_published():
            inflight.popleft()
        return failed

    async def publish(self, topic: str, payload: str, qos: int = 1, retain: bool = False) -> bool:
        """Publish through the live connection; False when disconnected (the caller retries later)."""
        return await publish_on(self._client, topic, payload, qos, retain)
