"""Wire events as value objects: decoding and validation of device payloads (docs/protocol.md §3)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any, Literal

MAX_PAYLOAD = 1024
# A payload over the limit is still read for its seq (so the device gets an answer) up to this size.
SEQ_SCAN_LIMIT = 16 * MAX_PAYLOAD
MAX_SEQ = 2**31 - 1
# Protocol payloads are flat objects; nesting is bounded so that no parse can go deep (Python's JSON parser
# recurses once per level and gives up with RecursionError near a thousand).
MAX_DEPTH = 16
# The hub's integer columns are 32-bit (INTEGER on PostgreSQL): a status number beyond them cannot be stored.
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
# A reading beyond this (a tonne of detergent, a billion cycles) is a broken sensor, not a level to forecast on.
MAX_LEVEL = 1e9
# Unix times a date can hold: 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
MAX_TS = 253402300799
TOPIC_PREFIX = "restock/v1/"
DEVICE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{2,31}$")
SLOT_RE = re.compile(r"^[a-z0-9_-]{1,32}$")
CLICKS = ("single", "double", "long")
UNITS = ("g", "ml", "count", "fraction")
# A device clock older than this is not trusted for a reading's time (protocol §3).
MAX_EVENT_AGE = timedelta(days=7)

Click = Literal["single", "double", "long"]


class ProtocolError(Exception):
    """A payload that breaks the wire contract; `reason` is a protocol reason code."""

    def __init__(self, reason: str, detail: str, seq: int | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail[:120]
        self.seq = seq


@dataclass(frozen=True)
class Topic:
    """A parsed `restock/v1/<device_id>/<channel>` topic."""

    device_id: str
    channel: str


# Topics already parsed: a device sends on the same few, and every message's is parsed twice. Bounded: hostile
# topics that parse fill it at worst to this size, and it starts again.
_TOPICS: dict[str, Topic] = {}
TOPIC_MEMO = 65_536


def parse_topic(topic: str) -> Topic:
    """Split a device topic; raises ProtocolError for anything that is not ours."""
    found = _TOPICS.get(topic)
    if found is not None:
        return found
    parsed = _parse_topic(topic)
    if len(_TOPICS) >= TOPIC_MEMO:
        _TOPICS.clear()
    _TOPICS[topic] = parsed
    return parsed


def _parse_topic(topic: str) -> Topic:
    if not topic.startswith(TOPIC_PREFIX):
        raise ProtocolError("bad_field", f"topic {topic[:60]!r} is not under {TOPIC_PREFIX}")
    parts = topic[len(TOPIC_PREFIX) :].split("/")
    if len(parts) != 2 or parts[1] not in ("event", "status", "cmd"):
        raise ProtocolError("bad_field", f"topic {topic[:60]!r} is not restock/v1/<device>/<channel>")
    if not DEVICE_ID_RE.fullmatch(parts[0]):
        raise ProtocolError("bad_field", f"device id {parts[0][:40]!r} is not a valid id")
    return Topic(device_id=parts[0], channel=parts[1])


def device_of(topic: str) -> str:
    """The device a message is counted against: the id in `restock/v1/<id>/<channel>`, unchecked (the topic
    itself, cut short, when it has not that shape). Cheap: ingest asks it of every message."""
    parts = topic.split("/", 3)
    return parts[2][:64] if len(parts) == 4 and topic.startswith(TOPIC_PREFIX) else topic[:64]


def cmd_topic(device_id: str) -> str:
    """The topic a device listens on."""
    return f"{TOPIC_PREFIX}{device_id}/cmd"


@dataclass(frozen=True)
class PressEvent:
    """A dash-button press."""

    seq: int
    click: Click
    at: datetime


@dataclass(frozen=True)
class ScanEvent:
    """A barcode scan, the code as the device sent it (normalised later)."""

    seq: int
    code: str
    qty: int
    at: datetime


@dataclass(frozen=True)
class LevelEvent:
    """A sensor reading for one slot."""

    seq: int
    slot: str
    value: float
    unit: str
    at: datetime


Event = PressEvent | ScanEvent | LevelEvent


@dataclass(frozen=True)
class Status:
    """A device status (retained) or its last will."""

    online: bool
    kind: str | None = None
    fw: str | None = None
    battery_mv: int | None = None
    rssi: int | None = None
    uptime: int | None = None
    outbox: int | None = None
    dropped: int | None = None


# A JSON string, so the brackets in it are not counted (an unclosed one runs to the end); possessive, so a
# match is never retried: one pass over any bytes.
_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"?', re.DOTALL)
# Brackets become +1 / -1 and everything else is deleted, so the nesting depth is a running sum done in C.
_SIGNS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_SEQ_MEMBER = re.compile(rb'"seq"\s*:\s*(\d{1,10})(?![\d.eE])')


def _depth(payload: bytes) -> int:
    """How deep arrays and objects nest, brackets inside strings not counted."""
    signs = _STRING.sub(b"", payload).translate(_SIGNS, _NOT_BRACKETS)
    # A stray closing bracket takes the sum below the parser's depth, but the parser stops right there.
    return max(accumulate(memoryview(signs).cast("b")), default=0)


def load_json(payload: bytes) -> Any:
    """Parse UTF-8 JSON of any size with bounded nesting; anything else raises ProtocolError `bad_json`."""
    # Counting brackets is a C loop; only a payload with many of them is tokenised to measure its depth.
    if payload.count(b"[") + payload.count(b"{") > MAX_DEPTH and _depth(payload) > MAX_DEPTH:
        raise ProtocolError("bad_json", f"JSON nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError("bad_json", f"not UTF-8 JSON: {exc}") from None


def _load_object(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError("oversize", f"{len(payload)} bytes, at most {MAX_PAYLOAD}")
    data = load_json(payload)
    if not isinstance(data, dict):
        raise ProtocolError("bad_json", f"a JSON object is expected, got {type(data).__name__}")
    return data


def scan_seq(payload: bytes) -> int | None:
    """The seq of an event payload that failed to decode, so its rejection can be answered; never raises.

    An oversize or broken payload is read up to SEQ_SCAN_LIMIT bytes: as JSON when it parses, else by
    looking for a `"seq": <integer>` member of the outermost object.
    """
    if len(payload) > SEQ_SCAN_LIMIT:
        return None
    try:
        data = load_json(payload)
    except ProtocolError:
        return _scan_broken(payload)
    return readable_seq(data) if isinstance(data, dict) else None


def _scan_broken(payload: bytes) -> int | None:
    # The first `"seq": <integer>`, taken only when it is a member of the outermost object.
    match = _SEQ_MEMBER.search(payload)
    if match is None:
        return None
    before = _STRING.sub(b"", payload[: match.start()])
    opened = before.count(b"{") + before.count(b"[") - before.count(b"}") - before.count(b"]")
    if opened != 1 or not before.lstrip().startswith(b"{"):
        return None
    seq = int(match.group(1))
    return seq if 1 <= seq <= MAX_SEQ else None


def storable(text: str) -> bool:
    """Whether a database text column takes the string as it is: valid UTF-8 (no unpaired surrogate) and no
    NUL (PostgreSQL refuses it)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _int(data: dict[str, Any], key: str, lo: int, hi: int, seq: int | None, default: int | None = None) -> int:
    value = data.get(key, default)
    # bool is an int subclass in Python; a device sending true for a number is a bug, not a 1.
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ProtocolError("bad_field", f"{key} must be an integer {lo}..{hi}, got {value!r:.40}", seq)
    return value


