"""Home Assistant MQTT discovery: every paired, active device shows up in a Home Assistant on the broker.

Configs are retained under ``homeassistant/<component>/restock_<device_id>/<object>/config`` (docs/protocol.md
§9): device triggers for single / double / long press and a tag scanner read the device's own `event`
topic through a `value_template`; battery and availability read its retained `status` topic; slot levels
are published by the hub, retained, on ``restock/v1/<device_id>/ha/level/<slot>``. A revoked device's
configs are cleared with empty retained payloads, which makes Home Assistant remove its entities.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from hub.notify.live import DEVICE, READING, LiveBus, LiveEvent
from hub.store import repos
from hub.store.models import Device

log = logging.getLogger(__name__)
PREFIX = "homeassistant"
CLICKS = {"single": "button_short_press", "double": "button_double_press", "long": "button_long_press"}
# Our level units in Home Assistant's spelling; `count` and `fraction` have none.
UNITS = {"g": "g", "ml": "mL"}
Publish = Callable[[str, str, int, bool], Awaitable[bool]]
# (household, name, active, firmware): what a device's discovery configs depend on besides its kind and slots.
Signature = tuple[int | None, str | None, bool | None, str | None]


def node(device_id: str) -> str:
    """The discovery node id of a device."""
    return f"restock_{device_id}"


def config_topic(component: str, device_id: str, obj: str) -> str:
    """Discovery config topic of one entity or trigger."""
    return f"{PREFIX}/{component}/{node(device_id)}/{obj}/config"


def level_topic(device_id: str, slot: str) -> str:
    """Retained topic where the hub publishes a slot's latest level."""
    return f"restock/v1/{device_id}/ha/level/{slot}"


def _device_block(device: Device) -> dict[str, Any]:
    block: dict[str, Any] = {
        "identifiers": [node(device.id)],
        "name": device.name or device.id,
        "manufacturer": "restock",
        "model": device.kind,
    }
    if device.firmware:
        block["sw_version"] = device.firmware
    return block


def _availability(device_id: str) -> list[dict[str, str]]:
    # The status topic is retained JSON with `online`; its last will says {"online": false}.
    return [{
        "topic": f"restock/v1/{device_id}/status",
        "value_template": "{{ 'online' if value_json.online else 'offline' }}",
        "payload_available": "online",
        "payload_not_available": "offline",
    }]


