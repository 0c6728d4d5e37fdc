"""Ingest reads ahead of what it applies only so far: past its read-ahead, an event is acknowledged once applied.

Until the hub acknowledges something, the broker sends no more than its in-flight limit. Once acknowledgements
flow, mosquitto 2.0 sends its whole queue for the hub at once (its in-flight limit then bounds nothing), so what
bounds the hub's memory is the read-ahead and each device's share (hub/ingest/applier.py)."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from hub.broker.mosquitto import MosquittoProcess
from hub.ingest.applier import PER_DEVICE_QUEUE, Applier
from hub.ingest.messages import Message
from hub.ingest.mqtt import BrokerTarget, Ingest
from hub.ingest.processor import Processor
from tests.hub.ingest.world import BAD, GOOD, build, press

pytestmark = pytest.mark.broker
WINDOW = 40  # the broker's in-flight limit towards the hub in this test
AHEAD = 100  # events the hub takes and acknowledges before it has applied them


class Devices:
    """Two buttons publishing presses, and the feedback they get."""

    def __init__(self, port: int) -> None:
        self.answered: set[tuple[str, int]] = set()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="devices")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("restock/v1/+/cmd", qos=1)
        self.client.loop_start()

    def _on_message(self, _client: object, _userdata: object, message: paho.MQTTMessage) -> None:
        device = message.topic.split("/")[2]
        self.answered.add((device, json.loads(message.payload)["seq"]))

    def press(self, seqs: range) -> set[tuple[str, int]]:
        sent = set()
        for seq in seqs:
            for device in (GOOD, BAD):
                self.client.publish(f"restock/v1/{device}/event", json.dumps({"seq": seq, "type": "press"}), qos=1)
                sent.add((device, seq))
        return sent

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


async def _until(check: Callable[[], object], what: str, within_s: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_a_blocked_hub_acknowledges_only_its_read_ahead_and_answers_all_once_free(
    tmp_path: Path, mosquitto_factory: object
) -> None:
    broker: MosquittoProcess = mosquitto_factory(extra=(f"max_inflight_messages {WINDOW}",))  # type: ignore[operator]
    database = tmp_path / "hub.db"
    engine = build(f"sqlite:///{database}")
    ingest = Ingest(BrokerTarget("127.0.0.1", broker.config.port), Processor(engine), read_ahead=(AHEAD, 2**20))
    task = asyncio.create_task(ingest.run())
    devices = Devices(broker.config.port)
    # Every SQLite writer of the hub takes its turn on this lock first: held here, no batch can commit.
    turn = os.open(f"{database}.writers", os.O_RDWR | os.O_CREAT)
    try:
        await _until(ingest.connected.is_set, "ingest to connect", 10)
        fcntl.flock(turn, fcntl.LOCK_EX)
        sent = devices.press(range(1, 201))  # 400 events, ten times the window
        await _until(lambda: ingest.received >= AHEAD + WINDOW, "the read-ahead and a window of events", 20)
        await asyncio.sleep(1.0)  # time enough to take them all, if nothing held them back
        assert ingest.held == ingest.received and ingest.held - ingest.unacked == AHEAD, \
            "acknowledged before applied: the read-ahead, and nothing more"
        assert not devices.answered
        fcntl.flock(turn, fcntl.LOCK_UN)
        await _until(lambda: devices.answered >= sent, "every event to be answered")
        # Every event taken was acknowledged: the window is whole again for the next ones.
        more = devices.press(range(201, 261))
        await _until(lambda: devices.answered >= sent | more, "the next events to be answered")
        assert ingest.received == len(sent | more)
        await _until(lambda: ingest.held == ingest.unacked == 0, "every event to be released")
    finally:
        fcntl.flock(turn, fcntl.LOCK_UN)
        os.close(turn)
        devices.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        engine.dispose()


def test_every_message_is_released_once_applied_or_dropped(tmp_path: Path) -> None:
    """What the applier is done with, it says so once per message (the broker's window depends on it): the
    applied ones after their batch, the ones over a device's share at once."""
    engine = build(f"sqlite:///{tmp_path / 'hub.db'}")
    released: list[int] = []
    lock = threading.Lock()

    def done(messages: Sequence[Message]) -> None:
        with lock:
            released.extend(m.mid for m in messages if m.mid is not None)

    applier = Applier(Processor(engine), lambda replies, size: applier.published(), done=done)
    flood = PER_DEVICE_QUEUE + 100
    for seq in range(1, flood + 1):
        applier.put(replace(press(BAD, seq), mid=seq))
    applier.put(replace(press(GOOD, 1), mid=flood + 1))
    applier.start()
    try:
        deadline = time.monotonic() + 60
        while len(released) < flood + 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        applier.stop()
        applier.join(60)
        engine.dispose()
    assert sorted(released) == list(range(1, flood + 2))
