"""The apply stage of ingest: a thread of its own that applies batches back to back.

Messages arrive on the event loop and are handed over one by one; the thread takes whatever has arrived (up to
`MAX_BATCH`) the moment it finishes a batch, so it never waits for the event loop to hand it the next one.
Handing each batch to a pool thread from the loop instead left the apply stage idle for 10 to 35 % of the
time under load (measured at 1,000 devices): between two batches the loop first had to be scheduled, collect
the next batch and start a thread, all competing with the network work for the one interpreter lock.

Fairness: messages wait in one queue per device (the id in the topic), and a batch takes the devices in turn,
at most `PER_DEVICE_BATCH` messages of each. A device that floods therefore fills no more than its share of a
batch, and another device's event waits for one batch at most, however long the flood. A device's queue holds
at most `PER_DEVICE_QUEUE` messages (a replayed outbox is 32): what arrives beyond that is dropped, counted, and
recorded with the next batch as one `rate_limited` dead letter per device, never in silence. A dropped event
has had no feedback, so the device keeps it and replays it later.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hub import metrics
from hub.domain.events import device_of
from hub.ingest.messages import Message, Reply, Shed
from hub.ingest.processor import Processor

log = logging.getLogger(__name__)
# One transaction for up to this many messages: group commit is what lets SQLite keep up with a burst.
MAX_BATCH = 512
# One device's share of a batch, and how many of its messages may wait (see the module's docstring).
PER_DEVICE_BATCH = 64
PER_DEVICE_QUEUE = 256
# Applied batches whose feedback the event loop has not published yet; past this the thread waits, so a
# broker that is slow to take feedback slows ingest down instead of growing memory.
MAX_UNPUBLISHED = 2
# After a failed batch (database away) the thread pauses, so a dead database is not hammered.
FAILURE_PAUSE_S = 1.0
# An idle apply thread that is handed a message waits this long for more before it applies them: at a few
# hundred events/s most batches would otherwise hold one event, and a batch's fixed cost (its transaction, the
# commit, the lookups, the change feed's hand-over) is several times an event's own. Under load the thread
# finds messages queued when it finishes a batch and never waits. It adds at most this much to a feedback.
LINGER_S = 0.003
# ...unless this many messages are queued by then.
LINGER_ENOUGH = 16
# The event types a metric's label may take from a payload that is not decoded yet (anything else is "invalid").
EVENT_TYPES = frozenset({"press", "scan", "level"})
# Dropped messages are counted at once (metric) and summed up in the log at most this often.
SHED_LOG_S = 10.0


class ShedLog:
    """Counts messages dropped unanswered (their devices replay them) and logs them once per interval."""

    def __init__(self, interval_s: float = SHED_LOG_S) -> None:
        self.interval_s = interval_s
        self.total = 0  # since this object was made
        self._pending = 0  # not logged yet
        self._devices: set[str] = set()
        self._logged_at = -float("inf")

    def count(self, dropped: dict[str, int], why: str) -> None:
        """Record `dropped` (device -> messages); log the sum once the interval has passed since the last log."""
        n = sum(dropped.values())
        if not n:
            return
        metrics.current().shed.labels(why).inc(n)
        self.total += n
        self._pending += n
        self._devices.update(dropped)
        now = time.monotonic()
        if now - self._logged_at >= self.interval_s:
            log.warning("ingest dropped messages unanswered; their devices replay them", extra={
                "messages": self._pending, "devices": len(self._devices), "reason": why,
                "since_s": None if self._logged_at == -float("inf") else round(now - self._logged_at, 1)})
            self._logged_at = now
            self._pending = 0
            self._devices = set()


@dataclass
class _Dropped:
    """A device's messages dropped since the last batch: the first one (kept as a sample) and how many."""

    first: Message
    count: int = 0


