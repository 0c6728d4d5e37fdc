"""What ingest writes besides an event's effect: a device's reported status, and dead letters."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlmodel import Session

from hub.domain.events import SEQ_SCAN_LIMIT, ProtocolError, decode_status
from hub.ingest.messages import Message, Shed
from hub.store.models import DeadLetter, Device
from hub.store.types import storable_bytes, storable_text

log = logging.getLogger(__name__)
# Key of `session.info` under which the ingest processor collects the reason of each dead letter (metrics).
DEAD_LETTERS = "restock.dead_letters"


def record_status(session: Session, device: Device, message: Message) -> None:
    """Apply a device's status message (online, battery, RSSI, firmware, outbox); a bad one is dead-lettered."""
    try:
        status = decode_status(message.payload)
    except ProtocolError as exc:
        dead_letter(session, message, device.id, None, exc.reason, exc.detail)
        return
    device.online = status.online
    device.last_seen = message.received
    if status.online:
        device.battery_mv = status.battery_mv if status.battery_mv is not None else device.battery_mv
        device.rssi = status.rssi if status.rssi is not None else device.rssi
        device.firmware = status.fw or device.firmware
        device.outbox = status.outbox if status.outbox is not None else device.outbox
        if status.dropped:
            log.warning("device outbox dropped events", extra={"device": device.id, "dropped": status.dropped})
    session.add(device)


def dead_letter(
    session: Session,
    message: Message,
    device_id: str | None,
    seq: int | None,
    reason: str,
    detail: str,
    logged: bool = True,
) -> None:
    """Keep a refused message with its reason. Every text is made storable first (the message's own bytes
    may be what a column refused), so writing the dead letter cannot fail on the data it keeps."""
    if logged:
        log.warning(
            "dead letter",
            extra={"topic": message.topic[:120], "device": device_id, "seq": seq, "reason": reason, "detail": detail},
        )
    if (reasons := session.info.get(DEAD_LETTERS)) is not None:
        reasons.append(reason[:40])
    session.add(
        DeadLetter(
            topic=storable_text(message.topic[:200])[:200],
            device_id=storable_text(device_id[:64])[:64] if device_id else None,
            seq=seq,
            reason=storable_text(reason[:40])[:40],
            detail=storable_text(detail[:200])[:200],
            payload=storable_bytes(message.payload[:SEQ_SCAN_LIMIT]),
            received_at=message.received,
        )
    )


def dead_letter_shed(session: Session, shed: Sequence[Shed]) -> None:
    """One dead letter per device whose messages over its share of ingest were dropped before the batch (not
    logged one by one: under overload that is a line per device and batch; the applier sums them up)."""
    for dropped in shed:
        detail = f"{dropped.count} messages over the device's share of ingest were dropped; events are replayed"
        dead_letter(session, dropped.first, dropped.device_key, None, "rate_limited", detail, logged=False)
