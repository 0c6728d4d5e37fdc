"""Appliance sensor firmware: HX711 on the sim board, significant change vs noise, tare/calibrate."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import example

pytestmark = [pytest.mark.firmware, pytest.mark.broker]


def recorded(device_id: str, event: dict[str, Any]) -> dict[str, Any]:
    return {"type": "feedback", "seq": event["seq"], "code": "recorded"}


SENSOR = {"type": "hx711", "slot": "detergent", "unit": "g", "full": 1000, "scale": 420, "offset": 8000}


def start(firmware, port, device_id, level=1000.0, **cfg):
    cfg.setdefault("sample_s", 0.2)
    cfg.setdefault("min_change", 0.05)
    cfg.setdefault("report_every_h", 24)
    return firmware("appliance_sensor", device_id, port, sim={"level": level, "noise": 0}, sensor=dict(SENSOR),
                    **cfg)


def test_falling_level_reported_on_change_not_on_noise(mosquitto, firmware, hub_double):
    hub = hub_double(mosquitto.port, recorded)
    fw = start(firmware, mosquitto.port, "sensor-fall")
    [first] = hub.wait_events(1)
    assert set(first) == set(example("event_level.json"))
    assert (first["slot"], first["unit"]) == ("detergent", "g")
    assert first["value"] == pytest.approx(1000, abs=1)
    fw.command("noise 8")  # +-8 g per raw sample, well under 5 % of 1000 g
    m = fw.mark()
    samples = [float(n.detail) for n in fw.wait_count("sample", 8, since=m)]
    assert max(samples) != min(samples)  # the noise really reached the firmware
    assert fw.count("event", since=m) == 0
    assert len(hub.events) == 1
    m = fw.mark()
    fw.command("level 900")
    fw.wait("event", since=m)
    events = hub.wait_events(2)
    assert events[1]["value"] == pytest.approx(900, abs=5)
    assert events[1]["seq"] > events[0]["seq"]


def test_tare_and_calibrate_by_cmd(mosquitto, firmware, hub_double):
    hub = hub_double(mosquitto.port, recorded)
    fw = start(firmware, mosquitto.port, "sensor-cal", level=0.0, min_change=0.01)
    hub.wait_events(1)
    m = fw.mark()
    fw.command("level 200")
    fw.wait("event", since=m)
    assert hub.wait_events(2)[-1]["value"] == pytest.approx(200, abs=3), hub.events
    m = fw.mark()
    hub.send("sensor-cal", {"type": "calibrate", "known_g": 400})  # the hub says the 200 g weigh 400 g
    fw.wait("calibrated", "calibrate", since=m)
    m = fw.mark()
    fw.command("level 300")
    fw.wait("event", since=m)
    assert hub.wait_events(3)[-1]["value"] == pytest.approx(600, abs=6)  # the household's scale now
    m = fw.mark()
    hub.send("sensor-cal", {"type": "tare"})
    fw.wait("calibrated", "tare", since=m)
    hub.send("sensor-cal", {"type": "calibrate", "known_g": "lots"})
    hub.send("sensor-cal", {"type": "config", "report_every_h": 12, "min_change": 0.2})
    fw.wait("config", "ok", since=m)
    assert "calibrate needs known_g" in fw.console


def test_pulse_counter_reports_cycles_left(mosquitto, firmware, hub_double):
    hub = hub_double(mosquitto.port, lambda d, e: {"type": "feedback", "seq": e["seq"], "code": "recorded"})
    fw = firmware("appliance_sensor", "filter-1", mosquitto.port, sample_s=0.3, min_change=0.05,
                  sensor={"type": "pulse", "slot": "water_filter", "full": 100})
    first = hub.wait_events(1)[0]
    assert (first["value"], first["unit"], first["slot"]) == (100, "count", "water_filter")
    m = fw.mark()
    fw.command("pulse 6")
    fw.wait("event", since=m)
    assert hub.wait_events(2)[-1]["value"] == 94
