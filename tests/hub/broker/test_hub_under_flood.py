"""A hub on its embedded broker stays responsive while logged-in devices flood it: API and presses still answered."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import pytest

from hub.broker.mosquitto import free_port
from simulator.protocol_device import ProtocolDevice
from tests.hub.broker.rawclient import PINGREQ, RawClient, publish_header
from tests.hub.conftest import HubServer, add_button, sign_up

pytestmark = [pytest.mark.broker, pytest.mark.slow]

# Generous bounds for "still answered" and "hung up on": a healthy hub answers in well under a second; a 4 MB
# PINGREQ flood was reported to freeze it for over a minute before the limits.
ANSWER_WITHIN = 15.0


def _pingreq_flood(port: int, device: str, secret: str, hung_up: dict[str, bool], flooding: threading.Event) -> None:
    client = RawClient(port)
    assert client.login(device, secret) == 0
    # Read the PINGRESPs as they come, so the broker's writes never wait on us: it may spend all its time on us.
    drain = threading.Thread(target=lambda: hung_up.__setitem__(device, client.closed_by_peer(4 * ANSWER_WITHIN)))
    drain.start()
    chunk = PINGREQ * 2**16  # 128 KiB
    for n in range(32):  # 4 MB
        if not client.send(chunk):
            break
        if n == 1:
            flooding.set()
    flooding.set()
    drain.join()
    client.close()


def _huge_publish(port: int, device: str, secret: str, hung_up: dict[str, bool]) -> None:
    client = RawClient(port)
    assert client.login(device, secret) == 0
    # A 100 MB PUBLISH, dribbled: what is declared never all comes.
    sent = client.send(publish_header(f"restock/v1/{device}/event", 100 * 2**20))
    deadline = time.monotonic() + ANSWER_WITHIN
    while sent and time.monotonic() < deadline:
        sent = client.send(b"[" * 1024) and not client.closed_by_peer(0.1)
    hung_up[device] = not sent or client.closed_by_peer(ANSWER_WITHIN)
    client.close()


def test_api_and_presses_are_answered_during_a_flood(start_hub: Callable[..., HubServer]) -> None:
    server = start_hub(mqtt_url=None, embedded_mqtt_port=free_port())
    assert server.hub.broker is not None
    port = server.hub.broker.port
    attacker_api, victim_api = sign_up(server.url, "Attacker"), sign_up(server.url, "Innocent")
    flood_secret = add_button(attacker_api, "btn-flood")
    huge_secret = add_button(attacker_api, "btn-huge")
    victim = ProtocolDevice("btn-victim", port, add_button(victim_api, "btn-victim"))
    victim.connect()
    hung_up: dict[str, bool] = {}
    flooding = threading.Event()
    attacks = [
        threading.Thread(target=_pingreq_flood, args=(port, "btn-flood", flood_secret, hung_up, flooding), daemon=True),
        threading.Thread(target=_huge_publish, args=(port, "btn-huge", huge_secret, hung_up), daemon=True),
    ]
    try:
        for attack in attacks:
            attack.start()
        assert flooding.wait(ANSWER_WITHIN)
        health = httpx.get(f"{server.url}/healthz", timeout=ANSWER_WITHIN)
        assert health.status_code == 200 and health.json()["mqtt_connected"]
        assert victim.wait_feedback(victim.press(), timeout=ANSWER_WITHIN)["code"] == "ordered"
        for attack in attacks:
            attack.join(3 * ANSWER_WITHIN)
        assert hung_up == {"btn-flood": True, "btn-huge": True}
        # and the hub is still whole afterwards: a second press is answered too
        assert victim.wait_feedback(victim.press(), timeout=ANSWER_WITHIN)["code"] in {"duplicate", "ordered"}
    finally:
        victim.close()
