"""Fleet emulator: thousands of protocol-level devices in one asyncio process, for load tests.

Each device has its own TCP connection and credentials and speaks MQTT 3.1.1 through the firmware's codec.
Like the firmware it keeps every event until the hub's feedback for its seq arrives, and replays it.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hub.domain.events import MAX_SEQ
from simulator.codec import CONNACK, DISCONNECT, PUBACK, PUBLISH, codec

REPLAY_AFTER_S = 10.0
# CONNACK return codes of MQTT 3.1.1 (section 3.2.2.3) in words.
CONNACK_REASONS = {
    1: "unacceptable protocol version",
    2: "client id rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorised",
}
NOTHING_LISTENS = "nothing listens there"
NO_ANSWER = "no answer within the timeout"
CLOSED = "the broker closed the connection"
CONNECT_FAILURES = (NOTHING_LISTENS, NO_ANSWER, CLOSED)
_CREATE = " — create them with `restock device add` or pass --credentials (a CSV of device_id,secret)"
HINTS = {
    CONNACK_REASONS[4]: _CREATE,
    CONNACK_REASONS[5]: _CREATE,
    NOTHING_LISTENS: " — start the hub (`restock hub`) or pass --host/--port",
    CLOSED: " — a broker that wants logins may close anonymous ones: pass --credentials",
}


class Refused(ConnectionError):
    """The broker did not take a device's connection; `reason` says why in words."""

    def __init__(self, device_id: str, reason: str) -> None:
        super().__init__(f"{device_id}: {reason}")
        self.reason = reason


def refusal_reason(exc: BaseException) -> str:
    """Words for why a connection failed."""
    if isinstance(exc, Refused):
        return exc.reason
    if isinstance(exc, ConnectionRefusedError):
        return NOTHING_LISTENS
    if isinstance(exc, TimeoutError):
        return NO_ANSWER
    if isinstance(exc, (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError)):
        return CLOSED
    return str(exc) or type(exc).__name__
FIRST_SEQ_ROOM = 2**24  # seqs a device may use in one run above a random first one
READ_SIZE = 65536


@dataclass
class FleetStats:
    """What a run achieved."""

    connected: int = 0
    connect_failures: int = 0
    sent: int = 0
    replays: int = 0
    feedback: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    first_sent_at: float = 0.0
    last_feedback_at: float = 0.0
    codes: dict[str, int] = field(default_factory=dict)
    refusals: dict[str, int] = field(default_factory=dict)  # why connections failed → how many

    def refused_text(self, host: str, port: int) -> str:
        """Why devices could not connect and what to do, one line per reason; '' when all connected."""
        lines = []
        for reason, count in sorted(self.refusals.items(), key=lambda item: -item[1]):
            devices = f"{count} device{'s' if count != 1 else ''}"
            hint = HINTS.get(reason, "")
            if reason in CONNECT_FAILURES:
                lines.append(f"{devices} could not connect to {host}:{port}: {reason}{hint}")
            else:
                lines.append(f"{devices} refused by the broker: {reason}{hint}")
        return "\n".join(lines)

    @property
    def completed_per_s(self) -> float:
        """Events whose feedback arrived, per second from the first send to the last feedback."""
        span = self.last_feedback_at - self.first_sent_at
        return self.feedback / span if span > 0 else 0.0

    def percentile(self, p: float) -> float:
        """Latency percentile (0..100) in milliseconds; NaN with no samples."""
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
        return ordered[k]


def next_packet(buffer: bytearray, pos: int) -> tuple[int, bytes, int] | None:
    """The MQTT packet starting at `pos`: (first byte, body, where the next one starts); None if incomplete."""
    length, multiplier, at = 0, 1, pos + 1
    for _ in range(4):  # the remaining length takes at most 4 bytes
        if at >= len(buffer):
            return None
        byte = buffer[at]
        at += 1
        length += (byte & 0x7F) * multiplier
        if not byte & 0x80:
            break
        multiplier *= 128
    else:
        raise ConnectionError("malformed remaining length from the broker")
    end = at + length
    if end > len(buffer):
        return None
    return buffer[pos], bytes(buffer[at:end]), end


