"""Fleet emulator: thousands of protocol-level devices in one asyncio process, for load tests.

Each device has its own TCP connection and credentials and speaks MQTT 3.1.1 through the firmware's codec.
Like the firmware it keeps every event until the hub's feedback for its seq arrives, and replays it by the
rule of docs/protocol.md §7.4 (backoff with jitter; after a reconnect, the outbox spread over a window).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field

from hub.domain.events import MAX_SEQ
from simulator.codec import CONNACK, DISCONNECT, PUBACK, PUBLISH, codec

# docs/protocol.md §7.4, the same numbers as firmware/lib/link.py.
REPLAY_AFTER_S = 10.0  # the first wait; each unanswered publish doubles it
REPLAY_CAP_S = 160.0  # where the doubling stops (waits are in [d, 2d): at most 320 s)
RECONNECT_SPREAD_S = 10.0  # after a reconnect the outbox goes out at random moments of this window
RECONNECT_BASE_S = 1.0  # reconnect attempts wait in [d, 2d), d doubling from here...
RECONNECT_CAP_S = 30.0  # ...up to here
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
    disconnects: int = 0  # connections the broker dropped during the run
    reconnects: int = 0
    sent: int = 0
    replays: int = 0
    feedback: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    first_sent_at: float = 0.0
    last_feedback_at: float = 0.0
    codes: dict[str, int] = field(default_factory=dict)
    replays_per_s: dict[int, int] = field(default_factory=dict)  # whole second of the run → replays in it
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


def backoff_s(n: int, first: float, cap: float, rng: random.Random) -> float:
    """The wait after the n-th try (0 = the first): uniform in [d, 2d), d = min(first * 2^n, cap)."""
    d = min(first * (1 << min(n, 30)), cap)
    return d + rng.random() * d


def replay_wait_s(n: int, rng: random.Random) -> float:
    """How long an event waits for its feedback after its n-th publish before it goes out again."""
    return backoff_s(n, REPLAY_AFTER_S, REPLAY_CAP_S, rng)


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


class Pending:
    """An event kept until its feedback: when it is next due and how often it went out unanswered."""

    __slots__ = ("due", "first", "payload", "tries")

    def __init__(self, payload: bytes, first: float, due: float) -> None:
        self.payload = payload
        self.first = first
        self.due = due
        self.tries = 0


class FleetDevice:
    """One emulated device connection, reconnecting (with jittered backoff) when the broker drops it."""

    def __init__(
        self,
        device_id: str,
        secret: str | None,
        stats: FleetStats,
        first_seq: int = 1,
        waiting: set[FleetDevice] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.device_id = device_id
        self.secret = secret
        self.stats = stats
        self.seq = first_seq - 1
        self.pid = 0
        self.pending: dict[int, Pending] = {}
        self.done = asyncio.Event()
        self.waiting = waiting if waiting is not None else set()  # the fleet's devices with something pending
        self.rng = rng or random.Random()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._address = ("", 0)
        # Other brokers of a cluster to move to when the connection drops, tried in turn; empty: the same one.
        self.addresses: list[tuple[str, int]] = []
        self.topic_event = f"restock/v1/{device_id}/event"
        # Called after each answered event (a closed-loop load sends the device's next one from here).
        self.on_answer: Callable[[FleetDevice], None] | None = None

    @property
    def online(self) -> bool:
        """Whether the device has a connection it can publish on."""
        return self._writer is not None and not self._writer.is_closing()

    async def connect(self, host: str, port: int, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Open the connection, CONNECT with credentials and last will, SUBSCRIBE to cmd."""
        self._address = (host, port)
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
        try:
            first, body = await asyncio.wait_for(self._read_packet(), timeout)
        except BaseException:
            writer.close()
            raise
        if first & 0xF0 != CONNACK:
            writer.close()
            raise Refused(self.device_id, "the broker answered CONNECT with something else than CONNACK")
        code = codec.parse_connack(body)[1]
        if code != 0:
            writer.close()
            raise Refused(self.device_id, CONNACK_REASONS.get(code, f"CONNACK return code {code}"))
        self._writer = writer
        self._task = asyncio.create_task(self._read_loop())

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
            pass
        if not self._closing:
            self._writer.close()
            self._writer = None
            self.stats.disconnects += 1
            await self._reconnect()

    async def _reconnect(self) -> None:
        """Connect again after jittered, growing waits; then spread the outbox over RECONNECT_SPREAD_S."""
        tries = 0
        while not self._closing:
            await asyncio.sleep(backoff_s(tries, RECONNECT_BASE_S, RECONNECT_CAP_S, self.rng))
            tries += 1
            if self.addresses:
                here = self.addresses.index(self._address) if self._address in self.addresses else -1
                self._address = self.addresses[(here + 1) % len(self.addresses)]
            try:
                await self.connect(*self._address)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, Refused):
                continue
            self.stats.reconnects += 1
            now = time.perf_counter()
            for entry in self.pending.values():
                entry.due = now + self.rng.random() * RECONNECT_SPREAD_S
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
        now = time.perf_counter()
        self.stats.feedback += 1
        self.stats.last_feedback_at = now
        self.stats.latencies_ms.append((now - entry.first) * 1000)
        code = str(msg.get("code"))
        self.stats.codes[code] = self.stats.codes.get(code, 0) + 1
        if not self.pending:
            self.waiting.discard(self)
            self.done.set()
        if self.on_answer is not None:
            self.on_answer(self)

    def send(self, event: dict[str, object]) -> None:
        """Publish the next event (QoS 1) and keep it until its feedback arrives; offline, only keep it."""
        self.seq += 1
        payload = json.dumps({"seq": self.seq, **event}, separators=(",", ":")).encode()
        now = time.perf_counter()
        entry = Pending(payload, now, now)
        self.pending[self.seq] = entry
        self.waiting.add(self)
        self.done.clear()
        self.stats.sent += 1
        if self.online:
            self._publish(entry, now)

    def _publish(self, entry: Pending, now: float) -> None:
        assert self._writer is not None
        self.pid = self.pid % 65535 + 1
        self._writer.write(codec.publish(self.topic_event, entry.payload, qos=1, pid=self.pid))
        entry.due = now + replay_wait_s(entry.tries, self.rng)
        entry.tries += 1

    def replay(self, seq: int) -> None:
        """Publish a kept event again at once, as the firmware does after a reconnect."""
        entry = self.pending.get(seq)
        if entry is not None and self.online:
            self._publish(entry, time.perf_counter())
            self.stats.replays += 1

    def replay_due(self, now: float, started: float = 0.0) -> None:
        """Republish the events whose wait for feedback is over (the firmware's outbox behaviour)."""
        if not self.online:
            return
        for entry in list(self.pending.values()):
            if entry.due <= now:
                if entry.tries:
                    self.stats.replays += 1
                    second = int(now - started)
                    self.stats.replays_per_s[second] = self.stats.replays_per_s.get(second, 0) + 1
                self._publish(entry, now)

    async def close(self) -> None:
        """DISCONNECT cleanly and stop reconnecting."""
        self._closing = True
        if self._writer is not None:
            try:
                self._writer.write(DISCONNECT)
                await self._writer.drain()
            except (ConnectionError, OSError):
                pass
            self._writer.close()
        if self._task is not None:
            self._task.cancel()


