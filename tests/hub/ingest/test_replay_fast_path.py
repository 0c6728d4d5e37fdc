"""A replay of an event already applied is answered from memory, byte for byte as the first time; what memory
does not hold (a fresh process, a key another ingest process applied) is answered from the database the same."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import OperationalError

from hub.ingest.answered import Answered
from hub.ingest.applier import PER_DEVICE_QUEUE, Applier
from hub.ingest.messages import Reply
from hub.ingest.processor import Processor
from simulator.protocol_device import ProtocolDevice
from tests.hub.conftest import HubServer, add_button, sign_up
from tests.hub.ingest.world import BAD, GOOD, answers, message, press, stored_key
from tests.hub.test_metrics import eventually, scrape, total


def test_a_replay_is_answered_from_memory_byte_for_byte(engine: Engine) -> None:
    processor = Processor(engine)
    first = processor.handle_batch([press(GOOD, 1), press(GOOD, 2)])
    assert [a["code"] for a in answers(first, GOOD)] == ["ordered", "ordered"]

    again = processor.replay(press(GOOD, 1))
    assert again == first[0]  # same topic, same payload, byte for byte
    assert processor.replay(press(GOOD, 2)) == first[1]
    # Never seen, another device's key, a status: the full way.
    assert processor.replay(press(GOOD, 3)) is None
    assert processor.replay(press(BAD, 1)) is None
    assert processor.replay(message(GOOD, "status", json.dumps({"online": True}))) is None
    # A broken replay whose seq can be read gets the stored feedback, as the full way gives it.
    broken = message(GOOD, "event", json.dumps({"seq": 1, "type": "press", "click": "sideways"}))
    assert processor.replay(broken) == first[0]
    assert processor.handle_batch([broken]) == [first[0]]


def test_a_replay_answered_by_a_batch_from_the_database_is_remembered_too(engine: Engine) -> None:
    first = Processor(engine).handle_batch([press(GOOD, 7)])
    restarted = Processor(engine)  # a fresh process: nothing in memory
    assert restarted.replay(press(GOOD, 7)) is None
    assert restarted.handle_batch([press(GOOD, 7)]) == first
    assert restarted.replay(press(GOOD, 7)) == first[0]


def test_nothing_is_remembered_from_a_batch_that_did_not_commit(engine: Engine) -> None:
    processor = Processor(create_engine("sqlite:////nonexistent-folder/restock.db"))  # a database that is away
    with pytest.raises(OperationalError):
        processor.handle_batch([press(GOOD, 11)])
    assert len(processor.answered) == 0 and processor.replay(press(GOOD, 11)) is None
    assert stored_key(engine, GOOD, 11) is None


def test_a_replay_of_an_event_another_ingest_process_applied_gets_its_feedback(
    engine: Engine, database_url: str
) -> None:
    # Another process applies the event and prints its feedback; this process never saw it.
    script = textwrap.dedent(
        f"""
        import json, sys
        from hub.ingest.processor import Processor
        from hub.store.db import make_engine
        from tests.hub.ingest.world import press
        replies = Processor(make_engine({database_url!r})).handle_batch([press({GOOD!r}, 21)])
        sys.stdout.write(json.dumps([[r.topic, r.payload] for r in replies]))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    theirs = [Reply(topic, payload) for topic, payload in json.loads(done.stdout)]
    assert answers(theirs, GOOD)[0]["code"] == "ordered"

    ours = Processor(engine)
    assert ours.replay(press(GOOD, 21)) is None  # not in this process's memory
    assert ours.handle_batch([press(GOOD, 21)]) == theirs
    assert ours.replay(press(GOOD, 21)) == theirs[0]


def test_the_memory_is_bounded_and_forgets_the_oldest_first() -> None:
    answered = Answered(size=3)
    answered.remember([(GOOD, seq, "press", f'{{"seq":{seq}}}') for seq in range(1, 6)])
    assert len(answered) == 3
    assert answered.replay(press(GOOD, 1)) is None and answered.replay(press(GOOD, 2)) is None
    found = answered.replay(press(GOOD, 5))
    assert found is not None and found[1].payload == '{"seq":5}'


def test_messages_dropped_unanswered_are_counted(engine: Engine) -> None:
    applier = Applier(Processor(engine), lambda replies, size: None)  # never started: every message stays queued
    over = 40
    for seq in range(1, PER_DEVICE_QUEUE + over + 1):
        applier.put(press(BAD, seq))
    applier.put(press(GOOD, 1))
    assert applier.shed.total == 0  # the drops are counted when a batch takes them, or at the stop
    applier.stop()
    assert applier.shed.total == PER_DEVICE_QUEUE + over + 1


@pytest.mark.broker
def test_a_running_hub_answers_a_replay_without_a_batch(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice]
) -> None:
    server = start_hub()
    api = sign_up(server.url)
    add_button(api, "btn-replay")
    device = devices("btn-replay")
    seq = device.press()
    first = device.wait_feedback(seq)
    assert first["code"] == "ordered"
    eventually(lambda: total(scrape(server.url), "restock_ingest_events_total", type="press", outcome="ordered") >= 1)
    before = scrape(server.url)

    # The device did not hear it and sends the same event again (its outbox keeps the payload as sent).
    device.publish_raw(json.dumps({"seq": seq, "type": "press", "click": "single"}))
    device.wait_feedback(seq, count=2)
    raw = device.feedback[seq]  # type: ignore[index]
    assert raw[0] == raw[1], "a replay must get the stored feedback byte for byte"

    replays = "restock_ingest_events_total"
    eventually(lambda: total(scrape(server.url), replays, outcome="replay") > total(before, replays, outcome="replay"))
    after = scrape(server.url)
    batches = "restock_ingest_batch_messages_count"
    assert total(after, batches) == total(before, batches), "the replay went through a batch"
    assert len(api.ok("GET", "/api/v1/orders")) == 1
