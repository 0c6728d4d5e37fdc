"""A replay of an event still waiting to be applied is dropped, not applied again: the waiting one's feedback
answers it. A hub that is behind then spends nothing on the replays its slowness causes."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from sqlmodel import Session, func, select

from hub.broker.mosquitto import MosquittoProcess
from hub.ingest.applier import Applier
from hub.ingest.messages import Message, Reply
from hub.ingest.mqtt import BrokerTarget, Ingest
from hub.ingest.processor import Processor
from hub.store.models import Order
from tests.hub.ingest.test_ingest_backpressure import _until
from tests.hub.ingest.world import BAD, GOOD, answers, build, press


def _read(message: Message, mid: int) -> Message:
    """The message as ingest receives it: its event key and payload read on arrival."""
    return replace(Message.read(message.topic, message.payload, message.received), mid=mid)


def test_a_replay_of_a_queued_event_is_released_at_once_and_applied_never(tmp_path: Path) -> None:
    engine = build(f"sqlite:///{tmp_path / 'hub.db'}")
    released: list[int] = []
    replies: list[Reply] = []
    lock = threading.Lock()

    def done(messages: Sequence[Message]) -> None:
        with lock:
            released.extend(m.mid for m in messages if m.mid is not None)

    def deliver(batch: list[Reply], size: int) -> None:
        with lock:
            replies.extend(batch)
        applier.published()

    applier = Applier(Processor(engine), deliver, done=done)
    applier.put(_read(press(GOOD, 1), 1))
    applier.put(_read(press(BAD, 1), 2))
    applier.put(_read(press(GOOD, 1), 3))  # the device replayed it: still queued
    assert released == [3] and applier.duplicates == 1
    applier.start()
    try:
        deadline = time.monotonic() + 60
        while len(released) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        applier.put(_read(press(GOOD, 1), 4))  # applied by now: not waiting, so it goes the full way
        while len(released) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        applier.stop()
        applier.join(60)
    assert sorted(released) == [1, 2, 3, 4] and applier.duplicates == 1
    assert [a["code"] for a in answers(replies, GOOD)] == ["ordered", "ordered"]  # the second: the stored one
    assert len({json.dumps(a) for a in answers(replies, GOOD)}) == 1
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Order)).one() == 2
    engine.dispose()


@pytest.mark.broker
async def test_a_hub_that_is_behind_answers_each_event_once_however_often_it_is_replayed(
    tmp_path: Path, mosquitto_factory: object
) -> None:
    broker: MosquittoProcess = mosquitto_factory()  # type: ignore[operator]
    database = tmp_path / "hub.db"
    engine = build(f"sqlite:///{database}")
    ingest = Ingest(BrokerTarget("127.0.0.1", broker.config.port), Processor(engine))
    task = asyncio.create_task(ingest.run())
    feedback: Counter[tuple[str, int]] = Counter()
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="devices")
    client.on_message = lambda _c, _u, m: feedback.update([(m.topic.split("/")[2], json.loads(m.payload)["seq"])])
    client.connect("127.0.0.1", broker.config.port)
    client.subscribe("restock/v1/+/cmd", qos=1)
    client.loop_start()
    turn = os.open(f"{database}.writers", os.O_RDWR | os.O_CREAT)  # held: no batch of the hub can commit
    try:
        await _until(ingest.connected.is_set, "ingest to connect", 10)
        fcntl.flock(turn, fcntl.LOCK_EX)
        events = [(device, seq) for seq in range(1, 51) for device in (GOOD, BAD)]

        def send(device: str, seq: int) -> None:
            client.publish(f"restock/v1/{device}/event", json.dumps({"seq": seq, "type": "press"}), qos=1)

        send(*events[0])  # taken into a batch, which then waits for the lock
        await _until(lambda: ingest.received == 1, "the first event to arrive", 10)
        await asyncio.sleep(0.3)
        for _ in range(3):  # sent, then replayed twice while the hub is stuck
            for event in events:
                send(*event)
        await _until(lambda: ingest.received >= 1 + 3 * len(events), "every copy to arrive", 20)
        fcntl.flock(turn, fcntl.LOCK_UN)
        await _until(lambda: set(feedback) >= set(events), "every event to be answered")
        await asyncio.sleep(1.0)  # time for any second answer to arrive
        # Only the first event was not waiting when its copies came (it was in the stuck batch): its first copy
        # was queued and answered with the stored feedback, the other copies (and all of every other event's)
        # were dropped. Applied again instead, each copy would have been answered once more: 300 answers.
        assert sum(feedback.values()) == len(events) + 1
        with Session(engine) as session:
            assert session.exec(select(func.count()).select_from(Order)).one() == len(events)
    finally:
        fcntl.flock(turn, fcntl.LOCK_UN)
        os.close(turn)
        client.loop_stop()
        client.disconnect()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        engine.dispose()