def single_press(_rng: random.Random) -> dict[str, object]:
    """The event a fleet sends unless told otherwise."""
    return {"type": "press", "click": "single"}


class Fleet:
    """Devices that connect, are offered load, and are drained: the steps of `run_fleet`, for a bench to
    put something between (a broker restart)."""

    def __init__(
        self,
        host: str,
        port: int,
        credentials: Sequence[tuple[str, str | None]],
        seed: int = 1,
        first_seq: int | None = None,
        more_ports: Sequence[int] = (),
    ) -> None:
        self.host, self.port = host, port
        self.stats = FleetStats()
        self.rng = random.Random(seed)
        if first_seq is None:
            first_seq = random.SystemRandom().randrange(1, MAX_SEQ - FIRST_SEQ_ROOM)
        self.waiting: set[FleetDevice] = set()
        self.devices = [
            FleetDevice(device_id, secret, self.stats, first_seq, self.waiting, random.Random(f"{seed}-{device_id}"))
            for device_id, secret in credentials
        ]
        # With the MQTT ports of a cluster's other nodes, device i starts on port i mod n and, when its node
        # dies, moves on to the next one.
        ports = [port, *more_ports]
        if len(ports) > 1:
            for i, device in enumerate(self.devices):
                device.addresses = [(host, ports[(i + k) % len(ports)]) for k in range(len(ports))]
        self.live: list[FleetDevice] = []
        self.started = 0.0

    async def connect(self, batch: int = 100) -> None:
        """Connect every device, `batch` at a time; count and explain the ones refused."""
        stats = self.stats
        for batch_start in range(0, len(self.devices), batch):
            group = self.devices[batch_start : batch_start + batch]
            results = await asyncio.gather(
                *(d.connect(*(d.addresses[0] if d.addresses else (self.host, self.port))) for d in group),
                return_exceptions=True,
            )
            for result in results:
                if isinstance(result, BaseException):
                    stats.connect_failures += 1
                    reason = refusal_reason(result)
                    stats.refusals[reason] = stats.refusals.get(reason, 0) + 1
                else:
                    stats.connected += 1
        self.live = [d for d in self.devices if d._writer is not None]

    def replay_due(self) -> None:
        """Let every device with something pending republish what is due."""
        now = time.perf_counter()
        for device in list(self.waiting):
            device.replay_due(now, self.started)

    async def offer(
        self,
        rate: float,
        duration: float,
        event: Callable[[random.Random], dict[str, object]] | None = None,
        progress: Callable[[FleetStats, float], None] | None = None,
        on_time: bool = False,
    ) -> None:
        """Offer `rate` events/s spread over random devices for `duration` s: `rate` × `duration` events, late
        if the generator cannot keep up; with `on_time`, fewer instead (the load stops after `duration`, and
        `stats.sent` says what went out): a bench offering more than one process can send wants that."""
        if not self.live:
            return
        make_event = event or single_press
        rng, live, stats = self.rng, self.live, self.stats
        started = time.perf_counter()
        if not self.started:
            self.started = stats.first_sent_at = started
        total = round(rate * duration)
        end = started + duration
        checked = started
        for n in range(total):
            due = started + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif on_time and time.perf_counter() >= end:  # behind and out of time
                break
            rng.choice(live).send(make_event(rng))
            now = time.perf_counter()
            if now - checked >= 0.1:
                checked = now
                self.replay_due()
                if progress is not None:
                    progress(stats, (now - started) / duration)
                await asyncio.sleep(0)  # a saturated generator still lets the sockets be read

    async def saturate(
        self, duration: float, window: int = 2, event: Callable[[random.Random], dict[str, object]] | None = None
    ) -> None:
        """Closed loop for `duration` s: every device keeps `window` events waiting for feedback, sending the next
        one as soon as one is answered. The consumer always has `window` × devices events to work on, so it runs
        at its capacity whatever that is, and no event waits long enough to be replayed: what is measured is
        the consumer, not the replay rule (an open-loop load above capacity measures that instead)."""
        if not self.live:
            return
        make_event = event or single_press
        rng = self.rng
        end = time.perf_counter() + duration
        if not self.started:
            self.started = self.stats.first_sent_at = time.perf_counter()

        def refill(device: FleetDevice) -> None:
            if device.online and time.perf_counter() < end:
                while len(device.pending) < window:
                    device.send(make_event(rng))

        for device in self.live:
            device.on_answer = refill
        try:
            for device in self.live:
                refill(device)
            while time.perf_counter() < end:
                await asyncio.sleep(0.1)
                self.replay_due()
        finally:
            for device in self.live:
                device.on_answer = None

    async def drain(self, settle: float, progress: Callable[[FleetStats, float], None] | None = None) -> float:
        """Replay until every event has its feedback or `settle` s passed; the seconds it took."""
        start = time.perf_counter()
        deadline = start + settle
        while self.waiting and time.perf_counter() < deadline:
            await asyncio.sleep(0.1)
            self.replay_due()
        if progress is not None:
            progress(self.stats, 1.0)
        return time.perf_counter() - start

    async def close(self) -> None:
        """Disconnect every device."""
        await asyncio.gather(*(d.close() for d in self.devices))


