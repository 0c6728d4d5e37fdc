"""The attacker's path: one household streams poison while another presses, through a real broker and hub.

Every poison message must end as a dead letter with a reason, and the innocent household must get every press
answered while the stream runs.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import pytest
from sqlmodel import Session, select

from hub.store.models import DeadLetter
from simulator.protocol_device import ProtocolDevice
from tests.hub.conftest import HubServer, add_button, sign_up

pytestmark = [pytest.mark.broker, pytest.mark.slow]

BIG = 2**63

# Payloads a device of household A sends on its event topic; each carries its own seq so its dead letter can be found.
EVENT_POISON: list[Callable[[int], str]] = [
    lambda seq: json.dumps({"seq": seq, "type": "press", "ts": 10**18}),
    lambda seq: json.dumps({"seq": seq, "type": "press", "ts": -(10**12)}),
    lambda seq: json.dumps({"seq": seq, "type": "press", "ts": BIG}),
    lambda seq: json.dumps({"seq": seq, "type": "press", "ts": 253402300800}),
    lambda seq: json.dumps({"seq": seq, "type": "press", "click": "single", "x": "["}) + "[" * 1500,
    lambda seq: f'{{"seq": {seq}, "type": "press", "pad": {"[" * 1200}}}',
    lambda seq: f'{{"seq": {seq}, "type": "scan", "code": "{"[" * 4000}"}}',  # oversize, seq still readable
    lambda seq: json.dumps({"seq": seq, "type": "level", "slot": "x", "value": 1e309 if seq % 2 else BIG, "unit": "g"}),
    lambda seq: f'{{"seq": {seq}, "type": "press", "click": "\\ud800"}}',
]

STATUS_POISON: list[str] = [
    json.dumps({"online": True, "fw": "1.0", "battery_mv": BIG}),
    json.dumps({"online": True, "fw": "1.0", "rssi": -BIG - 5}),
    json.dumps({"online": True, "fw": "1.0", "outbox": BIG}),
    '{"online": true, "fw": "\\udc00", "kind": "dash_button"}',
    '{"online": true, "fw": "1.0", "kind": "\\ud800x"}',
]


def test_poison_stream_from_one_household_costs_only_itself(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice]
) -> None:
    server = start_hub()
    attacker_api = sign_up(server.url, "Attacker")
    victim_api = sign_up(server.url, "Innocent")
    attacker_secret = add_button(attacker_api, "btn-poison")
    victim_secret = add_button(victim_api, "btn-innocent")
    # Order protection answers a second press `duplicate` while the first order is open; both are answers.
    victim_api.ok("PATCH", "/api/v1/household", json={"allow_multiple_orders": True})

    attacker = devices("btn-poison", attacker_secret)
    victim = devices("btn-innocent", victim_secret)

    sent_seqs: list[int] = []
    stop = threading.Event()

    def flood() -> None:
        seq = 10_000
        while not stop.is_set():
            for make in EVENT_POISON:
                attacker.publish_raw(make(seq))
                sent_seqs.append(seq)
                seq += 1
            for status in STATUS_POISON:
                attacker.publish_raw(status, channel="status")
            time.sleep(0.25)  # about 4 x 14 poison messages per second

    flooder = threading.Thread(target=flood, daemon=True)
    flooder.start()
    answered = 0
    try:
        for _ in range(20):
            seq = victim.press()
            feedback = victim.wait_feedback(seq, timeout=15)
            assert feedback["code"] in {"ordered", "duplicate"}
            answered += 1
    finally:
        stop.set()
        flooder.join(5)
    assert answered == 20

    # Every poison event ends as a dead letter with a reason, found by its seq.
    deadline = time.monotonic() + 20
    missing: set[int] = set(sent_seqs)
    while missing and time.monotonic() < deadline:
        with Session(server.hub.engine) as session:
            rows = session.exec(select(DeadLetter).where(DeadLetter.device_id == "btn-poison")).all()
        missing -= {d.seq for d in rows if d.reason and d.topic.endswith("/event")}
        time.sleep(0.5)
    assert not missing, f"{len(missing)} of {len(sent_seqs)} poison events have no dead letter"
    assert sum(d.topic.endswith("/status") for d in rows) >= len(STATUS_POISON), "poison statuses not dead-lettered"
    # Nothing of the attacker's reaches the other household.
    assert victim_api.ok("GET", "/api/v1/household/dead-letters") == []
    assert all(o["device_id"] == "btn-innocent" for o in victim_api.ok("GET", "/api/v1/orders"))
