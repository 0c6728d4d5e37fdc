"""The generated mosquitto.conf's size limits, against a real mosquitto."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hub.broker.limits import MAX_PACKET_BYTES
from hub.broker.mosquitto import MAX_QUEUED_BYTES, MAX_QUEUED_MESSAGES, MosquittoConfig, MosquittoProcess
from hub.ingest.processor import SEQ_SCAN_LIMIT
from tests.hub.broker.rawclient import RawClient, publish_header
from tests.provisioning.mqttclient import Client

pytestmark = pytest.mark.broker

HANG_UP = 10.0  # generous: mosquitto hangs up as soon as it has read the header


def test_config_sets_every_limit(tmp_path: Path) -> None:
    lines = set(MosquittoConfig(port=1883, data_dir=tmp_path).render().splitlines())
    assert {
        f"max_packet_size {MAX_PACKET_BYTES}",
        f"max_queued_messages {MAX_QUEUED_MESSAGES}",
        f"max_queued_bytes {MAX_QUEUED_BYTES}",
        "max_inflight_messages 1000",
    } <= lines


@pytest.mark.parametrize("declared", [100 * 2**20, 255 * 2**20, MAX_PACKET_BYTES])
def test_a_huge_publish_is_cut_off_at_its_header(
    mosquitto_factory: Callable[..., MosquittoProcess], declared: int
) -> None:
    broker = mosquitto_factory()
    hub = Client(broker.port)
    assert hub.connect() == 0
    hub.subscribe("restock/#")
    attacker = RawClient(broker.port)
    try:
        assert attacker.login("btn-huge") == 0
        attacker.send(publish_header("restock/v1/btn-huge/event", declared) + b"x" * 4096)
        assert attacker.closed_by_peer(HANG_UP)
    finally:
        attacker.close()
    control = Client(broker.port)
    assert control.connect() == 0
    control.publish("restock/v1/btn-ok/event", b"control")
    hub.wait_message("restock/v1/btn-ok/event")
    assert [t for t, _ in hub.messages] == ["restock/v1/btn-ok/event"]
    hub.close()
    control.close()


def test_oversize_payloads_the_hub_dead_letters_still_arrive(
    mosquitto_factory: Callable[..., MosquittoProcess],
) -> None:
    broker = mosquitto_factory()
    hub = Client(broker.port)
    assert hub.connect() == 0
    hub.subscribe("restock/#")
    device = Client(broker.port, client_id="btn-a")
    assert device.connect() == 0
    oversize = b'{"seq": 7, "type": "scan", "code": "' + b"[" * (SEQ_SCAN_LIMIT - 100) + b'"}'
    device.publish("restock/v1/btn-a/event", oversize)
    assert hub.wait_message("restock/v1/btn-a/event") == oversize
    hub.close()
    device.close()
