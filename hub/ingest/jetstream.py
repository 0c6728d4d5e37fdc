"""Ingest from a NATS JetStream cluster: every hub process is a member of one durable pull consumer.

The consumer reads the NATS server's own MQTT message stream (`$MQTT_msgs`), where a node stores each QoS 1
publish of a device before it PUBACKs it, replicated across the cluster: an event a device saw acknowledged is
in the stream, whichever node dies (docs/scale-out.md, "Ingest stream and loss window"). The stream keeps a
message while a consumer whose filter matches it has not acked it (interest retention), so events wait there
while no hub runs.

A fetched batch goes through the same Processor as MQTT ingest, in a thread of its own, while the next batch is
fetched. A message is acked only after its batch committed and its feedback was PUBACKed by a node: a hub process
that dies before that leaves its messages to be redelivered to another one after `ack_wait`, which finds each
event's (device, seq) key and sends the stored feedback again, so no event has two effects. A batch the database
refused is nak'ed with a delay. A poison message is dead-lettered by the processor and acked like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from urllib.parse import urlsplit

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from hub import metrics
from hub.ingest.applier import PER_DEVICE_BATCH, ShedLog
from hub.ingest.feedback import FeedbackLink, targets_from
from hub.ingest.messages import Message, Reply, within_share
from hub.ingest.processor import Processor
from hub.settings import Settings

log = logging.getLogger(__name__)
# The stream a NATS node's MQTT listener stores QoS 1 publishes in, under `$MQTT.msgs.<subject>`, and the one it
# keeps retained messages in, under `$MQTT.rmsgs.<subject>` (one per subject).
STREAM = "$MQTT_msgs"
SUBJECT_PREFIX = "$MQTT.msgs."
FILTERS = [SUBJECT_PREFIX + "restock.v1.*.event", SUBJECT_PREFIX + "restock.v1.*.status"]
RETAINED_STREAM = "$MQTT_rmsgs"
RETAINED_STATUS = "$MQTT.rmsgs.restock.v1.*.status"
RETAINED_TOPIC_HEADER = "Nmqtt-RTopic"
# Fetched batches not yet settled (applied, answered, acked) per process: one applied while the next is fetched.
BATCHES_IN_FLIGHT = 2
FETCH_WAIT_S = 1.0  # a fetch returns after this long with what it has (or nothing)
BOOTSTRAP_TRIES = 20  # "no responders" answers a new consumer may give before the statuses are read
BOOTSTRAP_WAIT_S = 0.5
NAK_DELAY_S = 2.0  # a batch the database refused comes back after this long
# Messages handed out and not acked, across all hub processes: bounds redelivery after a crash.
MAX_ACK_PENDING = 4096
RETRY_S = 0.5  # pause after a failed fetch (the stream's leader moving, a node going away)
STREAM_WAIT_S = 60.0  # how long to wait for the MQTT streams a node creates on its first MQTT connection


def topic_of(subject: str) -> str:
    """The MQTT topic of a subject NATS stored an MQTT publish under ('/' became '.', and '.' became '//')."""
    rest = subject.removeprefix(SUBJECT_PREFIX).removeprefix("$MQTT.rmsgs.")
    return rest.replace("//", "\0").replace(".", "/").replace("\0", ".")


def redact(url: str) -> str:
    """A NATS URL without its user and password, for logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}"