class FleetDevice:
    """One emulated device connection."""

    def __init__(self, device_id: str, secret: str | None, stats: FleetStats, first_seq: int = 1) -> None:
        self.device_id = device_id
        self.secret = secret
        self.stats = stats
        self.seq = first_seq - 1
        self.pid = 0
        self.pending: dict[int, tuple[bytes, float, float]] = {}  # seq → (payload, first sent, last sent)
        self.done = asyncio.Event()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self.topic_event = f"restock/v1/{device_id}/event"

    async def connect(self, host: str, port: int, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Open the connection, CONNECT with credentials and last will, SUBSCRIBE to cmd."""
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        writer.write(
            codec.connect(
                self.device_id,
                keepalive=120,
                clean=False,
                user=self.device_id if self.secret else None,
                password=self.secret,
                will_topic=f"restock/v1/{self.device_id}/status",
                will_msg=b'{"online": false}',
                will_qos=1,
                will_retain=True,
            )
        )
        self.pid = 1
        writer.write(codec.subscribe(self.pid, f"restock/v1/{self.device_id}/cmd", 1))
        await writer.drain()
        self._reader = reader
        first, body = await asyncio.wait_for(self._read_packet(), timeout)
        if first & 0xF0 != CONNACK:
            writer.close()
            raise Refused(self.device_id, "the broker answered CONNECT with something else than CONNACK")
        code = codec.parse_connack(body)[1]
        if code != 0:
            writer.close()
            raise Refused(self.device_id, CONNACK_REASONS.get(code, f"CONNACK return code {code}"))
        self._writer = writer
        self._task = asyncio.create_task(self._read_loop())

    @property
    def closed(self) -> bool:
        """The connection was opened and has ended (the broker went away): connect again to go on."""
        return self._task is not None and self._task.done()

    async def _read_packet(self) -> tuple[int, bytes]:
        assert self._reader is not None
        head = await self._reader.readexactly(1)
        length, multiplier = 0, 1
        while True:
            byte = (await self._reader.readexactly(1))[0]
            length += (byte & 0x7F) * multiplier
            if not byte & 0x80:
                break
            multiplier *= 128
        body = await self._reader.readexactly(length) if length else b""
        return head[0], body

    async def _read_loop(self) -> None:
        # Whatever has arrived is read at once and cut into packets: a read per byte of header, as a device
        # does it, made the load generator cost as much CPU as the consumer it measures.
        assert self._writer is not None and self._reader is not None
        buffer = bytearray()
        try:
            while chunk := await self._reader.read(READ_SIZE):
                buffer += chunk
                pos = 0
                while (packet := next_packet(buffer, pos)) is not None:
                    first, body, pos = packet
                    if first & 0xF0 == PUBLISH:
                        _topic, payload, qos, pid, _retain, _dup = codec.parse_publish(first, body)
                        if qos == 1:
                            self._writer.write(codec.ack(PUBACK, pid))
                        self._on_cmd(payload)
                del buffer[:pos]
        except (ConnectionError, OSError):
            return

    def _on_cmd(self, payload: bytes) -> None:
        try:
            msg = json.loads(payload)
        except ValueError:
            return
        if not isinstance(msg, dict) or msg.get("type") != "feedback":
            return
        entry = self.pending.pop(msg.get("seq"), None)  # type: ignore[arg-type]
        if entry is None:
            return  # feedback for a replay that was already answered
        self.stats.feedback += 1
        self.stats.last_feedback_at = time.perf_counter()
        self.stats.latencies_ms.append((time.perf_counter() - entry[1]) * 1000)
        code = str(msg.get("code"))
        self.stats.codes[code] = self.stats.codes.get(code, 0) + 1
        if not self.pending:
            self.done.set()

    def send(self, event: dict[str, object]) -> None:
        """Publish the next event (QoS 1) and keep it until its feedback arrives."""
        assert self._writer is not None
        self.seq += 1
        payload = json.dumps({"seq": self.seq, **event}, separators=(",", ":")).encode()
        now = time.perf_counter()
        self.pending[self.seq] = (payload, now, now)
        self.done.clear()
        self._publish(payload)
        self.stats.sent += 1

    def _publish(self, payload: bytes) -> None:
        assert self._writer is not None
        self.pid = self.pid % 65535 + 1
        self._writer.write(codec.publish(self.topic_event, payload, qos=1, pid=self.pid))

    def replay(self, seq: int) -> None:
        """Publish a kept event again at once, as the firmware does after a reconnect."""
        entry = self.pending.get(seq)
        if entry is not None and self._writer is not None:
            self._publish(entry[0])
            self.stats.replays += 1

    def replay_late(self, now: float, after: float) -> None:
        """Republish events whose feedback is overdue (the firmware's outbox behaviour)."""
        if not self.pending:
            return
        for seq, (payload, first, last) in list(self.pending.items()):
            if now - last > after:
                self.pending[seq] = (payload, first, now)
                self._publish(payload)
                self.stats.replays += 1

    async def close(self) -> None:
        """DISCONNECT cleanly."""
        if self._writer is not None:
            try:
                self._writer.write(DISCONNECT)
                await self._writer.drain()
            except (ConnectionError, OSError):
                pass
            self._writer.close()
        if self._task is not None:
            self._task.cancel()


async def run_fleet(
    host: str,
    port: int,
    credentials: Sequence[tuple[str, str | None]],
    rate: float,
    duration: float,
    event: Callable[[random.Random], dict[str, object]] | None = None,
    settle: float = 30.0,
    replay_after: float = REPLAY_AFTER_S,
    progress: Callable[[FleetStats, float], None] | None = None,
    seed: int = 1,
    first_seq: int | None = None,
) -> FleetStats:
    """Connect every device, offer `rate` events/s spread over random devices for `duration` s, then wait.

    A device's seqs start at `first_seq`; by default at a random point, so a second run with the same
    device ids sends new events and not replays of the first run's (which the hub answers from its
    store, far faster). A real device persists its counter; an emulated fleet does not.
    """
    stats = FleetStats()
    rng = random.Random(seed)
    make_event = event or (lambda _r: {"type": "press", "click": "single"})
    if first_seq is None:
        first_seq = random.SystemRandom().randrange(1, MAX_SEQ - FIRST_SEQ_ROOM)
    fleet = [FleetDevice(device_id, secret, stats, first_seq) for device_id, secret in credentials]
    for batch_start in range(0, len(fleet), 100):
        batch = fleet[batch_start : batch_start + 100]
        results = await asyncio.gather(*(d.connect(host, port) for d in batch), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                stats.connect_failures += 1
                reason = refusal_reason(result)
                stats.refusals[reason] = stats.refusals.get(reason, 0) + 1
            else:
                stats.connected += 1
    live = [d for d in fleet if d._writer is not None]
    if not live:
        return stats
    started = time.perf_counter()
    stats.first_sent_at = started
    total = int(rate * duration)
    for n in range(total):
        due = started + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        rng.choice(live).send(make_event(rng))
        if n % 200 == 0:
            now = time.perf_counter()
            for device in live:
                device.replay_late(now, replay_after)
            if progress is not None:
                progress(stats, (now - started) / duration)
    deadline = time.perf_counter() + settle
    while stats.feedback < stats.sent and time.perf_counter() < deadline:
        await asyncio.sleep(0.1)
        now = time.perf_counter()
        for device in live:
            device.replay_late(now, replay_after)
    if progress is not None:
        progress(stats, 1.0)
    await asyncio.gather(*(d.close() for d in live))
    return stats
