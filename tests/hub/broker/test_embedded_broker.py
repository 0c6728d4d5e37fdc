"""The embedded amqtt broker: logins, per-device topic ACL, retained status and will, clean stop."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
import pytest
from argon2 import PasswordHasher
from paho.mqtt.enums import CallbackAPIVersion

from hub.broker.credentials import Argon2CredentialStore
from hub.broker.embedded import HUB_USERNAME, EmbeddedBroker, Principal, may_publish, may_subscribe
from hub.broker.errors import BrokerError
from hub.broker.mosquitto import free_port

pytestmark = pytest.mark.broker

# "Nothing arrived" checks wait this long *after* a positive control message proved delivery works.
QUIET_WINDOW = 0.5
Connect = Callable[..., Awaitable[Any]]
Refused = Callable[..., Awaitable[None]]
Vanish = Callable[[int, str, str, bytes, bytes], Awaitable[None]]

HUB_PASSWORD = "hub-secret-1"
SECRETS = {"dev-a": "secret-a", "dev-b": "secret-b", "dev-revoked": "secret-r"}


class MemoryStore:
    """In-memory CredentialStore test double: fixed secrets, one revoked device."""

    def __init__(self) -> None:
        self.revoked = {"dev-revoked"}
        self.calls = 0

    async def check_device(self, device_id: str, secret: str) -> bool:
        self.calls += 1
        return device_id not in self.revoked and SECRETS.get(device_id) == secret


@pytest.fixture
async def broker() -> AsyncIterator[EmbeddedBroker]:
    async with EmbeddedBroker(MemoryStore(), hub_password=HUB_PASSWORD, port=0) as b:
        yield b


@pytest.mark.parametrize(
    ("username", "password", "client_id"),
    [
        ("dev-a", "wrong", "dev-a"),
        ("dev-zz", "secret-a", "dev-zz"),  # unknown device
        ("dev-revoked", "secret-r", "dev-revoked"),
        (None, None, "dev-a"),  # no credentials at all
        ("dev-a", None, "dev-a"),  # username without password
        ("dev-a", "secret-a", "someone-else"),  # client id must be the device id
        ("Dev-A/#", "secret-a", "Dev-A/#"),  # not a device id
        (HUB_USERNAME, "wrong", "restock-hub"),
    ],
)
async def test_bad_logins_are_refused(
    broker: EmbeddedBroker, expect_refused: Refused, username: str | None, password: str | None, client_id: str
) -> None:
    await expect_refused(broker.port, username, password, client_id=client_id)


async def test_device_publishes_only_on_its_own_topics(broker: EmbeddedBroker, mqtt_connect: Connect) -> None:
    hub = await mqtt_connect(broker.port, HUB_USERNAME, HUB_PASSWORD, client_id="restock-hub")
    assert await hub.subscribe("restock/#")
    a = await mqtt_connect(broker.port, "dev-a", "secret-a")
    for topic in ("restock/v1/dev-b/event", "restock/v1/dev-b/status", "restock/v1/dev-a/../dev-b/event",
                  "restock/v1/dev-a/event/extra", "restock/v1/dev-a/cmd", "homeassistant/x/config"):
        await a.publish(topic, b"forged")
    await a.publish("restock/v1/dev-a/event", b"control")
    await a.publish("restock/v1/dev-a/status", b"status-control")
    await hub.wait_for("restock/v1/dev-a/status", b"status-control")
    await asyncio.sleep(QUIET_WINDOW)
    assert hub.topics() == ["restock/v1/dev-a/event", "restock/v1/dev-a/status"]


async def test_device_reads_only_its_own_cmd(broker: EmbeddedBroker, mqtt_connect: Connect) -> None:
    hub = await mqtt_connect(broker.port, HUB_USERNAME, HUB_PASSWORD, client_id="restock-hub")
    a = await mqtt_connect(broker.port, "dev-a", "secret-a")
    b = await mqtt_connect(broker.port, "dev-b", "secret-b")
    for topic_filter in ("restock/v1/dev-b/cmd", "restock/v1/+/cmd", "#", "restock/#", "+/v1/dev-b/cmd",
                         "restock/v1/dev-a/../dev-b/cmd", "restock/v1/dev-b/event"):
        assert not await a.subscribe(topic_filter), topic_filter
    assert await a.subscribe("restock/v1/dev-a/cmd")
    assert await b.subscribe("restock/v1/dev-b/cmd")
    await hub.publish("restock/v1/dev-b/cmd", b"for-b")
    await hub.publish("restock/v1/dev-a/cmd", b"for-a")
    await b.wait_for("restock/v1/dev-b/cmd", b"for-b")
    await a.wait_for("restock/v1/dev-a/cmd", b"for-a")
    await asyncio.sleep(QUIET_WINDOW)
    assert [m.payload for m in a.received] == [b"for-a"]
    assert [m.payload for m in b.received] == [b"for-b"]


async def test_hub_account_is_limited_to_its_trees(broker: EmbeddedBroker, mqtt_connect: Connect) -> None:
    hub = await mqtt_connect(broker.port, HUB_USERNAME, HUB_PASSWORD, client_id="restock-hub")
    assert await hub.subscribe("restock/v1/+/event")
    assert await hub.subscribe("homeassistant/#")
    assert not await hub.subscribe("#")
    assert not await hub.subscribe("$SYS/#")


async def test_retained_status_and_last_will_reach_the_hub(
    broker: EmbeddedBroker, mqtt_connect: Connect, vanishing_device: Vanish
) -> None:
    online, offline = b'{"online": true}', b'{"online": false}'
    await vanishing_device(broker.port, "dev-a", "secret-a", online, offline)
    # Subscribed after the device went away: the will (retained) replaced the retained online status.
    late = await mqtt_connect(broker.port, HUB_USERNAME, HUB_PASSWORD, client_id="hub-late")
    assert await late.subscribe("restock/v1/+/status")
    message = await late.wait_for("restock/v1/dev-a/status", offline)
    assert message.retain


async def test_hub_sees_retained_online_then_will(
    broker: EmbeddedBroker, mqtt_connect: Connect, vanishing_device: Vanish
) -> None:
    online, offline = b'{"online": true}', b'{"online": false}'
    hub = await mqtt_connect(broker.port, HUB_USERNAME, HUB_PASSWORD, client_id="restock-hub")
    assert await hub.subscribe("restock/v1/+/status")
    await vanishing_device(broker.port, "dev-b", "secret-b", online, offline)
    await hub.wait_for("restock/v1/dev-b/status", offline)
    assert [m.payload for m in hub.received] == [online, offline]
    b = await mqtt_connect(broker.port, "dev-b", "secret-b")
    await b.publish("restock/v1/dev-b/status", online, retain=True)
    fresh = await mqtt_connect(broker.port, HUB_USERNAME, HUB_PASSWORD, client_id="hub-2")
    assert await fresh.subscribe("restock/v1/dev-b/status")
    assert (await fresh.wait_for("restock/v1/dev-b/status", online)).retain


async def test_will_outside_own_topics_is_refused(broker: EmbeddedBroker, expect_refused: Refused) -> None:
    will = aiomqtt.Will("restock/v1/dev-b/event", b'{"seq": 1, "type": "press"}', qos=1)
    await expect_refused(broker.port, "dev-a", "secret-a", will=will)


async def test_no_retained_status_of_other_devices_leaks_on_connect(
    broker: EmbeddedBroker, mqtt_connect: Connect
) -> None:
    hub = await mqtt_connect(broker.port, HUB_USERNAME, HUB_PASSWORD, client_id="restock-hub")
    assert await hub.subscribe("restock/v1/+/status")
    b = await mqtt_connect(broker.port, "dev-b", "secret-b")
    await b.publish("restock/v1/dev-b/status", b'{"online": true}', retain=True)
    await hub.wait_for("restock/v1/dev-b/status")
    a = await mqtt_connect(broker.port, "dev-a", "secret-a")
    assert await a.subscribe("restock/v1/dev-a/cmd")
    await hub.publish("restock/v1/dev-a/cmd", b"control")
    await a.wait_for("restock/v1/dev-a/cmd", b"control")
    await asyncio.sleep(QUIET_WINDOW)
    assert a.topics() == ["restock/v1/dev-a/cmd"]


@pytest.mark.parametrize("clean_session", [True, False])
async def test_failed_login_does_not_disturb_the_real_device(
    broker: EmbeddedBroker, mqtt_connect: Connect, clean_session: bool
) -> None:
    hub = await mqtt_connect(broker.port, HUB_USERNAME, HUB_PASSWORD, client_id="restock-hub")
    assert await hub.subscribe("restock/#")
    a = await mqtt_connect(broker.port, "dev-a", "secret-a", clean_session=clean_session)
    assert await a.subscribe("restock/v1/dev-a/cmd")
    forged_will = aiomqtt.Will("restock/v1/dev-b/event", b"forged-will", qos=1)
    with pytest.raises(aiomqtt.MqttError):
        await mqtt_connect(broker.port, "dev-a", "guess", client_id="dev-a", will=forged_will,
                           clean_session=clean_session)
    await hub.publish("restock/v1/dev-a/cmd", b"still-there")
    await a.wait_for("restock/v1/dev-a/cmd", b"still-there")
    await a.publish("restock/v1/dev-a/event", b"control")
    await hub.wait_for("restock/v1/dev-a/event", b"control")
    await asyncio.sleep(QUIET_WINDOW)
    assert "restock/v1/dev-b/event" not in hub.topics()


async def test_argon2_store_works_in_the_broker(mqtt_connect: Connect) -> None:
    hashes = {"dev-a": PasswordHasher().hash("secret-a")}

    async def lookup(device_id: str) -> str | None:
        return hashes.get(device_id)

    async with EmbeddedBroker(Argon2CredentialStore(lookup), hub_password=HUB_PASSWORD, port=0) as b:
        a = await mqtt_connect(b.port, "dev-a", "secret-a")
        assert await a.subscribe("restock/v1/dev-a/cmd")
        with pytest.raises(aiomqtt.MqttError):
            await mqtt_connect(b.port, "dev-a", "secret-b", client_id="dev-a")


async def test_stop_leaves_no_tasks_and_frees_the_port() -> None:
    before = asyncio.all_tasks()
    broker = EmbeddedBroker(MemoryStore(), hub_password=HUB_PASSWORD, port=free_port())
    await broker.start()
    port = broker.port
    # A live device (paho in its own thread, so the broker's loop keeps running) and a silent socket.
    device = paho.Client(CallbackAPIVersion.VERSION2, client_id="dev-a", protocol=paho.MQTTv311)
    device.username_pw_set("dev-a", "secret-a")
    device.reconnect_delay_set(60, 60)
    await asyncio.to_thread(device.connect, "127.0.0.1", port)
    device.loop_start()
    info = device.publish("restock/v1/dev-a/event", b"x", qos=1)
    await asyncio.to_thread(info.wait_for_publish, 5)
    idle = await asyncio.to_thread(socket.create_connection, ("127.0.0.1", port))  # never sends CONNECT
    await broker.stop()
    device.loop_stop()
    idle.close()
    leftover = [t for t in asyncio.all_tasks() - before if not t.done()]
    assert leftover == []
    assert not broker.running
    async with EmbeddedBroker(MemoryStore(), hub_password=HUB_PASSWORD, port=port) as again:
        async with aiomqtt.Client("127.0.0.1", again.port, identifier="dev-b", username="dev-b",
                                  password="secret-b") as b:
            await b.publish("restock/v1/dev-b/event", b"y", qos=1)


async def test_port_in_use_raises_our_error() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(BrokerError, match="already in use"):
            await EmbeddedBroker(MemoryStore(), hub_password=HUB_PASSWORD, port=port).start()


@pytest.mark.parametrize(
    ("topic", "allowed"),
    [
        ("restock/v1/dev-a/event", True),
        ("restock/v1/dev-a/status", True),
        ("restock/v1/dev-a/cmd", False),
        ("restock/v1/dev-b/event", False),
        ("restock/v1/dev-a/../dev-b/event", False),
        ("restock/v1/dev-a/event/", False),
        ("restock/v1/+/event", False),
        ("#", False),
    ],
)
def test_device_publish_rule(topic: str, allowed: bool) -> None:
    assert may_publish(Principal("device", "dev-a"), topic) is allowed


@pytest.mark.parametrize(
    ("topic_filter", "allowed"),
    [
        ("restock/#", True),
        ("restock/v1/+/event", True),
        ("homeassistant/sensor/x/config", True),
        ("#", False),
        ("+/v1/dev-a/event", False),
        ("restock", False),
        ("other/thing", False),
    ],
)
def test_hub_subscribe_rule(topic_filter: str, allowed: bool) -> None:
    assert may_subscribe(Principal("hub", HUB_USERNAME), topic_filter) is allowed


async def test_disconnect_cuts_a_revoked_device_off_at_once(
    mqtt_connect: Connect, expect_refused: Refused
) -> None:
    store = MemoryStore()
    online, offline = b'{"online": true}', b'{"online": false}'
    async with EmbeddedBroker(store, hub_password=HUB_PASSWORD, port=0) as broker:
        hub = await mqtt_connect(broker.port, HUB_USERNAME, HUB_PASSWORD, client_id="restock-hub")
        assert await hub.subscribe("restock/v1/+/status")
        a = await mqtt_connect(broker.port, "dev-a", "secret-a", clean_session=False,
                               will=aiomqtt.Will("restock/v1/dev-a/status", offline, qos=1, retain=True))
        assert await a.subscribe("restock/v1/dev-a/cmd")
        await a.publish("restock/v1/dev-a/status", online, retain=True)
        await hub.wait_for("restock/v1/dev-a/status", online)
        store.revoked.add("dev-a")  # the revoke is committed: no new login from here on
        assert await broker.disconnect("dev-a")
        await hub.wait_for("restock/v1/dev-a/status", offline)  # the will: the household sees it offline
        with pytest.raises(aiomqtt.MqttError):
            await a.publish("restock/v1/dev-a/event", b'{"seq": 9, "type": "press", "click": "single"}')
        await expect_refused(broker.port, "dev-a", "secret-a", clean_session=False)
        assert not await broker.disconnect("dev-zz")  # nobody by that id: nothing to do
