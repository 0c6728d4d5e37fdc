"""The hub on embedded defaults: amqtt in-process authenticates each device against the hub database."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
import pytest
from sqlmodel import Session

from hub.broker.mosquitto import free_port
from hub.services import devices as device_service
from hub.store import repos
from hub.store.db import make_engine
from simulator.protocol_device import ProtocolDevice
from tests.hub.conftest import Api, HubServer, add_button, sign_up

pytestmark = pytest.mark.broker


def _connect_result(port: int, device_id: str, secret: str) -> int:
    result: list[int] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=device_id)
    client.username_pw_set(device_id, secret)
    client.on_connect = lambda _c, _u, _f, reason, _p: result.append(reason.value)
    client.connect("127.0.0.1", port)
    client.loop_start()
    deadline = time.monotonic() + 10
    while not result and time.monotonic() < deadline:
        time.sleep(0.05)
    client.loop_stop()
    client.disconnect()
    return result[0] if result else -1


def _embedded_hub(start_hub: Callable[..., HubServer]) -> tuple[HubServer, int, Api]:
    """A hub on its embedded broker, with a signed-up household: the hub, the broker's port, the API."""
    server = start_hub(mqtt_url=None, embedded_mqtt_port=free_port())
    assert server.hub.broker is not None
    return server, server.hub.broker.port, sign_up(server.url)


def test_embedded_broker_uses_device_credentials_and_topic_rules(start_hub: Callable[..., HubServer]) -> None:
    server, port, api = _embedded_hub(start_hub)
    secret_a = add_button(api, "btn-a")
    secret_b = add_button(api, "btn-b")

    assert _connect_result(port, "btn-a", "wrong-secret") != 0
    assert _connect_result(port, "btn-ghost", secret_a) != 0
    assert _connect_result(port, "btn-a", secret_b) != 0

    a = ProtocolDevice("btn-a", port, secret_a)
    b = ProtocolDevice("btn-b", port, secret_b)
    a.connect()
    b.connect()
    try:
        assert a.wait_feedback(a.press())["code"] == "ordered"
        # A pretending to be B: the broker drops it, so B's button never orders.
        a.client.publish("restock/v1/btn-b/event", json.dumps({"seq": 99, "type": "press"}), qos=1)
        time.sleep(0.5)  # let a spoof that got through be processed first
        assert len(api.ok("GET", "/api/v1/orders")) == 1
        # Had the spoof landed, order protection would answer B's own press with `duplicate`.
        assert b.wait_feedback(b.press())["code"] == "ordered"
        orders = api.ok("GET", "/api/v1/orders")
        assert sorted(o["device_id"] for o in orders) == ["btn-a", "btn-b"]
    finally:
        a.close()
        b.close()


def test_revoke_cuts_a_connected_device_off(start_hub: Callable[..., HubServer]) -> None:
    """A revoked device is disconnected at once, not at its next login: it cannot even try to order."""
    server, port, api = _embedded_hub(start_hub)
    secret = add_button(api, "btn-lost")
    device = ProtocolDevice("btn-lost", port, secret)
    device.connect()
    try:
        assert device.wait_feedback(device.press())["code"] == "ordered"
        api.ok("POST", "/api/v1/devices/btn-lost/revoke")
        deadline = time.monotonic() + 10
        while device.connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not device.connected.is_set()
        assert _connect_result(port, "btn-lost", secret) != 0
    finally:
        device.close()


def test_revoke_from_another_process_cuts_the_device_off_within_a_sweep(
    start_hub: Callable[..., HubServer],
) -> None:
    """`restock device revoke` commits in its own process: the hub's sweep still disconnects the device."""
    server = start_hub(mqtt_url=None, embedded_mqtt_port=free_port(), revoke_sweep_seconds=0.2)
    assert server.hub.broker is not None
    api = sign_up(server.url)
    secret = add_button(api, "btn-cli")
    device = ProtocolDevice("btn-cli", server.hub.broker.port, secret)
    device.connect()
    try:
        assert device.wait_feedback(device.press())["code"] == "ordered"
        with Session(make_engine(server.hub.settings.resolved_database_url())) as session:  # as the CLI does
            found = repos.device(session, "btn-cli")
            assert found is not None
            device_service.revoke(session, found)
            session.commit()
        deadline = time.monotonic() + 10
        while device.connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not device.connected.is_set()
    finally:
        device.close()
