"""Bad input of every kind lands in dead letters with its reason, and the ingest loop keeps going."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
import pytest
from sqlmodel import Session, select

from hub.broker.mosquitto import MosquittoProcess
from hub.store.models import DeadLetter, Device
from simulator.protocol_device import ProtocolDevice
from tests.conftest import EXAMPLES, example
from tests.hub.conftest import HubServer, add_button, sign_up

pytestmark = pytest.mark.broker
MALFORMED = EXAMPLES / "malformed"
EXPECTED: dict[str, str] = json.loads((MALFORMED / "expected.json").read_text())


def _dead_letters(server: HubServer) -> list[DeadLetter]:
    with Session(server.hub.engine) as session:
        return list(session.exec(select(DeadLetter).order_by(DeadLetter.id)).all())


def _wait(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.05)


def test_every_malformed_payload_is_dead_lettered_and_valid_presses_still_work(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice]
) -> None:
    server = start_hub()
    api = sign_up(server.url)
    add_button(api, "btn-garbage")
    device = devices("btn-garbage")

    for name in sorted(EXPECTED):
        device.publish_raw((MALFORMED / name).read_bytes())
    device.publish_raw(b"\xff\xfe not utf-8")
    device.publish_raw(b"")

    # A valid press after all the garbage still orders.
    assert device.wait_feedback(device.press())["code"] == "ordered"

    letters = _dead_letters(server)
    reasons = sorted(d.reason for d in letters)
    assert reasons == sorted([*EXPECTED.values(), "bad_json", "bad_json"])
    assert all(d.device_id == "btn-garbage" and d.detail for d in letters)

    # Where a seq was readable the device got a `rejected` feedback with that reason.
    for name, reason in EXPECTED.items():
        text = (MALFORMED / name).read_text()
        try:
            seq = json.loads(text).get("seq")
        except (ValueError, AttributeError):
            continue
        if isinstance(seq, int):
            feedback = device.wait_feedback(seq)
            assert (feedback["code"], feedback["reason"]) == ("rejected", reason), name
            assert set(feedback) <= set(example("feedback_rejected.json")), name


def test_unknown_device_and_foreign_topics_are_dead_lettered(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice], broker: MosquittoProcess
) -> None:
    server = start_hub()
    api = sign_up(server.url)
    add_button(api, "btn-real")
    rogue = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="rogue")
    rogue.connect("127.0.0.1", broker.port)
    rogue.loop_start()
    try:
        rogue.publish("restock/v1/btn-ghost/event", json.dumps(example("event_press.json")), qos=1).wait_for_publish()
        rogue.publish("restock/v1/NOT A ID/event", b"{}", qos=1).wait_for_publish()
        rogue.publish("restock/v1/btn-ghost/status", b'{"online": true}', qos=1).wait_for_publish()
        _wait(lambda: len(_dead_letters(server)) >= 3)
    finally:
        rogue.loop_stop()
        rogue.disconnect()
    reasons = sorted(d.reason for d in _dead_letters(server))
    assert reasons == ["bad_field", "unknown_device", "unknown_device"]
    # The real device is untouched and still works.
    device = devices("btn-real")
    assert device.wait_feedback(device.press())["code"] == "ordered"


def test_status_and_last_will_update_the_device(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice]
) -> None:
    server = start_hub()
    api = sign_up(server.url)
    add_button(api, "btn-status")
    device = devices("btn-status")
    device.publish_raw(json.dumps(example("status_online.json")), channel="status", retain=True)
    _wait(lambda: api.ok("GET", "/api/v1/devices/btn-status")["online"] is True)
    shown = api.ok("GET", "/api/v1/devices/btn-status")
    assert (shown["battery_mv"], shown["rssi"], shown["firmware"]) == (2980, -61, "0.1.0")

    # Dropping the connection without DISCONNECT fires the last will: offline.
    device.client.socket().close()  # type: ignore[union-attr]
    _wait(lambda: api.ok("GET", "/api/v1/devices/btn-status")["online"] is False, timeout=60)
    with Session(server.hub.engine) as session:
        stored = session.get(Device, "btn-status")
        assert stored is not None and stored.battery_mv == 2980