class JetStreamIngest:
    """Fetch → apply → feedback → ack, until cancelled; reconnects across the cluster's nodes by itself."""

    def __init__(
        self,
        servers: Sequence[str],
        feedback: FeedbackLink,
        processor: Processor,
        *,
        consumer: str = "restock-ingest",
        fetch_batch: int = 256,
        ack_wait_s: float = 10.0,
        client_id: str = "restock-hub",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not servers:
            raise ValueError("RESTOCK_BROKER=nats needs RESTOCK_NATS_URL (nats://hub:password@host:port, ...)")
        self.servers = list(servers)
        self.feedback = feedback
        self.processor = processor
        self.consumer = consumer
        self.fetch_batch = fetch_batch
        self.ack_wait_s = ack_wait_s
        self.client_id = client_id
        self.clock = clock
        self.connected = asyncio.Event()  # consuming, and a node takes feedback
        self.processed = 0
        self.redelivered = 0
        self.shed = ShedLog()  # messages over a device's share of a batch, counted and logged
        # One thread applies batches in order (the processor is not thread-safe; one process, one writer).
        self._apply = ThreadPoolExecutor(1, thread_name_prefix="ingest-apply")

    async def publish(self, topic: str, payload: str, qos: int = 1, retain: bool = False) -> bool:
        """Publish through the feedback connection; False when no node is connected."""
        return await self.feedback.publish(topic, payload, qos, retain)

    async def run(self) -> None:
        """Connect, consume, and reconnect forever (until the task is cancelled)."""
        feedback = asyncio.create_task(self.feedback.run(), name="ingest-feedback")
        try:
            while True:
                try:
                    nc = await nats.connect(
                        self.servers,
                        name=self.client_id,
                        allow_reconnect=True,
                        max_reconnect_attempts=-1,
                        reconnect_time_wait=0.5,
                        connect_timeout=3,
                        error_cb=self._on_error,
                        disconnected_cb=self._on_disconnected,
                        reconnected_cb=self._on_reconnected,
                    )
                except (nats.errors.Error, OSError, TimeoutError) as exc:
                    log.warning("no NATS node answers; retrying", extra={"error": type(exc).__name__})
                    await asyncio.sleep(RETRY_S * 4)
                    continue
                try:
                    await self._consume(nc)
                except (nats.errors.Error, nats.js.errors.Error, OSError, TimeoutError) as exc:
                    # Anything the cluster throws ends this connection only: a new one joins the consumer again.
                    log.warning("JetStream ingest interrupted; reconnecting", extra={"error": repr(exc)[:200]})
                    await asyncio.sleep(RETRY_S)
                finally:
                    self.connected.clear()
                    with contextlib.suppress(Exception):
                        await nc.close()
        finally:
            feedback.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feedback
            # A batch being applied finishes (its messages are redelivered unacked); nothing queued is started.
            await asyncio.shield(asyncio.to_thread(self._apply.shutdown, True, cancel_futures=True))

    async def _on_error(self, exc: Exception) -> None:
        log.info("NATS connection error", extra={"error": type(exc).__name__})

    async def _on_disconnected(self) -> None:
        log.warning("NATS node lost; reconnecting to another")

    async def _on_reconnected(self) -> None:
        log.info("NATS reconnected")

    async def ensure_consumer(self, js: JetStreamContext) -> bool:
        """Create the durable consumer, or bring its settings up to date; True when it did not exist."""
        deadline = time.monotonic() + STREAM_WAIT_S
        while True:
            try:
                await js.stream_info(STREAM)
                break
            except nats.js.errors.NotFoundError:
                # A node creates its MQTT streams on its first MQTT connection: the feedback link's, at the latest.
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(RETRY_S)
        try:
            await js.consumer_info(STREAM, self.consumer)
            created = False
        except nats.js.errors.NotFoundError:
            created = True
        config = ConsumerConfig(
            durable_name=self.consumer,
            filter_subjects=FILTERS,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.ack_wait_s,
            max_ack_pending=MAX_ACK_PENDING,
            max_deliver=-1,  # never dropped: a message that cannot be applied is dead-lettered and acked instead
        )
        await js.add_consumer(STREAM, config)
        return created

    async def _consume(self, nc: NatsClient) -> None:
        js = nc.jetstream(timeout=5)
        await self.feedback.connected.wait()  # its connection makes the node create the MQTT streams
        if await self.ensure_consumer(js):
            await self.bootstrap_status(js)
        sub = await js.pull_subscribe_bind(self.consumer, STREAM)
        log.info(
            "ingest joined the JetStream consumer",
            extra={"consumer": self.consumer, "nodes": [redact(u) for u in self.servers]},
        )
        room = asyncio.Semaphore(BATCHES_IN_FLIGHT)
        settling: set[asyncio.Task[None]] = set()
        try:
            while True:
                if not self.feedback.connected.is_set():
                    self.connected.clear()
                    await self.feedback.connected.wait()  # no batch is taken that could not be answered
                self.connected.set()
                await room.acquire()
                try:
                    batch = await sub.fetch(self.fetch_batch, timeout=FETCH_WAIT_S)
                except (nats.errors.TimeoutError, TimeoutError):  # nothing to fetch: nats-py raises either
                    room.release()
                    continue
                except (nats.errors.Error, nats.js.errors.Error) as exc:
                    room.release()
                    if isinstance(exc, nats.errors.ConnectionClosedError):
                        raise
                    log.info("fetch failed; retrying", extra={"error": type(exc).__name__})
                    await asyncio.sleep(RETRY_S)
                    continue
                task = asyncio.create_task(self._settle(batch, room))
                settling.add(task)
                task.add_done_callback(settling.discard)
        finally:
            for task in list(settling):
                task.cancel()

    async def _settle(self, batch: list[Msg], room: asyncio.Semaphore) -> None:
        try:
            now = self.clock()
            # A device's messages over its share of the batch are dead-lettered (rate_limited) and acked
            # unanswered: the device replays them later, and a flood from one device never holds up the others.
            messages, shed = within_share([Message.read(topic_of(m.subject), m.data, now) for m in batch],
                                          PER_DEVICE_BATCH)
            if shed:
                self.shed.count({s.device_key: s.count for s in shed}, "device_queue_full")
            redelivered = sum(1 for m in batch if m.metadata.num_delivered and m.metadata.num_delivered > 1)
            if redelivered:
                self.redelivered += redelivered
                log.info("redelivered messages", extra={"count": redelivered})
            loop = asyncio.get_running_loop()
            try:
                replies = await loop.run_in_executor(self._apply, self.processor.handle_batch, messages, shed)
            except Exception:
                # The database failed; nothing was committed. The batch comes back after the delay, to this
                # process or another.
                log.exception("batch failed; it is redelivered", extra={"messages": len(batch)})
                await _settle_all(batch, ack=False)
                return
            answered = await self.feedback.publish_all(replies)
            self._count(replies, answered, messages)
            # Unanswered, the batch is redelivered: its events are found stored and their feedback sent again.
            await _settle_all(batch, ack=answered)
            self.processed += len(batch)
        finally:
            room.release()

    def _count(self, replies: list[Reply], answered: bool, messages: list[Message]) -> None:
        m = metrics.current()
        if replies:
            m.feedback.labels("published" if answered else "failed").inc(len(replies))
        if messages:
            m.feedback_seconds.observe(max(0.0, (self.clock() - messages[0].received).total_seconds()))

    async def bootstrap_status(self, js: JetStreamContext) -> None:
        """A new consumer sees statuses published from now on: the last one of each device before it is read
        from the retained messages once, so the database knows which devices were online."""
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT, ack_policy=AckPolicy.NONE, inactive_threshold=30.0
        )
        try:
            sub = await js.pull_subscribe(RETAINED_STATUS, stream=RETAINED_STREAM, config=config)
        except nats.js.errors.NotFoundError:
            return  # no retained message yet
        messages: list[Message] = []
        unavailable = 0
        try:
            while True:
                try:
                    batch = await sub.fetch(self.fetch_batch, timeout=FETCH_WAIT_S)
                except (nats.errors.TimeoutError, TimeoutError):
                    break
                except nats.js.errors.ServiceUnavailableError:
                    # A consumer just created may have no leader yet (busy cluster, an election): it answers
                    # "no responders" for a moment. This read runs once per consumer, so it waits rather than
                    # skipping the statuses.
                    unavailable += 1
                    if unavailable > BOOTSTRAP_TRIES:
                        raise
                    await asyncio.sleep(BOOTSTRAP_WAIT_S)
                    continue
                for m in batch:
                    topic = (m.headers or {}).get(RETAINED_TOPIC_HEADER) or topic_of(m.subject)
                    messages.append(Message.read(topic, m.data, m.metadata.timestamp or self.clock()))
                if batch[-1].metadata.num_pending == 0:
                    break
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        if messages:
            loop = asyncio.get_running_loop()
            for start in range(0, len(messages), self.fetch_batch):
                await loop.run_in_executor(
                    self._apply, self.processor.handle_batch, messages[start : start + self.fetch_batch]
                )
            log.info("statuses read from retained messages", extra={"devices": len(messages)})


