"""The generated mosquitto files against a hostile client holding one device's valid credentials."""

from __future__ import annotations

import itertools

import pytest

from hub.broker import mosquitto_files as brokerfiles
from tests.provisioning.conftest import GeneratedBroker
from tests.provisioning.mqttclient import Client

pytestmark = pytest.mark.broker

DEVICES = {"btn-a": "secret-a-" + "x" * 20, "btn-b": "secret-b-" + "y" * 20, "wand-c": "secret-c-" + "z" * 20}


def _setup(gb: GeneratedBroker) -> Client:
    for device_id, secret in DEVICES.items():
        brokerfiles.add_device(gb.files, device_id, secret)
    assert brokerfiles.reload(gb.files)  # returns once mosquitto has applied the files
    hub = Client(gb.port, "_hub", gb.hub_password)
    assert hub.connect() == 0
    hub.subscribe("restock/#")
    return hub


def _device(gb: GeneratedBroker, device_id: str, *, tls: bool = False, client_id: str | None = None) -> Client:
    c = Client(gb.tls_port if tls else gb.port, device_id, DEVICES[device_id], client_id=client_id or device_id,
               ca=gb.pki.ca_cert if tls else None, host="localhost" if tls else "127.0.0.1")
    assert c.connect() == 0
    return c


def test_device_publishing_on_other_devices_topics_reaches_nobody(generated_broker: GeneratedBroker) -> None:
    """Device A publishes on every topic of B and C (and wildcard-ish ones): only its own reach the hub."""
    gb = generated_broker
    hub = _setup(gb)
    a = _device(gb, "btn-a")
    foreign = [f"restock/v1/{d}/{ch}" for d, ch in itertools.product(("btn-b", "wand-c"), ("event", "status", "cmd"))]
    foreign += ["restock/v1/btn-a/cmd", "restock/v1/btn-a", "restock/v1/btn-a/event/x", "restock/v2/btn-a/event",
                "homeassistant/x/config", "restock/v1/btn-b/event/", "/restock/v1/btn-b/event"]
    for topic in foreign:
        a.publish(topic, b'{"seq": 1, "type": "press", "click": "single"}')
    a.publish("restock/v1/btn-a/event", b'{"seq": 2, "type": "press", "click": "single"}')  # its own: allowed
    hub.wait_message("restock/v1/btn-a/event")  # in order after all the foreign ones
    assert [t for t, _ in hub.messages] == ["restock/v1/btn-a/event"]


def test_device_subscribing_to_other_devices_cmd_receives_nothing(generated_broker: GeneratedBroker) -> None:
    """A subscribes to B's cmd and to wildcards; the hub's cmd for B reaches B only."""
    gb = generated_broker
    hub = _setup(gb)
    a = _device(gb, "btn-a")
    b = _device(gb, "btn-b")
    for topic in ("restock/v1/btn-b/cmd", "restock/v1/+/cmd", "restock/#", "#", "restock/v1/btn-b/#"):
        a.subscribe(topic)
    b.subscribe("restock/v1/btn-b/cmd")
    hub.publish("restock/v1/btn-b/cmd", b'{"type": "feedback", "seq": 1, "code": "ordered"}')
    hub.publish("restock/v1/btn-a/cmd", b'{"type": "feedback", "seq": 9, "code": "ordered"}')
    b.wait_message("restock/v1/btn-b/cmd")
    a.subscribe("restock/v1/btn-a/cmd")  # a late own subscription: a.messages is complete once...
    hub.publish("restock/v1/btn-a/cmd", b'{"type": "feedback", "seq": 10, "code": "ordered"}')
    a.wait_message("restock/v1/btn-a/cmd")  # ...its own cmd arrives, queued behind anything else for it
    assert {t for t, _ in a.messages} == {"restock/v1/btn-a/cmd"}


def test_client_id_takeover_is_impossible_on_the_device_listener(generated_broker: GeneratedBroker) -> None:
    """On the TLS listener A cannot borrow B's client id to kick B off or inherit B's session."""
    gb = generated_broker
    hub = _setup(gb)
    b = _device(gb, "btn-b", tls=True)
    b.subscribe("restock/v1/btn-b/cmd")
    a = _device(gb, "btn-a", tls=True, client_id="btn-b")
    a.subscribe("restock/v1/btn-b/cmd")
    hub.publish("restock/v1/btn-b/cmd", b'{"type": "feedback", "seq": 1, "code": "ordered"}')
    b.wait_message("restock/v1/btn-b/cmd")
    assert not b.disconnected.is_set()
    assert a.messages == []


def test_wrong_password_and_unknown_user_are_refused(generated_broker: GeneratedBroker) -> None:
    """CONNACK 'not authorised' for a wrong secret, an unknown user and an anonymous client."""
    gb = generated_broker
    _setup(gb)
    assert Client(gb.port, "btn-a", "wrong-secret", client_id="btn-a").connect() != 0
    assert Client(gb.port, "btn-zz", "whatever", client_id="btn-zz").connect() != 0
    assert Client(gb.port).connect() != 0
    assert Client(gb.tls_port, "btn-a", "wrong", ca=gb.pki.ca_cert, host="localhost").connect() != 0


def test_revoke_removes_login_and_silences_the_live_session(generated_broker: GeneratedBroker) -> None:
    """After revoke + reload: no new login, and the connected session can neither publish nor receive."""
    gb = generated_broker
    hub = _setup(gb)
    b = _device(gb, "btn-b")
    b.subscribe("restock/v1/btn-b/cmd")
    assert brokerfiles.revoke_if_configured(gb.data_dir, "btn-b")  # returns once mosquitto applied it
    try:  # mosquitto 2.0 drops the session of a user missing from a reloaded password file; if not, the ACL holds
        b.publish("restock/v1/btn-b/event", b'{"seq": 5, "type": "press", "click": "single"}', timeout=2)
    except RuntimeError:
        assert b.disconnected.is_set()
    hub.publish("restock/v1/btn-b/cmd", b'{"type": "feedback", "seq": 5, "code": "ordered"}')
    a = _device(gb, "btn-a")  # a control: a device that was not revoked still works
    a.publish("restock/v1/btn-a/event", b'{"seq": 1, "type": "press", "click": "single"}')
    hub.wait_message("restock/v1/btn-a/event")
    assert "restock/v1/btn-b/event" not in [t for t, _ in hub.messages]
    assert b.messages == []
    assert Client(gb.port, "btn-b", DEVICES["btn-b"], client_id="btn-b").connect() != 0
    assert "btn-b" not in brokerfiles.read_password_lines(gb.files.passwd)
