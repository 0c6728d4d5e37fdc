"""Decoding device payloads: every documented example decodes; every kind of bad input has its reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from hub.domain.events import (
    LevelEvent,
    PressEvent,
    ProtocolError,
    ScanEvent,
    decode_event,
    decode_status,
    parse_topic,
)
from hub.domain.feedback import CODES, Feedback, rejected
from tests.conftest import EXAMPLES, example

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def test_documented_event_examples_decode() -> None:
    press = decode_event((EXAMPLES / "event_press.json").read_bytes(), NOW)
    assert press == PressEvent(seq=17, click="single", at=NOW)
    assert decode_event((EXAMPLES / "event_press_long.json").read_bytes(), NOW).click == "long"  # type: ignore[union-attr]
    scan = decode_event((EXAMPLES / "event_scan.json").read_bytes(), NOW)
    assert scan == ScanEvent(seq=18, code="4006381333931", qty=1, at=NOW)
    level = decode_event((EXAMPLES / "event_level.json").read_bytes(), NOW)
    assert level == LevelEvent(seq=19, slot="detergent", value=412.5, unit="g", at=NOW)


def test_documented_status_examples_decode() -> None:
    online = decode_status((EXAMPLES / "status_online.json").read_bytes())
    assert (online.online, online.battery_mv, online.rssi, online.fw) == (True, 2980, -61, "0.1.0")
    assert decode_status((EXAMPLES / "status_offline.json").read_bytes()).online is False


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{", "bad_json"),
        (b"\xff", "bad_json"),
        (b"[]", "bad_json"),
        (b'{"type": "press"}', "bad_field"),
        (b'{"seq": 0, "type": "press"}', "bad_field"),
        (b'{"seq": true, "type": "press"}', "bad_field"),
        (b'{"seq": 2147483648, "type": "press"}', "bad_field"),
        (b'{"seq": 1, "type": "press", "click": 3}', "bad_field"),
        (b'{"seq": 1, "type": "scan"}', "bad_field"),
        (b'{"seq": 1, "type": "scan", "code": "4006381333931", "qty": 0}', "bad_field"),
        (b'{"seq": 1, "type": "level", "slot": "Bad Slot", "value": 1, "unit": "g"}', "bad_field"),
        (b'{"seq": 1, "type": "level", "slot": "s", "value": -1, "unit": "g"}', "bad_field"),
        (b'{"seq": 1, "type": "level", "slot": "s", "value": 1.5, "unit": "fraction"}', "bad_field"),
        (b'{"seq": 1, "type": "level", "slot": "s", "value": 1, "unit": "lb"}', "bad_field"),
        (b'{"seq": 1, "type": "level", "slot": "s", "value": NaN, "unit": "g"}', "bad_field"),
        (b'{"seq": 1}', "unknown_type"),
        (b'{"seq": 1, "type": "teleport"}', "unknown_type"),
        (b'{"seq": 1, "type": "press", "pad": "' + b"x" * 1024 + b'"}', "oversize"),
    ],
)
def test_bad_payloads_have_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_event(payload, NOW)
    assert caught.value.reason == reason
    assert caught.value.detail


def test_seq_is_kept_when_readable_so_the_device_can_be_answered() -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_event(b'{"seq": 5, "type": "teleport"}', NOW)
    assert caught.value.seq == 5


def test_device_clock_is_used_only_when_plausible() -> None:
    recent = int((NOW - timedelta(hours=3)).timestamp())
    old = int((NOW - timedelta(days=30)).timestamp())
    future = int((NOW + timedelta(hours=1)).timestamp())
    body = '{{"seq": 1, "type": "level", "slot": "s", "value": 1, "unit": "g", "ts": {}}}'
    assert decode_event(body.format(recent).encode(), NOW).at == NOW - timedelta(hours=3)
    assert decode_event(body.format(old).encode(), NOW).at == NOW
    assert decode_event(body.format(future).encode(), NOW).at == NOW


@pytest.mark.parametrize(
    "topic", ["restock/v2/btn-1/event", "restock/v1/BTN/event", "restock/v1/btn-1/event/x", "other/btn-1/event"]
)
def test_foreign_topics_are_refused(topic: str) -> None:
    with pytest.raises(ProtocolError):
        parse_topic(topic)


def test_feedback_examples_use_documented_codes_and_round_trip() -> None:
    for name in ("feedback_ordered.json", "feedback_duplicate.json", "feedback_rejected.json", "feedback_in_cart.json"):
        data = example(name)
        assert data["type"] == "feedback" and data["code"] in CODES
    ordered = example("feedback_ordered.json")
    rebuilt = Feedback(
        seq=17, code="ordered", order="o-7f3a9c", product="Coffee beans 1 kg", total=1299, currency="EUR",
        cancel_until=datetime(2026, 11, 22, 10, 30, tzinfo=UTC),
    )
    assert rebuilt.to_dict() == ordered
    assert json.loads(rejected(18, "bad_barcode", "check digit should be 1").to_json()) == example(
        "feedback_rejected.json"
    )
    assert len(rebuilt.to_json().encode()) < 1024


def test_every_code_and_reason_is_documented() -> None:
    protocol = (EXAMPLES.parent / "protocol.md").read_text()
    for code in CODES:
        assert f"| `{code}` |" in protocol, code
    for reason in ("bad_json", "oversize", "bad_field", "unknown_type", "bad_barcode", "unknown_device",
                   "unclaimed", "revoked", "unbound", "protected", "order_cap", "month_cap", "price_rise",
                   "approval_mode", "out_of_stock"):
        assert f"| `{reason}` |" in protocol, reason
