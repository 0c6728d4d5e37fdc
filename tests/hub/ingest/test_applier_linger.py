"""An idle apply thread waits a moment for more messages, so a trickle of events is applied a few at a time."""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine

from hub.ingest.applier import Applier
from hub.ingest.messages import Reply
from hub.ingest.processor import Processor
from tests.hub.ingest.world import GOOD, answers, press


class Sizes:
    """The size of each batch an applier delivers."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.replies: list[Reply] = []
        self.changed = threading.Condition()

    def deliver(self, replies: list[Reply], size: int) -> None:
        with self.changed:
            self.sizes.append(size)
            self.replies.extend(replies)
            self.changed.notify_all()

    def until(self, messages: int) -> list[int]:
        with self.changed:
            assert self.changed.wait_for(lambda: sum(self.sizes) >= messages, 60), self.sizes
            return list(self.sizes)


def _run(engine: Engine, linger_s: float) -> Sizes:
    sizes = Sizes()
    applier = Applier(
        Processor(engine), lambda replies, size: (sizes.deliver(replies, size), applier.published()), linger_s=linger_s
    )
    applier.start()
    try:
        first = 1 if linger_s else 11
        applier.put(press(GOOD, first))
        time.sleep(0.05)  # far less than the linger, far more than a thread needs to wake
        applier.put(press(GOOD, first + 1))
        sizes.until(2)
    finally:
        applier.stop()
        applier.join(60)
    assert [a["code"] for a in answers(sizes.replies, GOOD)] == ["ordered", "ordered"]
    return sizes


def test_messages_arriving_within_the_linger_share_a_batch(engine: Engine) -> None:
    assert _run(engine, linger_s=1.0).sizes == [2]


def test_without_a_linger_the_first_message_is_applied_alone(engine: Engine) -> None:
    assert _run(engine, linger_s=0.0).sizes == [1, 1]
