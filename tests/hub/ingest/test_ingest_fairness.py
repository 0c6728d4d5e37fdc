"""A flooding device takes no more than its share of a batch, and what it sends beyond its share is visible."""

from __future__ import annotations

import json
import re
import threading

from sqlalchemy import Engine

from hub.ingest.applier import PER_DEVICE_BATCH, PER_DEVICE_QUEUE, Applier
from hub.ingest.messages import Reply
from hub.ingest.processor import Processor
from tests.hub.ingest.world import (
    BAD,
    GOOD,
    answers,
    assert_ordered,
    dead_letters,
    documented_reasons,
    message,
    press,
)


class Batches:
    """Runs an Applier on the real Processor and keeps each delivered batch's feedback, in order."""

    def __init__(self, engine: Engine) -> None:
        self.delivered: list[list[Reply]] = []
        self.changed = threading.Condition()
        self.applier = Applier(Processor(engine), self._deliver)

    def _deliver(self, replies: list[Reply], size: int) -> None:
        with self.changed:
            self.delivered.append(replies)
            self.changed.notify_all()
        self.applier.published()  # the event loop's part: the feedback is out

    def until(self, device_id: str, answers_: int) -> list[list[Reply]]:
        """Wait until a device got this many answers (a generous bound: a hang fails here, not a timing)."""

        def enough() -> bool:
            return sum(len(answers(batch, device_id)) for batch in self.delivered) >= answers_

        with self.changed:
            assert self.changed.wait_for(enough, 120), self.delivered
            return list(self.delivered)

    def stop(self) -> None:
        """Stop the apply thread."""
        self.applier.stop()
        self.applier.join(60)


def test_another_households_press_is_applied_in_the_first_batch_despite_a_flood(engine: Engine) -> None:
    flood = 600  # more than a whole batch (512), and more than a device may have queued
    run = Batches(engine)
    for seq in range(1, flood + 1):
        run.applier.put(press(BAD, seq))
    run.applier.put(press(GOOD, 1))
    run.applier.start()
    try:
        first = run.until(GOOD, 1)[0]
        assert_ordered(engine, first, GOOD, 1)
        assert len(answers(first, BAD)) == PER_DEVICE_BATCH
        batches = run.until(BAD, PER_DEVICE_QUEUE)
    finally:
        run.stop()
    # The flood's kept part is applied in order, a device's share per batch; the rest was shed, not lost in
    # silence: its dead letter names the device and how many it dropped (the device replays those events).
    answered = [a["seq"] for batch in batches for a in answers(batch, BAD)]
    assert answered == list(range(1, PER_DEVICE_QUEUE + 1))
    assert "rate_limited" in documented_reasons()
    letters = [d for d in dead_letters(engine, BAD) if d.reason == "rate_limited"]
    assert letters and all(d.device_id == BAD for d in letters)
    shed = sum(int(re.search(r"(\d+) messages", d.detail).group(1)) for d in letters)  # type: ignore[union-attr]
    assert shed == flood - PER_DEVICE_QUEUE
    assert json.loads(letters[0].payload)["seq"] == PER_DEVICE_QUEUE + 1


def test_a_device_within_its_share_loses_nothing(engine: Engine) -> None:
    # A device replaying a full outbox after an outage is not a flood: every event is applied.
    run = Batches(engine)
    for seq in range(1, PER_DEVICE_QUEUE + 1):
        run.applier.put(message(GOOD, "event", json.dumps({"seq": seq, "type": "press", "click": "double"})))
    run.applier.start()
    try:
        batches = run.until(GOOD, PER_DEVICE_QUEUE)
    finally:
        run.stop()
    assert [a["seq"] for batch in batches for a in answers(batch, GOOD)] == list(range(1, PER_DEVICE_QUEUE + 1))
    assert dead_letters(engine, GOOD) == []
