"""The embedded broker's per-connection limits: packet size, packet and byte floods, half-sent packets, silence."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from hub.broker.embedded import HUB_USERNAME, EmbeddedBroker
from hub.broker.limits import MAX_MESSAGE_BYTES, MAX_PACKET_BYTES, ConnectionLimits, TokenBucket
from hub.domain.events import MAX_PAYLOAD
from hub.ingest.processor import SEQ_SCAN_LIMIT
from simulator.codec import codec
from tests.hub.broker.rawclient import PINGREQ, RawClient, publish_header

pytestmark = pytest.mark.broker

Connect = Callable[..., Awaitable[Any]]
HUB_PASSWORD = "hub-secret-1"
SECRETS = {f"dev-{n}": f"secret-{n}" for n in "abcdefgh"}
# Generous bounds for "the broker hangs up": the expected time is a few milliseconds.
HANG_UP = 10.0
# Limits with short deadlines, so the deadline tests take a second, not ten.
QUICK = ConnectionLimits(packet_deadline=0.5)


class Store:
    """CredentialStore double with fixed secrets."""

    async def check_device(self, device_id: str, secret: str) -> bool:
        return SECRETS.get(device_id) == secret


@pytest.fixture
async def broker() -> AsyncIterator[EmbeddedBroker]:
    async with EmbeddedBroker(Store(), hub_password=HUB_PASSWORD, port=0, limits=QUICK) as b:
        yield b


async def _login(port: int, device: str, **kw: Any) -> RawClient:
    client = await asyncio.to_thread(RawClient, port)
    assert await asyncio.to_thread(client.login, device, SECRETS[device], **kw) == 0
    return client


async def _hung_up(client: RawClient, within: float = HANG_UP) -> bool:
    try:
        return await asyncio.to_thread(client.closed_by_peer, within)
    finally:
        client.close()


async def _still_serves(port: int, mqtt_connect: Connect, device: str = "dev-h") -> None:
    """A control: another device's message still reaches the hub account."""
    hub = await mqtt_connect(port, HUB_USERNAME, HUB_PASSWORD, client_id="restock-hub")
    assert await hub.subscribe(f"restock/v1/{device}/event")
    other = await mqtt_connect(port, device, SECRETS[device])
    await other.publish(f"restock/v1/{device}/event", b"control")
    await hub.wait_for(f"restock/v1/{device}/event", b"control")


def test_limits_leave_room_for_every_oversize_payload_the_hub_dead_letters() -> None:
    assert MAX_PAYLOAD < SEQ_SCAN_LIMIT <= MAX_MESSAGE_BYTES < MAX_PACKET_BYTES


