"""One bad message costs only itself: it is dead-lettered, and the rest of its batch is applied and answered.

Each test mixes one hostile message from the attacker's button with a valid press from another household's
button in one batch, on every database backend.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlmodel import Session

from hub.domain.feedback import rejected
from hub.ingest.processor import Processor
from hub.store.db import make_engine
from hub.store.models import Device
from tests.hub.ingest.world import (
    BAD,
    GOOD,
    answers,
    assert_ordered,
    dead_letters,
    documented_reasons,
    message,
    press,
    stored_key,
)


def test_an_event_time_no_date_can_hold_is_a_bad_field(engine: Engine) -> None:
    processor = Processor(engine)
    times = {7: 10**18, 8: -(10**12), 9: 2**63, 10: 253402300800, 11: -1}
    bad = [message(BAD, "event", json.dumps({"seq": seq, "type": "press", "ts": ts})) for seq, ts in times.items()]
    replies = processor.handle_batch([*bad, press(GOOD, 1)])
    assert_ordered(engine, replies, GOOD, 1)
    assert [(a["seq"], a["code"], a["reason"]) for a in answers(replies, BAD)] == [
        (seq, "rejected", "bad_field") for seq in times
    ]
    letters = dead_letters(engine, BAD)
    assert [(d.reason, d.seq) for d in letters] == [("bad_field", seq) for seq in times]
    assert all("ts" in d.detail for d in letters)
    assert processor.fallbacks == 0, "validation, not the fallback, must catch it"


def test_the_last_second_a_date_can_hold_is_still_a_time(engine: Engine) -> None:
    # 9999-12-31T23:59:59Z is implausible for a device clock, so the hub's receive time is used (protocol §3).
    processor = Processor(engine)
    ok = message(BAD, "event", json.dumps({"seq": 8, "type": "press", "ts": 253402300799}))
    replies = processor.handle_batch([ok, press(GOOD, 1)])
    assert [a["code"] for a in answers(replies, BAD)] == ["ordered"]
    assert dead_letters(engine, BAD) == []


def _nested(prefix: str, depth: int) -> bytes:
    return (prefix + "[" * depth).encode()


@pytest.mark.parametrize(
    ("payload", "reason", "seq"),
    [
        (_nested("", 1020), "bad_json", None),
        (_nested('{"seq": 9, "type": "press", "x": ', 990), "bad_json", 9),
        (_nested("", 5000), "oversize", None),  # scanned for a seq, which must not recurse either
        (_nested('{"seq": 9, "type": "press", "x": ', 12000), "oversize", 9),
        (json.dumps({"seq": 9, "type": "press", "x": json.loads("[" * 600 + "]" * 600)}).encode(), "oversize", 9),
        (json.dumps({"seq": 9, "type": "press", "x": "["}).encode() + b"[" * 1500, "oversize", 9),
        (b'{"a": {"seq": 9, "x": ' + b"[" * 1500, "oversize", None),  # a nested seq is not the event's
    ],
    ids=["unclosed", "unclosed-after-seq", "oversize-unclosed", "oversize-unclosed-after-seq", "oversize-deep",
         "oversize-trailing", "oversize-nested-seq"],
)
def test_deeply_nested_json_is_dead_lettered_without_recursion(
    engine: Engine, payload: bytes, reason: str, seq: int | None
) -> None:
    processor = Processor(engine)
    replies = processor.handle_batch([message(BAD, "event", payload), press(GOOD, 1)])
    assert_ordered(engine, replies, GOOD, 1)
    [letter] = dead_letters(engine, BAD)
    assert (letter.reason, letter.seq) == (reason, seq)
    # Where a seq could be read from the broken payload, the device is told, so it stops replaying it.
    assert [(a["seq"], a["reason"]) for a in answers(replies, BAD)] == ([(seq, reason)] if seq else [])
    assert processor.fallbacks == 0


def test_a_deep_status_is_dead_lettered(engine: Engine) -> None:
    processor = Processor(engine)
    replies = processor.handle_batch([message(BAD, "status", _nested('{"online": true, "x": ', 1000)), press(GOOD, 1)])
    assert_ordered(engine, replies, GOOD, 1)
    assert [d.reason for d in dead_letters(engine, BAD)] == ["bad_json"]


def test_status_numbers_the_columns_cannot_hold_are_bad_fields(engine: Engine) -> None:
    processor = Processor(engine)
    cases = [(field, value) for field in ("battery_mv", "rssi", "outbox") for value in (2**63, 2**63 - 1, 2**31,
                                                                                         -(2**63) - 1)]
    statuses = [message(BAD, "status", json.dumps({"online": True, "fw": "0.1.0", f: v})) for f, v in cases]
    replies = processor.handle_batch([*statuses, press(GOOD, 1)])
    assert_ordered(engine, replies, GOOD, 1)
    letters = dead_letters(engine, BAD)
    assert [d.reason for d in letters] == ["bad_field"] * len(cases)
    assert all(field in d.detail for d, (field, _) in zip(letters, cases, strict=True))
    assert processor.fallbacks == 0
    with Session(engine) as session:
        device = session.get(Device, BAD)
        assert device is not None and (device.battery_mv, device.rssi, device.outbox, device.firmware) == (None,) * 4


def test_status_strings_the_database_rejects_are_bad_fields(engine: Engine) -> None:
    processor = Processor(engine)
    # Written as JSON escapes: the bytes are valid UTF-8, the decoded string is not storable.
    cases = [(field, bad) for field in ("fw", "kind") for bad in ("\\ud800", "0.1\\udfff", "a\\u0000b")]
    statuses = [message(BAD, "status", '{"online": true, "' + field + '": "' + bad + '"}') for field, bad in cases]
    replies = processor.handle_batch([*statuses, press(GOOD, 1)])
    assert_ordered(engine, replies, GOOD, 1)
    letters = dead_letters(engine, BAD)
    assert [d.reason for d in letters] == ["bad_field"] * len(cases)
    assert all(field in d.detail for d, (field, _) in zip(letters, cases, strict=True))
    assert processor.fallbacks == 0


def test_a_dead_letter_keeps_a_payload_the_database_could_not_store_as_is(engine: Engine) -> None:
    # A NUL byte is valid UTF-8 but PostgreSQL text cannot hold it; invalid UTF-8 and raw surrogates are escaped.
    processor = Processor(engine)
    raw = b'{"seq": 3, "type": "pre\x00ss"} \xed\xa0\x80 \xff'
    replies = processor.handle_batch([message(BAD, "event", raw), press(GOOD, 1)])
    assert_ordered(engine, replies, GOOD, 1)
    [letter] = dead_letters(engine, BAD)
    assert letter.reason == "bad_json"
    assert "\x00" not in letter.payload and "\\x00" in letter.payload and "\\xff" in letter.payload


def test_a_slot_with_a_trailing_newline_is_a_bad_field(engine: Engine) -> None:
    processor = Processor(engine)
    level = {"seq": 4, "type": "level", "slot": "b" * 32 + "\n", "value": 1, "unit": "g"}
    replies = processor.handle_batch([message(BAD, "event", json.dumps(level)), press(GOOD, 1)])
    assert_ordered(engine, replies, GOOD, 1)
    assert [(d.reason, d.seq) for d in dead_letters(engine, BAD)] == [("bad_field", 4)]


def test_feedback_is_always_storable_text() -> None:
    # The stored feedback is re-sent byte for byte, so it must survive the database whatever a detail quotes.
    text = rejected(3, "bad_field", "got '\ud800'").to_json()
    text.encode("utf-8")
    assert json.loads(text)["detail"] == "got '\ud800'"
    assert json.loads(rejected(3, "bad_field", "café").to_json())["detail"] == "café"


def _poison_trigger(engine: Engine, table: str, condition: str) -> None:
    """A real database trigger that refuses one row: a stand-in for a future bug in a handler."""
    with engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.execute(text(
                f"CREATE TRIGGER poison_{table} BEFORE INSERT ON {table} WHEN {condition} "
                "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
            ))
        else:
            connection.execute(text(
                f"CREATE FUNCTION poison_{table}() RETURNS trigger AS $$ BEGIN IF {condition} THEN "
                "RAISE EXCEPTION 'poisoned row' USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$ "
                "LANGUAGE plpgsql"
            ))
            connection.execute(text(
                f'CREATE TRIGGER poison_{table} BEFORE INSERT ON "{table}" FOR EACH ROW '
                f"EXECUTE FUNCTION poison_{table}()"
            ))


def test_a_handler_that_fails_while_applying_costs_only_its_message(engine: Engine) -> None:
    # The reading of a new slot is written while the event is applied (the slot is created at once).
    _poison_trigger(engine, "reading", "NEW.value = 666")
    processor = Processor(engine)
    level = {"seq": 5, "type": "level", "slot": "beans", "value": 666, "unit": "g"}
    replies = processor.handle_batch(
        [press(BAD, 1), message(BAD, "event", json.dumps(level)), press(GOOD, 1), press(BAD, 2), press(GOOD, 2)]
    )
    for seq in (1, 2):
        assert_ordered(engine, replies, GOOD, seq)
        assert_ordered(engine, replies, BAD, seq)
    [letter] = dead_letters(engine, BAD)
    assert (letter.reason, letter.seq) == ("IntegrityError", 5)
    assert json.loads(letter.payload) == level
    [refusal] = [a for a in answers(replies, BAD) if a["seq"] == 5]
    assert (refusal["code"], refusal["reason"]) == ("rejected", "hub_error")
    assert "hub_error" in documented_reasons()
    assert processor.fallbacks == 1
    # The rejection is final: a replay gets the same answer and is not applied again.
    [again] = processor.handle_batch([message(BAD, "event", json.dumps(level))])
    assert json.loads(again.payload) == refusal
    assert len(dead_letters(engine, BAD)) == 1
    # That device's messages are now applied one by one: its next poison costs no redo of the whole batch.
    level = {**level, "seq": 6}
    replies = processor.handle_batch([message(BAD, "event", json.dumps(level)), press(BAD, 3), press(GOOD, 3)])
    assert_ordered(engine, replies, GOOD, 3)
    assert_ordered(engine, replies, BAD, 3)
    assert [(d.reason, d.seq) for d in dead_letters(engine, BAD)] == [("IntegrityError", 5), ("IntegrityError", 6)]
    assert processor.fallbacks == 1


def test_a_batch_that_fails_at_commit_is_redone_message_by_message(engine: Engine) -> None:
    # The event keys are written at the end of a batch; a key refused there fails the batch's commit, and
    # the key of its rejection is refused too: the dead letter alone must still be written.
    _poison_trigger(engine, "processedevent", "NEW.seq = 666")
    processor = Processor(engine)
    replies = processor.handle_batch([press(GOOD, 1), press(BAD, 666), press(BAD, 1), press(GOOD, 2)])
    for seq in (1, 2):
        assert_ordered(engine, replies, GOOD, seq)
    assert_ordered(engine, replies, BAD, 1)
    assert [a["seq"] for a in answers(replies, BAD)] == [1]  # no key stored, so no answer: the device replays
    [letter] = dead_letters(engine, BAD)
    assert (letter.reason, letter.seq) == ("IntegrityError", 666)
    assert stored_key(engine, BAD, 666) is None
    # The failed first attempt's orders were thrown away with it: one order per answered press.
    with Session(engine) as session:
        count = session.execute(text('SELECT count(*) FROM "order"')).scalar_one()
    assert count == 3
    assert processor.fallbacks == 1


def test_a_database_that_refuses_every_write_is_not_blamed_on_a_message(engine: Engine) -> None:
    # A read-only database stands in for one that is away: a valid press must get no answer at all (the device
    # keeps it and replays), never a `rejected` that would make it drop the event.
    read_only = make_engine(engine.url.render_as_string(hide_password=False))

    @event.listens_for(read_only, "connect")
    def _refuse_writes(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if read_only.dialect.name == "sqlite":
            cursor.execute("PRAGMA query_only = ON")
        else:
            cursor.execute("SET default_transaction_read_only = on")
            dbapi_connection.commit()  # a SET inside a transaction would be rolled back with it
        cursor.close()

    processor = Processor(read_only)
    try:
        replies = processor.handle_batch([press(GOOD, 1), press(BAD, 1)])
    except Exception:
        replies = []
    finally:
        read_only.dispose()
    assert replies == []
    assert stored_key(engine, GOOD, 1) is None and dead_letters(engine, GOOD) == []
    assert processor.suspects.current() == set(), "no device is blamed for the database's refusal"
