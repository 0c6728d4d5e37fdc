"""The embedded broker's reader: amqtt gets only whole packets that passed the connection's limits.

amqtt reads straight from the socket with no size or rate limit: it buffers whatever length a PUBLISH header
declares (up to 256 MB), waits for it forever, and starts a task per packet, so one logged-in device's
flood of PINGREQs froze the hub's event loop for a minute. The guard frames MQTT packets itself, checks
each one's size the moment its header is read, counts packets and bytes against token buckets, and puts a
deadline on the rest of a started packet and on silence. On a breach it logs who did it and aborts the
connection; amqtt then reads end-of-stream, as if the peer had gone, and sends the client's will.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from amqtt.adapters import ReaderAdapter  # type: ignore[import-untyped]

from hub.broker.limits import ConnectionLimits, TokenBucket

log = logging.getLogger(__name__)

# Bytes taken from the socket at a time; the guard holds at most one packet plus this much.
CHUNK = 16 * 1024
# MQTT's remaining length has at most 4 bytes (MQTT 3.1.1 §2.2.3).
_MAX_LENGTH_BYTES = 4
# PUBACK, PUBREC, PUBREL, PUBCOMP (packet types 4-7): answers to deliveries, with a budget of their own.
_ACKS = range(4, 8)

Breach = Callable[[str | None, str], None]


class PacketGuard(ReaderAdapter):  # type: ignore[misc]
    """ReaderAdapter over an asyncio stream that hands out whole, checked MQTT packets."""

    def __init__(
        self,
        stream: asyncio.StreamReader,
        transport: asyncio.WriteTransport,
        peer: str,
        limits: ConnectionLimits,
        on_breach: Breach | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._transport = transport
        self._peer = peer
        self._limits = limits
        self._on_breach = on_breach
        self._clock = clock
        self._raw = bytearray()  # received, not yet a whole packet
        self._ready = bytearray()  # whole packets that passed the checks, for amqtt to read
        self._eof = False
        self._counted = False  # the unfinished packet at the front of _raw was counted and size-checked
        self._started = clock()  # when the unfinished packet's first byte arrived
        self._last_packet = clock()
        self._idle_limit: float | None = None
        # Until the CONNECT is authenticated, the connection is held to a device's rates.
        self._packets: TokenBucket | None = TokenBucket(limits.packets_per_s, limits.packet_burst, clock)
        self._acks: TokenBucket | None = TokenBucket(limits.acks_per_s, limits.ack_burst, clock)
        self._bytes: TokenBucket | None = TokenBucket(limits.bytes_per_s, limits.byte_burst, clock)
        self.device: str | None = None
        self._name: str | None = None

    @property
    def closed(self) -> bool:
        """True once the stream ended or the guard cut the connection."""
        return self._eof

    def admit(self, name: str, *, device: bool, keep_alive: int) -> None:
        """After a successful login: name the client in logs, keep rate limits for devices, enforce keep-alive."""
        self.device = name if device else None
        self._name = name
        if not device:  # the hub's own account: its bursts are the whole household's feedback
            self._packets = self._acks = self._bytes = None
        self._idle_limit = keep_alive * self._limits.keepalive_factor if keep_alive > 0 else None

    async def read(self, n: int = -1) -> bytes:
        """Up to n bytes of checked packets (n = -1: what is ready); short only when the stream ended."""
        want = n if n >= 0 else 1
        while len(self._ready) < want and not self._eof:
            if not self._take_packet():
                await self._fill()
        if n < 0:
            n = len(self._ready)
        data = bytes(self._ready[:n])
        del self._ready[:n]
        return data

    def feed_eof(self) -> None:
        """Acknowledge EOF (amqtt's adapter interface)."""
        self._stream.feed_eof()

    def _who(self) -> str:
        if self._name is None:
            return f"unauthenticated client from {self._peer}"
        return f"{'device' if self.device else 'client'} {self._name!r} from {self._peer}"

    def _take_packet(self) -> bool:
        """Move the whole packet at the front of _raw to _ready after its checks; False if it is not all here."""
        size = self._packet_size()
        if size is None:
            return False
        if not self._counted:
            self._counted = True
            breach = self._over_limit(self._raw[0] >> 4, size)
            if breach is not None:
                self._breach(breach, penalise=True)
                return False
        if len(self._raw) < size:
            return False
        self._ready += self._raw[:size]
        del self._raw[:size]
        self._counted = False
        self._last_packet = self._started = self._clock()
        return True

    def _packet_size(self) -> int | None:
        """Size of the packet at the front of _raw once its fixed header is here (MQTT 3.1.1 §2.2.3)."""
        raw, length = self._raw, 0
        for i in range(1, min(len(raw), 1 + _MAX_LENGTH_BYTES)):
            length |= (raw[i] & 0x7F) << (7 * (i - 1))
            if not raw[i] & 0x80:
                return i + 1 + length
            if i == _MAX_LENGTH_BYTES:
                self._breach("a malformed packet length", penalise=True)
                return None
        return None  # the length bytes are not all here yet

    def _over_limit(self, packet_type: int, size: int) -> str | None:
        """What a packet of this type and size breaks, spending its tokens if it breaks nothing."""
        limits = self._limits
        if size > limits.max_packet:
            return f"a {size}-byte packet (limit {limits.max_packet})"
        if packet_type in _ACKS:
            bucket, burst, rate, kind = self._acks, limits.ack_burst, limits.acks_per_s, "acks"
        else:
            bucket, burst, rate, kind = self._packets, limits.packet_burst, limits.packets_per_s, "packets"
        if bucket is not None and not bucket.take(1):
            return f"more than {burst} {kind} at once or {rate:g} a second"
        if self._bytes is not None and not self._bytes.take(size):
            return f"more than {limits.byte_burst} bytes at once or {limits.bytes_per_s:g} a second"
        return None

    async def _fill(self) -> None:
        """Read more from the socket, within the deadline of a started packet or of keep-alive silence."""
        now = self._clock()
        if self._raw:
            timeout: float | None = self._started + self._limits.packet_deadline - now
            what = f"a packet left unfinished for {self._limits.packet_deadline:g} s"
        elif self._idle_limit is not None:
            timeout = self._last_packet + self._idle_limit - now
            what = f"silence for {self._idle_limit:g} s (1.5 keep-alive periods)"
        else:
            timeout, what = None, ""
        if timeout is not None and timeout <= 0:
            self._breach(what, penalise=False)
            return
        try:
            # StreamReader.read keeps its data when cancelled (by amqtt's own keep-alive wait_for, say), and
            # everything already taken lives in this object: a cancelled read loses nothing.
            chunk = await asyncio.wait_for(self._stream.read(CHUNK), timeout)
        except TimeoutError:
            self._breach(what, penalise=False)
            return
        except (ConnectionError, OSError):
            chunk = b""
        if not chunk:
            self._eof = True
            return
        if not self._raw:
            self._started = self._clock()
        self._raw += chunk

    def _breach(self, what: str, *, penalise: bool) -> None:
        level = logging.WARNING if penalise else logging.INFO
        log.log(level, "MQTT connection of %s closed: %s", self._who(), what,
                extra={"device": self.device, "peer": self._peer})
        self._eof = True
        self._raw.clear()
        # abort(), not close(): drop what the peer has queued for us and what we had queued for it, at once.
        self._transport.abort()
        if penalise and self._on_breach is not None:
            self._on_breach(self.device, what)