async def _settle_all(batch: list[Msg], *, ack: bool) -> None:
    """Ack (or nak with a delay) every message; one that cannot be settled now is redelivered later anyway."""
    for m in batch:
        try:
            if ack:
                await m.ack()
            else:
                await m.nak(delay=NAK_DELAY_S)
        except (nats.errors.Error, nats.js.errors.Error) as exc:
            log.info("settling a message failed; it is redelivered", extra={"error": type(exc).__name__})
            return


def from_settings(
    settings: Settings, processor: Processor, client_id: str, clock: Callable[[], datetime] | None = None
) -> JetStreamIngest:
    """The JetStream ingest of `RESTOCK_BROKER=nats`: the nodes in RESTOCK_NATS_URL, feedback through
    RESTOCK_MQTT_URL (one node's MQTT listener, or several comma-separated)."""
    if not settings.mqtt.url:
        raise ValueError(
            "RESTOCK_BROKER=nats needs RESTOCK_MQTT_URL: a node's MQTT listener for feedback "
            "(mqtt://hub:password@host:port, several comma-separated)"
        )
    nats_settings = settings.nats
    return JetStreamIngest(
        nats_settings.servers(),
        FeedbackLink(targets_from(settings.mqtt.url), client_id),
        processor,
        consumer=nats_settings.consumer,
        fetch_batch=nats_settings.fetch_batch,
        ack_wait_s=nats_settings.ack_wait_s,
        client_id=client_id,
        clock=clock or (lambda: datetime.now(UTC)),
    )
