"""Events survive broker outages, Wi-Fi cuts and reboots: each arrives, once, in order."""

from __future__ import annotations

import pytest

from tests.firmware.conftest import feedback_for

pytestmark = [pytest.mark.firmware, pytest.mark.broker]


def press_five_offline(fw):
    for _ in range(5):
        m = fw.mark()
        fw.press("single")
        fw.wait("event", since=m)
        fw.wait("pattern", "offline", since=m)


def assert_five_once_in_order(fw, hub):
    m = fw.mark()
    events = hub.wait_events(5, timeout=20)
    fw.wait("sleep", "none", since=m, timeout=20)  # outbox empty: no retry timer any more
    events = [e for _, e in hub.events]
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    assert all(e == {"seq": e["seq"], "type": "press", "click": "single"} for e in events)
    assert list((fw.flash / "outbox").glob("*.ev")) == []


@pytest.mark.parametrize("reboot", [False, True], ids=["no-reboot", "reboot"])
def test_broker_outage_five_presses_arrive_once_in_order(mosquitto_factory, firmware, hub_double, reboot):
    broker = mosquitto_factory()
    hub = hub_double(broker.port, feedback_for("feedback_ordered.json"))
    fw = firmware("dash_button", "btn-outage", broker.port)
    fw.wait("sleep")  # booted, connected once, asleep
    broker.stop()
    press_five_offline(fw)
    assert len(list((fw.flash / "outbox").glob("*.ev"))) == 5
    if reboot:
        fw.restart()
    broker.start()
    assert_five_once_in_order(fw, hub)


def test_wifi_cut_five_presses_arrive_once_in_order(mosquitto_factory, firmware, hub_double):
    broker = mosquitto_factory()
    hub = hub_double(broker.port, feedback_for("feedback_in_cart.json"))
    fw = firmware("dash_button", "btn-wifi", broker.port)
    fw.wait("sleep")
    fw.wifi(False)
    press_five_offline(fw)
    assert hub.events == []
    fw.wifi(True)
    assert_five_once_in_order(fw, hub)


def test_full_outbox_drops_oldest_and_reports_it(mosquitto_factory, firmware, hub_double):
    broker = mosquitto_factory()
    hub = hub_double(broker.port, feedback_for("feedback_ordered.json"))
    fw = firmware("dash_button", "btn-full", broker.port, outbox_max=3)
    fw.wait("sleep")
    broker.stop()
    press_five_offline(fw)
    broker.start()
    hub.wait_events(3, timeout=20)
    status = hub.wait_status(lambda s: s.get("dropped", 0) > 0)
    assert status["dropped"] == 2
    assert [e["seq"] for _, e in hub.events][:3] == [3, 4, 5]
