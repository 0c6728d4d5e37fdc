"""Home Assistant MQTT discovery: retained configs with the documented keys, cleared on revoke."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hub.broker.mosquitto import MosquittoProcess
from simulator.protocol_device import ProtocolDevice
from tests.hub.conftest import HubServer, add_button, sign_up
from tests.hub.shops import wait_for

pytestmark = pytest.mark.broker

# Configuration variables from Home Assistant's MQTT documentation (device trigger, tag scanner, sensor,
# the shared device map and availability list). A key outside these sets is one Home Assistant rejects.
TRIGGER_REQUIRED = {"automation_type", "topic", "type", "subtype"}
TRIGGER_KEYS = TRIGGER_REQUIRED | {"payload", "qos", "value_template", "device", "platform"}
TAG_REQUIRED = {"topic", "device"}
TAG_KEYS = TAG_REQUIRED | {"value_template"}
SENSOR_REQUIRED = {"state_topic"}
SENSOR_KEYS = SENSOR_REQUIRED | {
    "availability", "availability_mode", "availability_template", "availability_topic", "device", "device_class",
    "enabled_by_default", "encoding", "entity_category", "entity_picture", "expire_after", "force_update", "icon",
    "json_attributes_template", "json_attributes_topic", "last_reset_value_template", "name", "object_id",
    "default_entity_id", "options", "payload_available", "payload_not_available", "platform", "qos", "state_class",
    "suggested_display_precision", "unique_id", "unit_of_measurement", "value_template",
}
DEVICE_KEYS = {"configuration_url", "connections", "hw_version", "identifiers", "manufacturer", "model", "model_id",
               "name", "serial_number", "suggested_area", "sw_version", "via_device"}
AVAILABILITY_KEYS = {"topic", "payload_available", "payload_not_available", "value_template"}
TRIGGER_TYPES = {"button_short_press", "button_double_press", "button_long_press"}


class Retained:
    """What a fresh MQTT subscriber sees under a filter (retained messages), kept up to date."""

    def __init__(self, port: int, topic_filter: str) -> None:
        self.messages: dict[str, str] = {}
        self.cleared: set[str] = set()
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"ha-{secrets.token_hex(3)}")
        self.client.on_connect = lambda c, *_: c.subscribe(topic_filter, qos=1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            if message.payload:
                self.messages[message.topic] = message.payload.decode()
                self.cleared.discard(message.topic)
            else:
                self.messages.pop(message.topic, None)
                self.cleared.add(message.topic)

    def configs(self, device_id: str) -> dict[str, dict[str, Any]]:
        """Parsed discovery configs of one device."""
        with self._lock:
            return {t: json.loads(p) for t, p in self.messages.items() if f"/restock_{device_id}/" in t}

    def close(self) -> None:
        """Disconnect."""
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def watch(broker: MosquittoProcess) -> Iterator[Callable[[str], Retained]]:
    """Subscribers on the test broker; all closed at the end."""
    made: list[Retained] = []

    def make(topic_filter: str) -> Retained:
        made.append(Retained(broker.port, topic_filter))
        return made[-1]

    yield make
    for item in made:
        item.close()


def check_device_block(config: dict[str, Any], device_id: str) -> None:
    """The device map ties every entity to one Home Assistant device."""
    device = config["device"]
    assert set(device) <= DEVICE_KEYS and device["identifiers"] == [f"restock_{device_id}"]


def test_discovery_configs_follow_the_devices_and_vanish_on_revoke(
    start_hub: Callable[..., HubServer],
    watch: Callable[[str], Retained],
    devices: Callable[..., ProtocolDevice],
) -> None:
    server = start_hub()
    api = sign_up(server.url)
    add_button(api, "btn-ha")
    api.ok("POST", "/api/v1/devices", json={"kind": "barcode_wand", "id": "wand-ha"})
    sensor = api.ok("POST", "/api/v1/devices", json={"kind": "appliance_sensor", "id": "sens-ha"})
    ha = watch("homeassistant/#")

    button = wait_for(lambda: len(c := ha.configs("btn-ha")) == 4 and c, "the button's configs")
    triggers = {t: c for t, c in button.items() if t.startswith("homeassistant/device_automation/")}
    assert set(triggers) == {f"homeassistant/device_automation/restock_btn-ha/press_{k}/config"
                             for k in ("single", "double", "long")}
    for config in triggers.values():
        assert TRIGGER_REQUIRED <= set(config) <= TRIGGER_KEYS
        assert config["automation_type"] == "trigger" and config["type"] in TRIGGER_TYPES
        assert config["topic"] == "restock/v1/btn-ha/event" and config["payload"] in ("single", "double", "long")
        check_device_block(config, "btn-ha")
    assert {c["type"] for c in triggers.values()} == TRIGGER_TYPES

    battery = button["homeassistant/sensor/restock_btn-ha/battery/config"]
    assert SENSOR_REQUIRED <= set(battery) <= SENSOR_KEYS
    assert battery["state_topic"] == "restock/v1/btn-ha/status" and battery["unit_of_measurement"] == "mV"
    assert battery["unique_id"] == "restock_btn-ha_battery"
    for item in battery["availability"]:
        assert set(item) <= AVAILABILITY_KEYS and item["topic"] == "restock/v1/btn-ha/status"

    wand = wait_for(lambda: len(c := ha.configs("wand-ha")) == 2 and c, "the wand's configs")
    tag = wand["homeassistant/tag/restock_wand-ha/scan/config"]
    assert TAG_REQUIRED <= set(tag) <= TAG_KEYS and tag["topic"] == "restock/v1/wand-ha/event"
    check_device_block(tag, "wand-ha")

    # A sensor's slot appears with its first reading; the hub publishes the level, retained, for it.
    levels = watch("restock/v1/sens-ha/ha/#")
    sensor_device = devices("sens-ha", sensor["secret"])
    assert sensor_device.wait_feedback(
        sensor_device.send({"type": "level", "slot": "beans", "value": 412.5, "unit": "g"}))["code"] == "recorded"
    level = wait_for(lambda: ha.configs("sens-ha").get("homeassistant/sensor/restock_sens-ha/level_beans/config"),
                     "the slot's sensor config")
    assert SENSOR_REQUIRED <= set(level) <= SENSOR_KEYS and level["unit_of_measurement"] == "g"
    assert level["state_topic"] == "restock/v1/sens-ha/ha/level/beans"
    wait_for(lambda: levels.messages.get("restock/v1/sens-ha/ha/level/beans") == "412.5", "the published level")

    # Unique ids never repeat across entities.
    everything = [c for d in ("btn-ha", "wand-ha", "sens-ha") for c in ha.configs(d).values() if "unique_id" in c]
    assert len({c["unique_id"] for c in everything}) == len(everything)

    # Revoke: the button's configs are cleared (empty retained payloads); the others stay.
    topics = set(button)
    api.ok("POST", "/api/v1/devices/btn-ha/revoke")
    wait_for(lambda: topics <= ha.cleared, "the button's configs to be cleared")
    late = watch("homeassistant/#")
    wait_for(lambda: len(late.configs("wand-ha")) == 2, "a late subscriber to get the wand's retained configs")
    assert late.configs("btn-ha") == {}

    # A hub restart publishes the same configs again and does not bring the revoked button back.
    server.stop()
    restarted = start_hub()
    again = watch("homeassistant/#")
    wait_for(lambda: len(again.configs("sens-ha")) == 2, "the sensor's configs after the restart")
    assert again.configs("btn-ha") == {}
    assert restarted.hub.homeassistant is not None