class Applier:
    """Applies handed-over messages in batches in its own thread and hands back each batch's feedback."""

    def __init__(
        self,
        processor: Processor,
        deliver: Callable[[list[Reply], int], object],
        linger_s: float = LINGER_S,
        done: Callable[[Sequence[Message]], object] | None = None,
    ) -> None:
        # `deliver(replies, size)` is called from the thread once a batch is committed; `done(messages)` once
        # the applier is finished with messages, whatever became of them: applied (before `deliver`), failed
        # with the database, or dropped over their device's share (at once, from `put`'s caller). Both must be
        # thread-safe (the caller wraps `loop.call_soon_threadsafe`).
        self.processor = processor
        self.deliver = deliver
        self.done = done
        self.linger_s = linger_s
        self._queues: dict[str, deque[Message]] = {}  # by device, each in arrival order
        self._turns: deque[str] = deque()  # devices with queued messages, next turn first
        self._queued = 0
        self._dropped: dict[str, _Dropped] = {}  # by device, since the last batch was taken
        self._waiting: set[tuple[str, int]] = set()  # the (device, seq) of the queued events
        self.duplicates = 0  # replays of queued events, dropped (figures and tests)
        self.shed = ShedLog()
        self._wake = threading.Condition()
        self._stopping = False
        self._room = threading.Semaphore(MAX_UNPUBLISHED)
        self._thread = threading.Thread(target=self._run, name="ingest-apply", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def put(self, message: Message) -> None:
        """Queue a message for a coming batch; or drop it when its device has too many waiting, or when it is a
        replay of an event still waiting here (the one queued will be answered, and its feedback ends both: a
        second copy would cost a place in a batch and one more publish, when the hub is already behind)."""
        key = device_of(message.topic)
        with self._wake:
            queued = duplicate = False
            if message.key is not None and message.key in self._waiting:
                self.duplicates += 1
                duplicate = True
            else:
                queue = self._queues.get(key)
                if queue is None:
                    queue = self._queues[key] = deque()
                    self._turns.append(key)
                if len(queue) >= PER_DEVICE_QUEUE:
                    dropped = self._dropped.setdefault(key, _Dropped(message))
                    dropped.count += 1
                else:
                    queue.append(message)
                    queued = True
                    if message.key is not None:
                        self._waiting.add(message.key)
                    self._queued += 1
                    if self._queued == 1:
                        self._wake.notify()
        if duplicate:
            kind = message.data.get("type") if message.data is not None else None
            metrics.current().events.labels(kind if kind in EVENT_TYPES else "invalid", "replay").inc()
        if not queued and self.done is not None:
            # Over its device's share: recorded with the next batch as its rate_limited dead letter. A replay of
            # a waiting event: nothing more to do with it.
            self.done((message,))

    def published(self) -> None:
        """The event loop has published a delivered batch's feedback: room for one more."""
        self._room.release()

    def stop(self) -> None:
        """Apply no further batch; the one being applied finishes (see `join`). Queued messages are dropped:
        their devices have no feedback for them, so they replay them."""
        with self._wake:
            self._stopping = True
            dropped = {key: len(queue) for key, queue in self._queues.items()}
            for key, extra in self._dropped.items():
                dropped[key] = dropped.get(key, 0) + extra.count
            self._queues.clear()
            self._turns.clear()
            self._waiting.clear()
            self._queued = 0
            self._dropped.clear()
            self._wake.notify()
        self._room.release()  # a thread waiting for room must see the stop
        self.shed.count(dropped, "stopped")

    def join(self, timeout: float | None = None) -> None:
        """Wait until the batch being applied, if any, is finished."""
        self._thread.join(timeout)

    def _take(self) -> tuple[list[Message], list[Shed]] | None:
        with self._wake:
            if not self._queued and not self._stopping:
                while not self._queued and not self._stopping:
                    self._wake.wait()
                # Idle until now: let a few more arrive (`put` wakes this thread only for the first one).
                if self.linger_s > 0 and self._queued < LINGER_ENOUGH and not self._stopping:
                    self._wake.wait(self.linger_s)
            if self._stopping:
                return None
            batch: list[Message] = []
            # Each device in turn gives up to its share; one that still has messages waits behind the others
            # for its next turn, and a device the full batch left out is first in the next one.
            for _ in range(len(self._turns)):
                room = MAX_BATCH - len(batch)
                if room <= 0:
                    break
                key = self._turns.popleft()
                queue = self._queues[key]
                if len(queue) <= min(PER_DEVICE_BATCH, room):
                    batch.extend(queue)  # the common case: a device with a few messages gives them all
                    del self._queues[key]
                    continue
                for _ in range(min(PER_DEVICE_BATCH, room)):
                    batch.append(queue.popleft())
                self._turns.append(key)
            self._queued -= len(batch)
            waiting = self._waiting
            for message in batch:
                if message.key is not None:
                    waiting.discard(message.key)
            shed = [Shed(key, dropped.count, dropped.first) for key, dropped in self._dropped.items()]
            self._dropped = {}
        if shed:
            self.shed.count({s.device_key: s.count for s in shed}, "device_queue_full")
        return batch, shed

    def _run(self) -> None:
        while not self._stopping:
            self._room.acquire()
            taken = self._take()
            if taken is None:
                return
            batch, shed = taken
            try:
                try:
                    replies = self.processor.handle_batch(batch, shed)
                finally:
                    if self.done is not None:
                        self.done(batch)
            except Exception:
                # The database failed (a message that fails alone is dead-lettered by the processor). Nothing was
                # committed, so no feedback goes out and every device keeps its events in its outbox and replays
                # them: nothing is lost.
                log.exception("batch failed; devices will replay", extra={
                    "messages": len(batch), "dropped": {s.device_key: s.count for s in shed}})
                self._room.release()
                with self._wake:
                    self._wake.wait_for(lambda: self._stopping, FAILURE_PAUSE_S)
                continue
            self.deliver(replies, len(batch))
            after = self.processor.after_batch
            if after is not None:
                try:
                    after()
                except Exception:
                    log.exception("work after a batch failed")

