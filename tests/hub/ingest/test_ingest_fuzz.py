"""Property: whatever one device sends on its topics, the hub applies it or dead-letters it with a documented
reason, and a valid press of another household in the same batch still gets its order and its feedback."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from hub.domain.events import MAX_SEQ, MAX_TS, cmd_topic
from hub.ingest.processor import Processor
from hub.store.models import Device
from tests.hub.ingest.world import (
    BAD,
    GOOD,
    NOW,
    assert_ordered,
    build,
    dead_letters,
    documented_reasons,
    message,
    press,
    stored_key,
)

EXAMPLES = 500
# Any text, including lone surrogates, NULs and newlines (the default alphabet leaves surrogates out).
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=48)
# Integers near every width a database column or a C conversion has a boundary at, and any others.
EDGES = [0, 1, -1, 2**31 - 1, 2**31, -(2**31), 2**53, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 10**18,
         -(10**12), 253402300799, 253402300800, MAX_SEQ, MAX_SEQ + 1]
ANY_INT = st.one_of(st.sampled_from(EDGES), st.integers(), st.integers().map(lambda n: n * 10**380))  # and huge
SCALAR = st.one_of(st.none(), st.booleans(), ANY_INT, st.floats(), ANY_TEXT)
JSON_VALUE = st.recursive(
    SCALAR, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4), max_leaves=12
)
# Well-formed fields of each kind (replays happen: seqs are often small), to reach every handler.
SEQ = st.one_of(st.integers(1, 40), st.integers(1, MAX_SEQ))
TS = st.one_of(st.integers(0, MAX_TS), st.integers(int(NOW.timestamp()) - 8 * 86400, int(NOW.timestamp()) + 60))
FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "press": {"click": st.sampled_from(["single", "double", "long"])},
    "scan": {
        "code": st.one_of(st.sampled_from(["4012345678901", "0036000291452", "12345670", "04210000526"]),
                          st.from_regex(r"\A\d{6,15}\Z")),
        "qty": st.integers(1, 99),
    },
    "level": {
        "slot": st.from_regex(r"\A[a-z0-9_-]{1,32}\Z"),
        "value": st.one_of(st.floats(0, 1), st.floats(min_value=0, allow_nan=False, allow_infinity=False),
                           st.integers(0, 2**64)),
        "unit": st.sampled_from(["g", "ml", "count", "fraction"]),
    },
    "status": {
        "kind": st.sampled_from(["dash_button", "barcode_wand", "appliance_sensor"]),
        "fw": st.text(max_size=40),
        "battery_mv": st.integers(0, 5000),
        "rssi": st.integers(-120, 0),
        "uptime": st.integers(0, 2**31 - 1),
        "outbox": st.integers(0, 32),
        "dropped": st.integers(0, 100),
    },
}
HOSTILE = st.one_of(ANY_INT, ANY_TEXT, st.floats(), JSON_VALUE)


@st.composite
def documents(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    """A well-formed event or status, or one with a single field (or an extra one) replaced by anything."""
    fields = FIELDS[kind]
    if kind == "status":
        doc: dict[str, Any] = {"online": draw(st.booleans())}
    else:
        doc = {"seq": draw(SEQ), "type": kind}
        if draw(st.booleans()):
            doc["ts"] = draw(TS)
    for key in draw(st.sets(st.sampled_from(sorted(fields)))) if kind in ("press", "status") else fields:
        doc[key] = draw(fields[key])
    if draw(st.booleans()):
        key = draw(st.sampled_from([*doc, "ts", "extra"]))
        doc[key] = draw(HOSTILE)
    return doc


def _encode(value: Any, ascii_only: bool) -> bytes:
    # Raw surrogates as bytes (invalid UTF-8) or as JSON escapes (valid UTF-8, unstorable once decoded).
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def _encoded(documents: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    return st.builds(_encode, documents, st.booleans()).filter(lambda payload: len(payload) <= 2048)


CHANNEL = st.sampled_from(["event", "status"])
# (channel, payload): events and statuses on their own topics, anything at all on either.
MESSAGE = st.one_of(
    st.tuples(st.just("event"), _encoded(st.one_of(documents("press"), documents("scan"), documents("level")))),
    st.tuples(st.just("status"), _encoded(documents("status"))),
    st.tuples(CHANNEL, _encoded(JSON_VALUE)),
    st.tuples(CHANNEL, st.binary(max_size=2048)),
)


def test_any_payload_on_a_device_topic_is_applied_or_dead_lettered(database_url: str) -> None:
    engine = build(database_url)
    processor = Processor(engine)
    reasons = documented_reasons()
    good_seqs = itertools.count(1)
    instants = itertools.count(1)

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(fuzzed=MESSAGE, first=st.booleans())
    def check(fuzzed: tuple[str, bytes], first: bool) -> None:
        channel, payload = fuzzed
        received = NOW + timedelta(seconds=next(instants))
        seq = next(good_seqs)
        fuzz, valid = message(BAD, channel, payload, received), press(GOOD, seq, received)
        before = len(dead_letters(engine, BAD))
        replies = processor.handle_batch([fuzz, valid] if first else [valid, fuzz])

        assert_ordered(engine, replies, GOOD, seq)
        new = dead_letters(engine, BAD)[before:]
        assert all(d.reason in reasons and d.detail for d in new), [(d.reason, d.detail) for d in new]
        assert processor.fallbacks == 0, "every bad value must be caught by validation, not by the fallback"
        answered = [json.loads(r.payload) for r in replies if r.topic == cmd_topic(BAD)]
        if channel == "event":
            # Applied (or a replay of an applied one): its key is stored and it was answered from it.
            for answer in answered:
                key = stored_key(engine, BAD, answer["seq"])
                assert key is not None and json.loads(key.feedback) == answer
            assert new or answered, "an event must be answered or dead-lettered"
        else:
            assert not answered
            with Session(engine) as session:
                device = session.get(Device, BAD)
                assert device is not None
                assert new or device.last_seen == received, "a status must be recorded or dead-lettered"

    try:
        check()
    finally:
        engine.dispose()
