"""Broker test fixtures: recording aiomqtt clients, a paho device that vanishes, refusal checks.

Everything is offered as fixtures, so the test modules import nothing from here (works with or without
__init__.py files in the test tree).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

TIMEOUT = 5.0


def refused_code(exc: aiomqtt.MqttError) -> int:
    """The CONNACK code of a refused connection as an int (paho gives ints or ReasonCodes)."""
    rc = getattr(exc, "rc", None)
    return int(getattr(rc, "value", rc if rc is not None else -1))


# MQTT 3.1.1 CONNACK 4/5 (bad credentials / not authorised), or paho's MQTT 5 style names for them.
REFUSED = {4, 5, 134, 135}


class Probe:
    """A connected client that keeps every message it receives, in order."""

    def __init__(self, client: aiomqtt.Client, name: str) -> None:
        self.client = client
        self.name = name
        self.received: list[aiomqtt.Message] = []
        self._arrived = asyncio.Event()

    async def pump(self) -> None:
        """Record incoming messages until cancelled."""
        async for message in self.client.messages:
            self.received.append(message)
            self._arrived.set()

    async def subscribe(self, topic: str) -> bool:
        """Subscribe with QoS 1; True if the broker granted it."""
        codes = await self.client.subscribe(topic, qos=1)
        return all(not getattr(c, "is_failure", c >= 0x80) for c in codes)  # type: ignore[operator]

    async def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Publish with QoS 1 (returns once the broker acknowledged)."""
        await self.client.publish(topic, payload, qos=1, retain=retain)

    def topics(self) -> list[str]:
        """Topics received so far."""
        return [m.topic.value for m in self.received]

    async def wait_for(self, topic: str, payload: bytes | None = None) -> aiomqtt.Message:
        """Wait (up to TIMEOUT) until a message on topic, with payload if given, has arrived."""
        try:
            async with asyncio.timeout(TIMEOUT):
                while True:
                    for m in self.received:
                        if m.topic.value == topic and (payload is None or m.payload == payload):
                            return m
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            raise AssertionError(f"{self.name}: nothing on {topic!r} within {TIMEOUT} s; got {self.topics()}") from None


Connect = Callable[..., Awaitable[Probe]]


def _connect_then_vanish(port: int, device_id: str, secret: str, status: bytes, will: bytes) -> None:
    """Blocking (run in a thread): a paho device that publishes retained status, then loses its socket."""
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=device_id, protocol=paho.MQTTv311)
    c.username_pw_set(device_id, secret)
    topic = f"restock/v1/{device_id}/status"
    c.will_set(topic, will, qos=1, retain=True)
    c.connect("127.0.0.1", port, keepalive=30)
    deadline = time.monotonic() + TIMEOUT
    while not c.is_connected():
        assert time.monotonic() < deadline, "device did not connect"
        c.loop(0.05)
    info = c.publish(topic, status, qos=1, retain=True)
    while not info.is_published():
        assert time.monotonic() < deadline, "status was not acknowledged"
        c.loop(0.05)
    # No DISCONNECT packet: the broker must treat this as an abnormal loss and send the will.
    sock = c.socket()
    assert sock is not None
    sock.close()


@pytest.fixture
async def mqtt_connect() -> AsyncIterator[Connect]:
    """Connect recording clients: connect(port, username, password, client_id=None, will=None)."""
    async with contextlib.AsyncExitStack() as stack:

        async def connect(
            port: int,
            username: str | None,
            password: str | None,
            client_id: str | None = None,
            will: aiomqtt.Will | None = None,
            clean_session: bool = True,
        ) -> Probe:
            client = aiomqtt.Client(
                "127.0.0.1", port, username=username, password=password,
                identifier=client_id or username or "anonymous", will=will,
                protocol=aiomqtt.ProtocolVersion.V311, clean_session=clean_session, timeout=TIMEOUT,
            )
            await stack.enter_async_context(client)
            probe = Probe(client, client_id or username or "anonymous")
            task = asyncio.create_task(probe.pump())

            async def cancel() -> None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await task

            stack.push_async_callback(cancel)
            return probe

        yield connect


@pytest.fixture
def vanishing_device() -> Callable[[int, str, str, bytes, bytes], Awaitable[None]]:
    """Run a device that publishes retained status, then drops its socket (abnormal loss)."""

    async def run(port: int, device_id: str, secret: str, status: bytes, will: bytes) -> None:
        await asyncio.to_thread(_connect_then_vanish, port, device_id, secret, status, will)

    return run


@pytest.fixture
def expect_refused(mqtt_connect: Connect) -> Callable[..., Awaitable[None]]:
    """expect_refused(port, username, password, **kw): assert the broker refuses that login."""

    async def check(port: int, username: str | None, password: str | None, **kw: Any) -> None:
        with pytest.raises(aiomqtt.MqttError) as info:
            await mqtt_connect(port, username, password, **kw)
        assert refused_code(info.value) in REFUSED, info.value

    return check
