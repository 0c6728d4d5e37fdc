"""The firmware replay rule (docs/protocol.md §7.4) on the MicroPython Unix port: waits grow, jitter and reset."""

from __future__ import annotations

import json

import pytest

from tests.firmware.mp import run_micropython

pytestmark = pytest.mark.firmware

WAITS = """
import json
from link import replay_wait_ms
print(json.dumps([[replay_wait_ms(n) for _ in range(200)] for n in range(8)]))
"""

SCHEDULE = """
import json
import time
from link import Replays

r = Replays()
now = time.ticks_ms()
steps = []
for _ in range(6):  # seq 7 never answered: each publish makes the next wait longer
    assert r.is_due(7, now)
    replay = r.sent(7, now)
    wait = time.ticks_diff(r.due[7], now)
    assert not r.is_due(7, time.ticks_add(now, wait - 1))
    steps.append([replay, wait])
    now = time.ticks_add(now, wait)
r.answered(7)  # its feedback came
after = r.sent(7, now)  # the same seq again (as after a wrap): a first send, the first wait
first_again = time.ticks_diff(r.due[7], now)
r.spread([1, 2, 3, 4, 5, 6, 8, 9], now)
spread = [time.ticks_diff(r.due[s], now) for s in (1, 2, 3, 4, 5, 6, 8, 9)]
print(json.dumps({"steps": steps, "after": after, "first_again": first_again, "spread": spread}))
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


def test_an_unanswered_event_backs_off_and_a_feedback_resets_it() -> None:
    out = json.loads(run_micropython(SCHEDULE).strip().splitlines()[-1])
    replays = [replay for replay, _ in out["steps"]]
    assert replays == [False, True, True, True, True, True]
    waits = [wait for _, wait in out["steps"]]
    assert 10_000 <= waits[0] < 20_000 and 160_000 <= waits[-1] < 320_000
    assert waits[3] > waits[0] * 4
    assert out["after"] is False and 10_000 <= out["first_again"] < 20_000
    assert all(0 <= s < 10_000 for s in out["spread"]) and len(set(out["spread"])) > 4


def test_two_boots_draw_different_jitter() -> None:
    # Devices that lost their broker together boot or reconnect together: their jitter must not be equal.
    runs = [json.loads(run_micropython(WAITS).strip().splitlines()[-1])[0][:20] for _ in range(2)]
    assert runs[0] != runs[1]
