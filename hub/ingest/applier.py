"""The apply stage of ingest: a thread of its own that applies batches back to back.

Messages arrive on the event loop and are handed over one by one; the thread takes whatever has arrived (up to
`MAX_BATCH`) the moment it finishes a batch, so it never waits for the event loop to hand it the next one.
Handing each batch to a pool thread from the loop instead left the apply stage idle for 10 to 35 % of the
time under load (measured at 1,000 devices): between two batches the loop first had to be scheduled, collect
the next batch and start a thread, all competing with the network work for the one interpreter lock.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from hub.ingest.processor import Message, Processor, Reply

log = logging.getLogger(__name__)
# One transaction for up to this many messages: group commit is what lets SQLite keep up with a burst.
MAX_BATCH = 512
# Applied batches whose feedback the event loop has not published yet; past this the thread waits, so a
# broker that is slow to take feedback slows ingest down instead of growing memory.
MAX_UNPUBLISHED = 2
# After a failed batch (database away) the thread pauses, so a dead database is not hammered.
FAILURE_PAUSE_S = 1.0


class Applier:
    """Applies handed-over messages in batches in its own thread and hands back each batch's feedback."""

    def __init__(self, processor: Processor, deliver: Callable[[list[Reply], int], object]) -> None:
        # `deliver(replies, size)` is called from the thread once a batch is committed; it must be thread-safe
        # (the caller wraps `loop.call_soon_threadsafe`).
        self.processor = processor
        self.deliver = deliver
        self._pending: deque[Message] = deque()
        self._wake = threading.Condition()
        self._stopping = False
        self._room = threading.Semaphore(MAX_UNPUBLISHED)
        self._thread = threading.Thread(target=self._run, name="ingest-apply", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def put(self, message: Message) -> None:
        """Queue a message for the next batch."""
        with self._wake:
            self._pending.append(message)
            if len(self._pending) == 1:
                self._wake.notify()

    def published(self) -> None:
        """The event loop has published a delivered batch's feedback: room for one more."""
        self._room.release()

    def stop(self) -> None:
        """Apply no further batch; the one being applied finishes (see `join`). Queued messages are dropped:
        their devices have no feedback for them, so they replay them."""
        with self._wake:
            self._stopping = True
            self._pending.clear()
            self._wake.notify()
        self._room.release()  # a thread waiting for room must see the stop

    def join(self, timeout: float | None = None) -> None:
        """Wait until the batch being applied, if any, is finished."""
        self._thread.join(timeout)

    def _take(self) -> list[Message] | None:
        with self._wake:
            while not self._pending and not self._stopping:
                self._wake.wait()
            if self._stopping:
                return None
            take = min(len(self._pending), MAX_BATCH)
            return [self._pending.popleft() for _ in range(take)]

    def _run(self) -> None:
        while not self._stopping:
            self._room.acquire()
            batch = self._take()
            if batch is None:
                return
            try:
                replies = self.processor.handle_batch(batch)
            except Exception:
                # Nothing was committed, so no feedback goes out and every device keeps its events in its
                # outbox and replays them: nothing is lost.
                log.exception("batch failed; devices will replay", extra={"messages": len(batch)})
                self._room.release()
                with self._wake:
                    self._wake.wait_for(lambda: self._stopping, FAILURE_PAUSE_S)
                continue
            self.deliver(replies, len(batch))

