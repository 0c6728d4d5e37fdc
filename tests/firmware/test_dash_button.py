"""Dash button firmware on the sim board against a real mosquitto."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import example
from tests.firmware.conftest import feedback_for

pytestmark = [pytest.mark.firmware, pytest.mark.broker]


def strip_seq(event: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in event.items() if k != "seq"}


def test_press_double_long_payloads_with_increasing_seq(mosquitto, firmware, hub_double):
    hub = hub_double(mosquitto.port, feedback_for("feedback_ordered.json"))
    fw = firmware("dash_button", "btn-wire", mosquitto.port)
    expected = []
    for click, name in (("single", "event_press.json"), ("double", "event_press_double.json"),
                        ("long", "event_press_long.json")):
        m = fw.mark()
        fw.press(click)
        fw.wait("pattern", "ordered", since=m)
        expected.append(strip_seq(example(name)))
    events = hub.wait_events(3)
    assert [strip_seq(e) for e in events] == expected
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert all(isinstance(s, int) and s >= 1 for s in seqs)
    status = hub.wait_status(lambda s: s.get("online") is True)
    assert set(status) == set(example("status_online.json"))
    assert status["kind"] == "dash_button"


def test_long_hold_enters_setup_mode_and_takes_a_config(mosquitto, firmware, hub_double):
    hub = hub_double(mosquitto.port, feedback_for("feedback_ordered.json"))
    fw = firmware("dash_button", "btn-setup", mosquitto.port)
    m = fw.mark()
    fw.hold(6500)
    fw.wait("setup", "on", since=m)
    assert fw.state()["led"] == "blue"
    url = f"http://127.0.0.1:{fw.setup_port}/config"
    cfg = json.loads((fw.flash / "config.json").read_text())
    bad = httpx.put(url, content=json.dumps({**cfg, "broker": {"host": "x", "port": "1883"}}), timeout=10)
    assert bad.status_code == 400 and "broker.port" in bad.text
    ok = httpx.put(url, content=json.dumps({**cfg, "device_id": "btn-renamed"}), timeout=10)
    assert ok.status_code == 200
    fw.wait("setup", "off", since=m)
    m = fw.mark()
    fw.press("single")
    fw.wait("pattern", "ordered", since=m)
    assert [d for d, _ in hub.events] == ["btn-renamed"]


@pytest.mark.parametrize(
    ("fixture", "pattern", "led"),
    [
        ("feedback_ordered.json", "ordered", "green"),
        ("feedback_in_cart.json", "in_cart", "green"),
        ("feedback_duplicate.json", "duplicate", "amber"),
        ("feedback_rejected.json", "rejected", "red"),
    ],
)
def test_feedback_shows_led_pattern(mosquitto, firmware, hub_double, fixture, pattern, led):
    hub_double(mosquitto.port, feedback_for(fixture))
    fw = firmware("dash_button", "btn-fb", mosquitto.port)
    m = fw.mark()
    fw.press("single")
    fw.wait("pattern", pattern, since=m)
    fw.wait("led", led, since=m)
    fw.wait("sleep", since=m)
    assert fw.state()["pattern"] == pattern


def test_malformed_cmd_is_ignored_and_logged(mosquitto, firmware, hub_double):
    hub = hub_double(mosquitto.port, feedback_for("feedback_ordered.json"))
    fw = firmware("dash_button", "btn-bad", mosquitto.port)
    m = fw.mark()
    fw.press("single")
    fw.wait("pattern", "ordered", since=m)
    # Queued in the device's persistent session while it sleeps; delivered at the next wake.
    for bad in (b"not json", b"[1, 2]", b'{"type": "feedback", "seq": "x", "code": "ordered"}',
                b'{"type": "warp"}', b'{"no": "type"}', b"\xff\xfe"):
        hub.send("btn-bad", bad)
    m = fw.mark()
    fw.press("double")
    fw.wait("pattern", "ordered", since=m)
    assert fw.running
    assert fw.console.count("cmd ignored") == 6
    assert [e["click"] for e in hub.wait_events(2)] == ["single", "double"]


def test_no_feedback_shows_offline_and_keeps_event(mosquitto, firmware, hub_double):
    hub = hub_double(mosquitto.port, answer=None)
    fw = firmware("dash_button", "btn-silent", mosquitto.port, feedback_wait_s=1.0, retry_s=60.0,
                  retry_max_s=60.0)
    m = fw.mark()
    fw.press("single")
    fw.wait("pattern", "offline", since=m)
    fw.wait("sleep", lambda d: d != "none", since=m)  # a retry timer, since the outbox is not empty
    assert len(list((fw.flash / "outbox").glob("*.ev"))) == 1
    assert len(hub.wait_events(1)) == 1


def test_bad_config_shows_error_pattern_and_names_the_key(mosquitto, firmware):
    fw = firmware("dash_button", "btn-badcfg", mosquitto.port, broker={"host": "127.0.0.1", "port": "1883"})
    note = fw.wait("error")
    assert "broker.port" in note.detail
    fw.wait("pattern", "error")
    assert "config error: broker.port" in fw.console
    fw.wait("sleep")  # after the error pattern has played
    assert fw.state()["asleep"] is True  # waits for a button press, does not crash or loop



def test_config_is_checked_once_and_again_when_it_changes(mosquitto, firmware, hub_double):
    hub_double(mosquitto.port, feedback_for("feedback_ordered.json"))
    fw = firmware("dash_button", "btn-cfgcache", mosquitto.port)
    fw.wait("sleep")
    assert fw.console.count("config.json checked") == 1
    fw.restart()  # a wake from deep sleep is a boot: an unchanged config.json is not checked again
    fw.wait("sleep")
    m = fw.mark()
    fw.press("single")
    fw.wait("pattern", "ordered", since=m)
    assert fw.console.count("config.json checked") == 1
    fw.kill()
    cfg = json.loads((fw.flash / "config.json").read_text())
    cfg["broker"]["port"] = "1883"
    (fw.flash / "config.json").write_text(json.dumps(cfg))
    fw.restart()  # a changed file (setup mode, a re-flash) is checked before it is used
    assert "broker.port" in fw.wait("error").detail
    assert fw.console.count("config.json checked") == 1
