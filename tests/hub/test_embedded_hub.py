"""The hub on embedded defaults: amqtt in-process authenticates each device against the hub database."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
import pytest

from hub.broker.mosquitto import free_port
from simulator.protocol_device import ProtocolDevice
from tests.hub.conftest import HubServer, add_button, sign_up

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


def test_embedded_broker_uses_device_credentials_and_topic_rules(start_hub: Callable[..., HubServer]) -> None:
    server = start_hub(mqtt_url=None, embedded_mqtt_port=free_port())
    assert server.hub.broker is not None
    port = server.hub.broker.port
    api = sign_up(server.url)
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
