"""What ingest takes in and gives out: messages as received, feedback to publish, shed messages, order changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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
class Shed:
    """Messages of one device dropped before a batch: they were over its share of ingest (see the applier)."""

    device_key: str
    count: int
    first: Message


@dataclass(frozen=True)
class OrderChange:
    """An order created or changed by an event, for notifications."""

    order_id: str
    household_id: int
    status: str