def discovery(device: Device, slots: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Config topic → payload of every Home Assistant entity and trigger of a device."""
    events = f"restock/v1/{device.id}/event"
    block = _device_block(device)
    configs: dict[str, dict[str, Any]] = {}
    if device.kind == "dash_button":
        for click, trigger_type in CLICKS.items():
            configs[config_topic("device_automation", device.id, f"press_{click}")] = {
                "automation_type": "trigger",
                "topic": events,
                # A press event is JSON with a seq; the template reduces it to the click for `payload` to match.
                "value_template": "{{ value_json.click if value_json.type == 'press' else '' }}",
                "payload": click,
                "type": trigger_type,
                "subtype": "button_1",
                "qos": 1,
                "device": block,
            }
    if device.kind == "barcode_wand":
        configs[config_topic("tag", device.id, "scan")] = {
            "topic": events,
            "value_template": "{{ value_json.code if value_json.type == 'scan' else '' }}",
            "device": block,
        }
    configs[config_topic("sensor", device.id, "battery")] = {
        "name": "Battery",
        "unique_id": f"{node(device.id)}_battery",
        "state_topic": f"restock/v1/{device.id}/status",
        # The offline last will carries no voltage: keep the last known one.
        "value_template": "{{ value_json.battery_mv if value_json.battery_mv is defined else this.state }}",
        "device_class": "voltage",
        "unit_of_measurement": "mV",
        "state_class": "measurement",
        "entity_category": "diagnostic",
        "availability": _availability(device.id),
        "device": block,
    }
    if device.kind == "appliance_sensor":
        for slot, unit in sorted(slots.items()):
            config: dict[str, Any] = {
                "name": f"Level {slot}",
                "unique_id": f"{node(device.id)}_level_{slot}",
                "state_topic": level_topic(device.id, slot),
                "state_class": "measurement",
                "availability": _availability(device.id),
                "device": block,
            }
            if unit in UNITS:
                config["unit_of_measurement"] = UNITS[unit]
            configs[config_topic("sensor", device.id, f"level_{slot}")] = config
    return configs


class HomeAssistantSync:
    """Keeps the broker's retained discovery configs in step with the devices table."""

    def __init__(self, engine: Engine, bus: LiveBus, publish: Publish, connected: Callable[[], bool]) -> None:
        self.engine = engine
        self.bus = bus
        self.publish = publish
        self.connected = connected
        # What is on the broker now, per device: config topic → payload text.
        self._published: dict[str, dict[str, str]] = {}
        # Per device, the fields its configs depend on, as they were when they were published.
        self._published_for: dict[str, Signature] = {}

    async def remove(self, device_id: str) -> None:
        """Clear a device's configs (empty retained payloads) so Home Assistant forgets it."""
        with Session(self.engine) as session:
            device = repos.device(session, device_id)
            slots = repos.device_slots(session, device_id) if device is not None else {}
        topics = set(self._published.pop(device_id, {}))
        self._published_for.pop(device_id, None)
        if device is not None:
            topics |= set(discovery(device, slots))
        for topic in sorted(topics):
            await self.publish(topic, "", 1, True)

    def _snapshot(self, device_id: str | None) -> list[tuple[Device, dict[str, str]]]:
        with Session(self.engine, expire_on_commit=False) as session:
            if device_id is None:
                devices = list(repos.active_devices(session)) + list(repos.revoked_devices(session))
            else:
                one = repos.device(session, device_id)
                devices = [one] if one is not None else []
            return [(d, repos.device_slots(session, d.id) if d.kind == "appliance_sensor" else {}) for d in devices]

    async def sync(self, device_id: str | None = None) -> bool:
        """Publish what changed for one device (or all); False when the broker is unreachable."""
        for device, slots in await asyncio.to_thread(self._snapshot, device_id):
            wanted = {t: json.dumps(p, separators=(",", ":")) for t, p in discovery(device, slots).items()}
            if not device.active or device.household_id is None:
                wanted = {}
            have = self._published.get(device.id)
            if have is None and not wanted:
                # Revoked (or unpaired) and not published by this process: clear once, idempotently.
                have = {t: "?" for t in discovery(device, slots)}
            have = have or {}
            for topic in sorted(set(have) - set(wanted)):
                if not await self.publish(topic, "", 1, True):
                    return False
            for topic, payload in wanted.items():
                if have.get(topic) != payload and not await self.publish(topic, payload, 1, True):
                    return False
            self._published[device.id] = wanted
            self._published_for[device.id] = (device.household_id, device.name, device.active, device.firmware)
        return True

    def _unchanged(self, event: LiveEvent) -> bool:
        """Whether a device change leaves its configs as published (most changes are last_seen and battery)."""
        data = event.data
        seen = (event.household_id, data.get("name"), data.get("active"), data.get("firmware"))
        return self._published_for.get(str(data.get("id"))) == seen

    async def _level(self, data: dict[str, Any]) -> None:
        device_id, slot = str(data.get("device_id")), str(data.get("slot"))
        known = self._published.get(device_id, {})
        if config_topic("sensor", device_id, f"level_{slot}") not in known:
            await self.sync(device_id)
        await self.publish(level_topic(device_id, slot), f"{data.get('value')}", 1, True)

    async def run(self) -> None:
        """Sync everything whenever the hub's MQTT connection (re)appears, then follow device changes."""
        # Only what discovery depends on: under load every order is a live event, none of them news here.
        with self.bus.subscribe(None, frozenset({DEVICE, READING})) as changes:
            was_connected = False
            while True:
                now_connected = self.connected()
                if now_connected and not was_connected:
                    # A broker without persistence forgets retained configs on restart: publish them again.
                    self._published.clear()
                    self._published_for.clear()
                    now_connected = await self.sync()
                was_connected = now_connected
                event = await changes.get(within=1.0)
                if event is None or not was_connected:
                    continue
                try:
                    # Every event a device sends changes its row (last_seen); under load, a database read per
                    # device per batch only to find the same configs cost the ingest loop more than the events.
                    if event.kind == DEVICE and not self._unchanged(event):
                        was_connected = await self.sync(str(event.data.get("id")))
                    elif event.kind == READING:
                        await self._level(event.data)
                except Exception:
                    log.exception("home assistant discovery update failed")
