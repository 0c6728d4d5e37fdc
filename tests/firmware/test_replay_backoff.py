"""The firmware replay rule (docs/protocol.md §7.4) on the MicroPython Unix port: waits grow, jitter and reset."""

from __future__ import annotations

import json

import pytest

from tests.firmware.mp import run_micropython

pytestmark = [pytest.mark.firmware, pytest.mark.broker]

WAITS = """
import json
from link import replay_wait_ms
print(json.dumps([[replay_wait_ms(n) for _ in range(200)] for n in range(8)]))
"""

SCHEDULE = """
import json
import os
import select
import socket
import time

from link import Link
from mqtt import MQTTClient
from outbox import Outbox


def tcp(host, port, timeout_ms):
    s = socket.socket()
    s.settimeout(timeout_ms / 1000)
    s.connect(socket.getaddrinfo(host, port)[0][-1])
    return s


def wait(sock, ms):
    p = select.poll()
    p.register(sock, select.POLLIN)
    return bool(p.poll(ms))


class Board:  # the hardware: only what Link's outbox and command paths touch
    def note(self, kind, msg):
        pass


class Dev:  # a Link's state without Wi-Fi: the methods that run are Link's own
    pass


d = Dev()
d.board = Board()
d.outbox = Outbox(DIR, 8)
d._sent = {}
d.answers = {}
d.on_cmd = None
d.t_event = "restock/v1/vm-dev/event"
d.t_cmd = "restock/v1/vm-dev/cmd"
d.mqtt = MQTTClient("vm-dev", "127.0.0.1", PORT, None, None, 30, None, tcp, wait, True, 5000, None)
heard = []


def on_message(topic, payload):
    if topic == d.t_event:
        heard.append(json.loads(payload)["seq"])
    Link._on_message(d, topic, payload)


d.mqtt.on_message = on_message
d.mqtt.connect()
d.mqtt.subscribe("restock/v1/vm-dev/#", 1)  # hear our own events, and the feedback
d.outbox.add(7, b'{"seq": 7, "type": "press"}')
waits = []
for _ in range(7):
    Link._flush(d)
    waits.append(time.ticks_diff(d._sent[7][0], time.ticks_ms()))
    Link._flush(d)  # not due yet: nothing goes out
    d._sent[7][0] = time.ticks_ms()  # skip the wait rather than sleep through it
d.mqtt.check(500)
d.mqtt.publish(d.t_cmd, b'{"type": "feedback", "seq": 7, "code": "ordered"}', 1)
deadline = time.ticks_add(time.ticks_ms(), 5000)
while 7 in d.outbox.seqs and time.ticks_diff(deadline, time.ticks_ms()) > 0:
    d.mqtt.check(100)
reset = 7 not in d._sent and 7 not in d.outbox.seqs
d.outbox.add(8, b'{"seq": 8, "type": "press"}')
Link._flush(d)
first = time.ticks_diff(d._sent[8][0], time.ticks_ms())
print(json.dumps({"waits": waits, "heard": heard, "reset": reset, "first": first, "answers": d.answers}))
"""


def test_waits_double_up_to_the_cap_with_jitter() -> None:
    waits = json.loads(run_micropython(WAITS).strip().splitlines()[-1])
    for n, samples in enumerate(waits):
        d = min(10_000 * 2**n, 160_000)
        assert all(d <= w < 2 * d for w in samples), (n, min(samples), max(samples))
        assert len(set(samples)) > 50  # jittered, not one value for the whole fleet
        assert max(samples) - min(samples) > d // 2
    medians = [sorted(s)[100] for s in waits]
    assert medians[:5] == sorted(medians[:5]) and medians[4] > 10 * medians[0]
    assert max(max(s) for s in waits) < 320_000  # the cap: never more than about 5 minutes


def test_an_unanswered_event_backs_off_and_a_feedback_resets_it(mosquitto_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    broker = mosquitto_factory()
    code = SCHEDULE.replace("DIR", repr(str(tmp_path / "outbox"))).replace("PORT", str(broker.port))
    out = json.loads(run_micropython(code).strip().splitlines()[-1])
    waits = out["waits"]
    for n, wait in enumerate(waits):
        d = min(10_000 * 2**n, 160_000)
        assert d - 50 <= wait < 2 * d, (n, waits)
    assert waits[4] > 8 * waits[0] and waits[6] < 320_000
    assert out["heard"].count(7) == 7  # each publish reached the broker, and only the due ones were made
    assert out["reset"] and out["answers"] == {"7": "ordered"}
    assert 9_950 <= out["first"] < 20_000  # a new event starts again at the first wait


def test_two_boots_draw_different_jitter() -> None:
    # Devices that lost their broker together boot or reconnect together: their jitter must not be equal.
    runs = [json.loads(run_micropython(WAITS).strip().splitlines()[-1])[0][:20] for _ in range(2)]
    assert runs[0] != runs[1]