async def run_fleet(
    host: str,
    port: int,
    credentials: Sequence[tuple[str, str | None]],
    rate: float,
    duration: float,
    event: Callable[[random.Random], dict[str, object]] | None = None,
    settle: float = 30.0,
    progress: Callable[[FleetStats, float], None] | None = None,
    seed: int = 1,
    first_seq: int | None = None,
    during: Callable[[Fleet], Coroutine[object, object, None]] | None = None,
    more_ports: Sequence[int] = (),
) -> FleetStats:
    """Connect every device, offer `rate` events/s spread over random devices for `duration` s, then wait.

    A device's seqs start at `first_seq`; by default at a random point, so a second run with the same
    device ids sends new events and not replays of the first run's (which the hub answers from its
    store, far faster). A real device persists its counter; an emulated fleet does not. `during`, when
    given, runs alongside the offered load (a bench restarts the broker in it). `more_ports`: the MQTT ports
    of a cluster's other nodes, which devices are spread over and move to when their node dies.
    """
    fleet = Fleet(host, port, credentials, seed, first_seq, more_ports)
    await fleet.connect()
    if not fleet.live:
        return fleet.stats
    side = asyncio.create_task(during(fleet)) if during is not None else None
    await fleet.offer(rate, duration, event, progress)
    if side is not None:
        await side
    await fleet.drain(settle, progress)
    await fleet.close()
    return fleet.stats
