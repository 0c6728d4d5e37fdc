"""What ingest takes in and gives out: messages as received, feedback to publish, shed messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.domain.events import MAX_PAYLOAD, ProtocolError, device_of, load_json, parse_topic, readable_seq


@dataclass(frozen=True)
class Message:
    """An MQTT message as received; `mid` is its packet id while the broker waits for our PUBACK (QoS 1 over
    MQTT), None when there is nothing to acknowledge.

    `key` and `data`: the event's (device, seq) and its parsed payload, when whoever received it has read them
    already (`read_event`), so nothing parses a message twice; None when not read yet or not readable."""

    topic: str
    payload: bytes
    received: datetime
    mid: int | None = None
    key: tuple[str, int] | None = field(default=None, compare=False)
    data: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def read(cls, topic: str, payload: bytes, received: datetime, mid: int | None = None) -> Message:
        """A message with its event's key and parsed payload, when it is an event that can be read."""
        found = read_event(topic, payload)
        if found is None:
            return cls(topic, payload, received, mid)
        return cls(topic, payload, received, mid, found[0], found[1])


def read_event(topic: str, payload: bytes) -> tuple[tuple[str, int], dict[str, Any]] | None:
    """(device, seq) and the parsed payload of an event message within the size limit; None for anything else."""
    if not topic.endswith("/event") or len(payload) > MAX_PAYLOAD:
        return None
    try:
        device_id = parse_topic(topic).device_id
        data = load_json(payload)
    except ProtocolError:
        return None
    if not isinstance(data, dict):
        return None
    seq = readable_seq(data)
    return None if seq is None else ((device_id, seq), data)


@dataclass(frozen=True)
class Reply:
    """Feedback to publish after the batch is committed."""

    topic: str
    payload: str


@dataclass(frozen=True)
class Shed:
    """Messages of one device dropped before a batch: they were over its share of ingest (see the applier)."""

    device_key: str
    count: int
    first: Message


def event_keys(messages: Sequence[Message], parsed: dict[int, dict[str, Any]] | None = None) -> dict[str, set[int]]:
    """The devices a batch's messages name, each with the seqs of its events that can be read (to look up
    devices and stored feedback with one query each, instead of one per message).

    `parsed` gets each readable event's parsed payload, by the message's `id`, for `decode_event` to take
    instead of parsing it again."""
    wanted: dict[str, set[int]] = {}
    for message in messages:
        found = (message.key, message.data) if message.key is not None and message.data is not None else None
        found = found or read_event(message.topic, message.payload)
        if found is not None:
            (device_id, seq), data = found
            wanted.setdefault(device_id, set()).add(seq)
            if parsed is not None:
                parsed[id(message)] = data
            continue
        try:
            wanted.setdefault(parse_topic(message.topic).device_id, set())  # its device, even without a key
        except ProtocolError:
            continue
    return wanted


def within_share(messages: Sequence[Message], per_device: int) -> tuple[list[Message], list[Shed]]:
    """The messages of a batch taken in arrival order up to `per_device` per device, and the rest of each device's
    as one Shed record: for ingest that receives ready-made batches (JetStream) what the applier's per-device
    turns do for MQTT, so one flooding device fills no more than its share of a batch."""
    counts: dict[str, int] = {}
    kept: list[Message] = []
    shed: dict[str, Shed] = {}
    for message in messages:
        key = device_of(message.topic)
        n = counts[key] = counts.get(key, 0) + 1
        if n <= per_device:
            kept.append(message)
            continue
        before = shed.get(key)
        shed[key] = Shed(key, before.count + 1, before.first) if before else Shed(key, 1, message)
    return kept, list(shed.values())