async def test_a_100_mb_publish_header_is_cut_off_at_once(
    broker: EmbeddedBroker, mqtt_connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    client = await _login(broker.port, "dev-a")
    # The header declares 100 MB; the body never comes in full. amqtt alone would wait for it forever.
    await asyncio.to_thread(client.send, publish_header("restock/v1/dev-a/event", 100 * 2**20) + b"x" * 4096)
    assert await _hung_up(client)
    assert any("'dev-a'" in r.getMessage() and "packet" in r.getMessage() for r in caplog.records)
    await _still_serves(broker.port, mqtt_connect)


@pytest.mark.parametrize(
    ("packet", "megabytes", "kind"),
    [(PINGREQ, 1, "packets"), (PINGREQ, 4, "packets"), (b"\x40\x02\x00\x07", 1, "acks")],
    ids=["pingreq-1mb", "pingreq-4mb", "puback-1mb"],
)
async def test_a_packet_flood_closes_the_connection_and_names_the_device(
    broker: EmbeddedBroker, mqtt_connect: Connect, caplog: pytest.LogCaptureFixture,
    packet: bytes, megabytes: int, kind: str,
) -> None:
    client = await _login(broker.port, "dev-b")
    await asyncio.to_thread(client.send, packet * (megabytes * 2**20 // len(packet)))
    assert await _hung_up(client)
    flood = [r for r in caplog.records if r.levelno == logging.WARNING and "'dev-b'" in r.getMessage()]
    assert flood and kind in flood[0].getMessage()
    await _still_serves(broker.port, mqtt_connect)


async def test_a_byte_flood_under_the_packet_rate_closes_the_connection(broker: EmbeddedBroker) -> None:
    client = await _login(broker.port, "dev-c")
    big = codec.publish("restock/v1/dev-c/event", b"x" * (MAX_MESSAGE_BYTES - 100), 0)
    await asyncio.to_thread(client.send, big * 40)  # 40 packets: far under the packet burst, 640 KiB of bytes
    assert await _hung_up(client)


async def test_a_flooder_is_refused_for_a_while(broker: EmbeddedBroker) -> None:
    client = await _login(broker.port, "dev-d")
    await asyncio.to_thread(client.send, PINGREQ * 2**19)
    assert await _hung_up(client)
    again = await asyncio.to_thread(RawClient, broker.port)
    try:
        assert await asyncio.to_thread(again.login, "dev-d", SECRETS["dev-d"]) != 0
    finally:
        again.close()


async def test_a_half_sent_packet_is_dropped_after_the_deadline(broker: EmbeddedBroker) -> None:
    client = await _login(broker.port, "dev-e")
    whole = codec.publish("restock/v1/dev-e/event", b'{"seq": 1, "type": "press"}', 1, pid=1)
    await asyncio.to_thread(client.send, whole[:10])
    assert await _hung_up(client)


async def test_an_oversize_connect_is_refused_before_its_body(broker: EmbeddedBroker) -> None:
    client = await asyncio.to_thread(RawClient, broker.port)
    await asyncio.to_thread(client.send, b"\x10" + codec.varlen(100 * 2**20) + b"\x00\x04MQTT\x04\xc2\x00\x3c")
    # Well inside the CONNECT timeout, which is what closed such a connection before.
    assert await _hung_up(client, within=5.0)


async def test_a_silent_device_is_dropped_after_one_and_a_half_keepalives_and_its_will_goes_out(
    broker: EmbeddedBroker, mqtt_connect: Connect
) -> None:
    hub = await mqtt_connect(broker.port, HUB_USERNAME, HUB_PASSWORD, client_id="restock-hub")
    assert await hub.subscribe("restock/v1/dev-f/status")
    client = await _login(broker.port, "dev-f", keepalive=1, will=("restock/v1/dev-f/status", b"offline"))
    await hub.wait_for("restock/v1/dev-f/status", b"offline")  # no PINGREQ ever came
    assert await _hung_up(client)


async def test_legitimate_bursts_pass(broker: EmbeddedBroker, mqtt_connect: Connect) -> None:
    """A replayed 32-event outbox, a status and one oversize event (which the hub dead-letters) all arrive."""
    hub = await mqtt_connect(broker.port, HUB_USERNAME, HUB_PASSWORD, client_id="restock-hub")
    assert await hub.subscribe("restock/v1/dev-g/#")
    device = await mqtt_connect(broker.port, "dev-g", SECRETS["dev-g"])
    for seq in range(1, 33):
        await device.publish("restock/v1/dev-g/event", b'{"seq": %d, "type": "press", "click": "single"}' % seq)
    await device.publish("restock/v1/dev-g/status", b'{"online": true}')
    oversize = b'{"seq": 33, "type": "scan", "code": "' + b"[" * (SEQ_SCAN_LIMIT - 100) + b'"}'
    await device.publish("restock/v1/dev-g/event", oversize)
    await hub.wait_for("restock/v1/dev-g/event", oversize)
    assert len(hub.received) == 34


async def test_the_hub_account_is_not_rate_limited(broker: EmbeddedBroker, mqtt_connect: Connect) -> None:
    hub = await mqtt_connect(broker.port, HUB_USERNAME, HUB_PASSWORD, client_id="restock-hub")
    device = await mqtt_connect(broker.port, "dev-h", SECRETS["dev-h"])
    assert await device.subscribe("restock/v1/dev-h/cmd")
    for n in range(QUICK.packet_burst + 200):  # more than a device may start at once
        await hub.client.publish("restock/v1/dev-h/cmd", b"%d" % n, qos=0)
    await hub.publish("restock/v1/dev-h/cmd", b"last")
    await device.wait_for("restock/v1/dev-h/cmd", b"last")


def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=10, burst=5, clock=lambda: now[0])
    assert all(bucket.take() for _ in range(5))
    assert not bucket.take()
    now[0] = 0.25  # 2.5 tokens back
    assert bucket.take(2)
    assert not bucket.take(1)
    now[0] = 100.0  # never more than the burst
    assert bucket.take(5)
    assert not bucket.take(1)
