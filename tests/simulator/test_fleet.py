"""The fleet emulator against the real hub: every event gets its feedback, none is lost."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.broker.mosquitto import MosquittoProcess, free_port
from hub.broker.mosquitto_auth import write_acl_file, write_password_file
from simulator.codec import PUBACK, PUBLISH, codec
from simulator.fleet import next_packet, run_fleet
from tests.hub.conftest import HubServer, add_button, sign_up

pytestmark = [pytest.mark.broker]
RESTOCK = str(Path(sys.executable).parent / "restock")


def test_fleet_of_40_devices_every_event_answered(start_hub: Callable[..., HubServer], broker) -> None:  # type: ignore[no-untyped-def]
    server = start_hub()
    api = sign_up(server.url)
    api.ok("PATCH", "/api/v1/household", json={"allow_multiple_orders": True})
    ids = [f"fleet-{n:03d}" for n in range(40)]
    for device_id in ids:
        add_button(api, device_id, sku="DSH-500", mode="cart")
    stats = asyncio.run(run_fleet("127.0.0.1", broker.port, [(d, None) for d in ids], rate=200, duration=2))
    assert stats.connected == 40 and stats.connect_failures == 0
    assert stats.sent == 400 and stats.feedback == 400
    assert stats.codes == {"in_cart": 400}
    cart = api.ok("GET", "/api/v1/cart")
    assert cart["lines"][0]["qty"] == 400

    # A second run with the same device ids sends new events: were its seqs the first run's again, the hub
    # would answer them from its store as replays and the cart would stay at 400.
    again = asyncio.run(run_fleet("127.0.0.1", broker.port, [(d, None) for d in ids], rate=200, duration=1))
    assert again.feedback == 200 and again.codes == {"in_cart": 200}
    assert api.ok("GET", "/api/v1/cart")["lines"][0]["qty"] == 600


def test_packets_are_cut_from_whatever_the_socket_gave() -> None:
    feedback = codec.publish("restock/v1/btn/cmd", b'{"type":"feedback","seq":1}' * 10, qos=1, pid=7)
    stream = feedback + codec.ack(PUBACK, 9) + feedback
    got, buffer = [], bytearray()
    for n in range(0, len(stream), 37):  # any split, also inside a header or its remaining length
        buffer += stream[n : n + 37]
        pos = 0
        while (packet := next_packet(buffer, pos)) is not None:
            first, body, pos = packet
            got.append((first & 0xF0, body))
        del buffer[:pos]
    assert [kind for kind, _ in got] == [PUBLISH, PUBACK, PUBLISH] and buffer == b""
    assert got[0][1] == got[2][1] == feedback[3:] and got[1][1] == b"\x00\x09"
    with pytest.raises(ConnectionError):
        next_packet(bytearray(b"\x30\xff\xff\xff\xff\x01"), 0)


def test_fleet_refused_by_a_broker_with_logins_says_why_and_what_to_do(
    mosquitto_factory: Callable[..., MosquittoProcess], tmp_path: Path
) -> None:
    passwords, acl = tmp_path / "passwd", tmp_path / "acl"
    write_password_file(passwords, {"known-device": "its-secret"})
    write_acl_file(acl, "hub")
    secured = mosquitto_factory(password_file=passwords, acl_file=acl)
    result = subprocess.run(
        [RESTOCK, "sim", "fleet", "--devices", "5", "--duration", "1", "--port", str(secured.port)],
        capture_output=True, text=True, timeout=60, check=False, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert re.search(r"5 devices refused by the broker: (not authorised|bad user name or password) — create them "
                     r"with `restock device add` or pass --credentials", out), out


def test_fleet_with_nothing_on_the_port_says_so() -> None:
    port = free_port()
    result = subprocess.run(
        [RESTOCK, "sim", "fleet", "--devices", "2", "--duration", "1", "--port", str(port)],
        capture_output=True, text=True, timeout=60, check=False, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert f"2 devices could not connect to 127.0.0.1:{port}: nothing listens there — start the hub" in out, out
