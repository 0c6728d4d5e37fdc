"""Feedback this process has committed lately, so a replay of one of those events is answered from memory.

A device replays an event until its feedback arrives; under load most of what it replays was applied already
and only the feedback was late or lost. Answering such a replay from here costs a topic split and a JSON
parse on the event loop, instead of a place in a batch, a transaction and its queries.

It can never answer differently from the database: an event's key `(device, seq)` is unique and its stored
feedback is never changed or deleted, and an entry is added only once the batch that stored (or read) it has
committed. What is not here (after a restart, a key another ingest process or node applied, an entry pushed
out by newer ones) goes the full way and is answered from the database.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from hub.domain.events import cmd_topic
from hub.ingest.messages import Message, Reply, read_event

# Keys kept: a few minutes of a busy hub's events, a few tens of MB at most (a feedback is ~200 bytes).
MAX_ANSWERED = 50_000


class Answered:
    """A bounded map of committed (device, seq) -> (event type, feedback); the oldest entries go first."""

    def __init__(self, size: int = MAX_ANSWERED) -> None:
        self.size = size
        self._entries: dict[tuple[str, int], tuple[str, str]] = {}
        # The apply thread adds while the event loop looks up (and another ingest kind may add from elsewhere).
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def remember(self, answers: Iterable[tuple[str, int, str, str]]) -> None:
        """Keep (device, seq, type, feedback) of committed events."""
        with self._lock:
            entries = self._entries
            for device_id, seq, kind, feedback in answers:
                entries[(device_id, seq)] = (kind, feedback)
            while len(entries) > self.size:
                del entries[next(iter(entries))]

    def replay(self, message: Message) -> tuple[str, Reply] | None:
        """(event type, the stored feedback) when `message` is an event whose key is here, else None."""
        if message.key is not None:
            key = message.key
        else:
            found_key = read_event(message.topic, message.payload)
            if found_key is None:
                return None
            key = found_key[0]
        with self._lock:
            found = self._entries.get(key)
        if found is None:
            return None
        kind, feedback = found
        return kind, Reply(cmd_topic(key[0]), feedback)
