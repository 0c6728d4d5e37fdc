"""A batch parses each event payload and topic once: what it reuses decodes exactly as a fresh parse would."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from hub.domain import events
from hub.domain.events import ProtocolError, decode_event, parse_topic
from hub.ingest.messages import Message, event_keys

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
payloads = st.one_of(
    st.binary(max_size=64),
    st.fixed_dictionaries(
        {"seq": st.integers(-3, 2**33) | json_values, "type": st.sampled_from(["press", "scan", "level", "x"])},
        optional={"click": st.sampled_from(["single", "long", "triple"]) | json_values, "code": json_values,
                  "slot": json_values, "value": json_values, "unit": json_values, "qty": json_values,
                  "ts": json_values},
    ).map(lambda d: json.dumps(d).encode()),
)


def _decoded(payload: bytes, parsed: dict[str, object] | None) -> object:
    try:
        return decode_event(payload, NOW, parsed)  # type: ignore[arg-type]
    except ProtocolError as exc:
        return ("error", exc.reason, exc.detail, exc.seq)


@given(payloads)
def test_a_payload_parsed_for_its_key_decodes_as_a_fresh_parse(payload: bytes) -> None:
    message = Message("restock/v1/btn-1/event", payload, NOW)
    parsed: dict[int, dict[str, object]] = {}
    event_keys([message], parsed)
    assert _decoded(payload, parsed.get(id(message))) == _decoded(payload, None)  # type: ignore[arg-type]


@given(st.text(max_size=80))
def test_a_remembered_topic_parses_as_it_did_the_first_time(topic: str) -> None:
    def outcome() -> object:
        try:
            return parse_topic(topic)
        except ProtocolError as exc:
            return ("error", exc.reason, exc.detail)

    assert outcome() == outcome()
    assert outcome() == outcome_of_fresh(topic)


def outcome_of_fresh(topic: str) -> object:
    try:
        return events._parse_topic(topic)
    except ProtocolError as exc:
        return ("error", exc.reason, exc.detail)


def test_hostile_topics_cannot_grow_the_memory_past_its_bound() -> None:
    for n in range(events.TOPIC_MEMO + 10):
        parse_topic(f"restock/v1/dev-{n:06d}/event")
    assert len(events._TOPICS) <= events.TOPIC_MEMO
