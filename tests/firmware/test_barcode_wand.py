"""Barcode wand firmware: check digits on the device, quantities per session."""

from __future__ import annotations

import pytest

from tests.conftest import example
from tests.firmware.conftest import feedback_for

pytestmark = [pytest.mark.firmware, pytest.mark.broker]

VALID = str(example("event_scan.json")["code"])  # 4006381333931
OTHER = "96385074"  # EAN-8


@pytest.fixture
def wand(mosquitto, firmware, hub_double):
    hub = hub_double(mosquitto.port, feedback_for("feedback_in_cart.json"))
    fw = firmware("barcode_wand", "wand-1", mosquitto.port, scan_idle_s=0.5)
    fw.wait("sleep")
    return fw, hub


def test_valid_code_is_published(wand):
    fw, hub = wand
    m = fw.mark()
    fw.scan(VALID)
    fw.wait("pattern", "in_cart", since=m)
    [event] = hub.wait_events(1)
    assert {k: v for k, v in event.items() if k != "seq"} == {
        k: v for k, v in example("event_scan.json").items() if k != "seq"
    }


def test_bad_check_digit_rejected_on_device_nothing_published(wand):
    fw, hub = wand
    m = fw.mark()
    fw.scan(VALID[:-1] + "2")
    fw.wait("reject", VALID[:-1] + "2", since=m)
    fw.wait("pattern", "rejected", since=m)
    fw.wait("buzz", since=m)
    fw.wait("sleep", since=m)
    m = fw.mark()
    fw.scan(OTHER)  # a later good scan proves the wand published what it had
    fw.wait("pattern", "in_cart", since=m)
    assert [e["code"] for e in hub.wait_events(1)] == [OTHER]
    assert len(hub.events) == 1


def test_repeated_code_raises_quantity(wand):
    fw, hub = wand
    m = fw.mark()
    fw.scan(VALID)
    fw.scan(VALID)
    fw.scan(OTHER)
    fw.wait("pattern", "in_cart", since=m)
    events = hub.wait_events(2)
    assert [(e["code"], e["qty"]) for e in events] == [(VALID, 2), (OTHER, 1)]
    assert events[0]["seq"] < events[1]["seq"]


@pytest.mark.parametrize(
    ("code", "ok"),
    [("4006381333931", True), ("036000291452", True), ("96385074", True), ("04252614", True),
     ("00012345678905", True), ("4006381333932", False), ("12345", False), ("40063813339a1", False)],
)
def test_check_digits_on_the_unix_port(code, ok):
    from tests.firmware.mp import run_micropython

    out = run_micropython(f"import barcode; print(barcode.valid({code!r}))", "barcode_wand")
    assert out.strip() == str(ok)


def test_scan_while_the_last_one_is_being_answered_is_not_lost(mosquitto, firmware, hub_double):
    """A household scans the next item as soon as the wand beeps: that scan must not be dropped."""
    hub = hub_double(mosquitto.port, feedback_for("feedback_in_cart.json"))
    fw = firmware("barcode_wand", "wand-quick", mosquitto.port, scan_idle_s=0.3)
    fw.wait("sleep")
    m = fw.mark()
    fw.scan(VALID)
    fw.wait("event", since=m)  # the first session ended; the wand now waits for the hub's answer
    fw.scan(OTHER)
    events = hub.wait_events(2)
    assert [(e["code"], e["qty"]) for e in events] == [(VALID, 1), (OTHER, 1)]
    assert fw.count("pattern", "in_cart", since=m) >= 1
    fw.wait("sleep", since=m)
