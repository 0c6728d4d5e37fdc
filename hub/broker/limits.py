"""What one MQTT connection may send, on both brokers: packet size, packet and byte rates, read deadlines."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from hub.domain.events import MAX_PAYLOAD

# A payload over MAX_PAYLOAD is still delivered up to this size, so the hub can read its seq, dead-letter it
# as `oversize` and answer `rejected`: the device then drops it from its outbox instead of replaying it
# forever. The ingest processor scans oversize payloads for a seq up to the same figure (SEQ_SCAN_LIMIT).
MAX_MESSAGE_BYTES = 16 * MAX_PAYLOAD
# Fixed header (at most 5 bytes), topic length (2), topic, packet id (2): device topics are under 60 bytes,
# the hub's Home Assistant config topics under 120.
PACKET_OVERHEAD = 512
MAX_PACKET_BYTES = MAX_MESSAGE_BYTES + PACKET_OVERHEAD


@dataclass(frozen=True)
class ConnectionLimits:
    """Per-connection limits of the embedded broker; a connection that breaks one is closed."""

    max_packet: int = MAX_PACKET_BYTES
    # Packets a device starts: a status, a subscribe and its 32-event outbox replayed after an outage is its
    # busiest moment; a person presses or scans a few times a second at most.
    packet_burst: int = 1000
    packets_per_s: float = 100.0
    # Acknowledgements (PUBACK, PUBREC, PUBREL, PUBCOMP) answer what the broker delivered, counted apart: a
    # signed update is up to 256 KiB in 512-byte chunks, one PUBACK each, on top of a feedback per event.
    ack_burst: int = 2000
    acks_per_s: float = 200.0
    # Bytes a device sends: its events are small; the burst takes a replayed outbox and a few oversize ones.
    byte_burst: int = 64 * 1024
    bytes_per_s: float = 16 * 1024
    # The rest of a started packet must arrive within this long (a half-sent packet is not held open).
    packet_deadline: float = 10.0
    # MQTT 3.1.1 §3.1.2.10: the server closes a connection silent for one and a half keep-alive periods.
    keepalive_factor: float = 1.5
    # A device cut off for flooding or oversize packets may not log in again for this long.
    cooldown: float = 30.0


DEVICE_LIMITS = ConnectionLimits()


class TokenBucket:
    """Allows `burst` units at once and `rate` units a second after that."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()

    def take(self, n: float = 1.0) -> bool:
        """Spend n units if there are enough; False (and nothing spent) if not."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if n > self._tokens:
            return False
        self._tokens -= n
        return True