def _str(data: dict[str, Any], key: str, seq: int) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not storable(value):
        raise ProtocolError("bad_field", f"{key} must be a string of text, got {value!r:.40}", seq)
    return value


def readable_seq(data: dict[str, Any]) -> int | None:
    """The event's seq when it is a valid one, so a rejection can still be answered."""
    seq = data.get("seq")
    if isinstance(seq, int) and not isinstance(seq, bool) and 1 <= seq <= MAX_SEQ:
        return seq
    return None


def _event_time(data: dict[str, Any], seq: int, received: datetime) -> datetime:
    ts = data.get("ts")
    if ts is None:
        return received
    if not isinstance(ts, int) or isinstance(ts, bool) or not 0 <= ts <= MAX_TS:
        raise ProtocolError("bad_field", f"ts must be an integer Unix time 0..{MAX_TS}, got {ts!r:.40}", seq)
    at = datetime.fromtimestamp(ts, UTC)
    # Only a plausible device clock is believed; otherwise the hub's receive time is the truth.
    if at > received or received - at > MAX_EVENT_AGE:
        return received
    return at


def decode_event(payload: bytes, received: datetime, data: dict[str, Any] | None = None) -> Event:
    """Decode an `event` payload into a value object or raise ProtocolError; `data`: the payload already parsed
    (by `load_json`, within the size limit), so a batch that read it for its key does not parse it twice."""
    data = _load_object(payload) if data is None else data
    seq = readable_seq(data)
    if seq is None:
        raise ProtocolError("bad_field", f"seq must be an integer 1..{MAX_SEQ}, got {data.get('seq')!r:.40}")
    kind = data.get("type")
    at = _event_time(data, seq, received)
    if kind == "press":
        click = data.get("click", "single")
        if click not in CLICKS:
            raise ProtocolError("bad_field", f"click must be one of {', '.join(CLICKS)}, got {click!r:.20}", seq)
        return PressEvent(seq=seq, click=click, at=at)
    if kind == "scan":
        code = _str(data, "code", seq).strip()
        qty = _int(data, "qty", 1, 99, seq, default=1)
        return ScanEvent(seq=seq, code=code, qty=qty, at=at)
    if kind == "level":
        slot = _str(data, "slot", seq)
        if not SLOT_RE.fullmatch(slot):
            raise ProtocolError("bad_field", f"slot {slot[:40]!r} must be 1-32 of a-z 0-9 _ -", seq)
        value = data.get("value")
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= MAX_LEVEL:
            raise ProtocolError("bad_field", f"value must be a number 0..{MAX_LEVEL:g}, got {value!r:.40}", seq)
        unit = data.get("unit")
        if unit not in UNITS:
            raise ProtocolError("bad_field", f"unit must be one of {', '.join(UNITS)}, got {unit!r:.20}", seq)
        if unit == "fraction" and value > 1:
            raise ProtocolError("bad_field", f"a fraction must be 0..1, got {value}", seq)
        return LevelEvent(seq=seq, slot=slot, value=float(value), unit=unit, at=at)
    raise ProtocolError("unknown_type", f"type {kind!r:.30} is not press, scan or level", seq)


def decode_status(payload: bytes) -> Status:
    """Decode a `status` payload (or the offline last will)."""
    data = _load_object(payload)
    online = data.get("online")
    if not isinstance(online, bool):
        raise ProtocolError("bad_field", f"online must be true or false, got {online!r:.20}")

    def opt_int(key: str, lo: int = 0) -> int | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= INT32_MAX:
            raise ProtocolError("bad_field", f"{key} must be null or an integer {lo}..{INT32_MAX}, got {value!r:.30}")
        return value

    def opt_str(key: str) -> str | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or len(value) > 40 or not storable(value):
            raise ProtocolError("bad_field", f"{key} must be a short string of text, got {value!r:.30}")
        return value

    return Status(
        online=online,
        kind=opt_str("kind"),
        fw=opt_str("fw"),
        battery_mv=opt_int("battery_mv"),
        rssi=opt_int("rssi", INT32_MIN),
        uptime=opt_int("uptime"),
        outbox=opt_int("outbox"),
        dropped=opt_int("dropped"),
    )
