"""Two ingest processes on one database, racing on one event: nothing lost, nothing doubled, nothing dropped.

Under load a device replays an event while its first copy sits in another ingest process's batch, and the
shared subscription hands the copies to different processes. These tests make the race happen at the worst
moment with a second real processor (its own engine, as a second process has), started from a statement hook
of the first one's engine.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event, text
from sqlmodel import Session

from hub.ingest.processor import Processor
from hub.store.db import make_engine
from tests.hub.ingest.world import BAD, GOOD, answers, assert_ordered, press


def _once_after(engine: Engine, wanted: Callable[[str, Any], bool], action: Callable[[], None]) -> None:
    """Run `action` once, right after the first statement of `engine` that `wanted(statement, connection)`."""
    done = threading.Event()

    def hook(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not done.is_set() and wanted(statement, conn):
            done.set()
            action()

    event.listen(engine, "after_cursor_execute", hook)


def _orders(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.execute(text('SELECT count(*) FROM "order"')).scalar_one())


def test_a_key_another_process_stores_during_a_batch_is_answered_from_it(engine: Engine, database_url: str) -> None:
    first, other = Processor(engine), Processor(make_engine(database_url))
    theirs: list[Any] = []
    # The other process commits (GOOD, 7) just after this batch looked its keys up and found nothing.
    _once_after(engine, lambda sql, _c: "FROM processedevent" in sql and sql.lstrip().upper().startswith("SELECT"),
                lambda: theirs.extend(other.handle_batch([press(GOOD, 7)])))
    replies = first.handle_batch([press(GOOD, 6), press(GOOD, 7), press(BAD, 1)])
    assert len(theirs) == 1
    [mine] = [a for a in answers(replies, GOOD) if a["seq"] == 7]
    assert mine == json.loads(theirs[0].payload)  # the stored feedback, byte for byte
    assert_ordered(engine, replies, GOOD, 6)
    assert_ordered(engine, replies, BAD, 1)
    assert _orders(engine) == 3  # (GOOD, 7) ordered once
    # Applied again as one transaction, not message by message.
    assert (first.raced, first.fallbacks) == (1, 0)
    other.engine.dispose()


def test_a_batch_redone_message_by_message_is_not_lost_to_a_concurrent_writer(
    engine: Engine, database_url: str
) -> None:
    # A batch with a poison message is redone message by message in one transaction that reads before it
    # writes. Another process writing in between must wait for it, not make its writes fail ("database is
    # locked"), which would cost the whole batch.
    from tests.hub.ingest.test_ingest_poison import _poison_trigger

    _poison_trigger(engine, "processedevent", "NEW.seq = 666")
    first, other = Processor(engine), Processor(make_engine(database_url))
    writer: list[threading.Thread] = []
    theirs: list[Any] = []

    def other_process_writes() -> None:
        thread = threading.Thread(target=lambda: theirs.extend(other.handle_batch([press(GOOD, 50)])))
        thread.start()
        writer.append(thread)
        thread.join(1.0)  # it either commits now or waits for this transaction

    def in_the_redo(sql: str, _conn: Any) -> bool:
        return first.fallbacks == 1 and sql.lstrip().upper().startswith("SELECT")

    _once_after(engine, in_the_redo, other_process_writes)
    replies = first.handle_batch([press(GOOD, 1), press(BAD, 666), press(BAD, 1)])
    assert first.fallbacks == 1 and writer
    writer[0].join(30)
    assert_ordered(engine, replies, GOOD, 1)
    assert_ordered(engine, replies, BAD, 1)
    assert len(theirs) == 1
    assert_ordered(engine, theirs, GOOD, 50)
    other.engine.dispose()
